// A control plane with a team on it, for the tests of roles, scopes and the audit log: an admin
// (the data dir's token), unscoped and staging-scoped operators and viewers, and stand-in agents
// (registered over the API, never polling: their commands stay queued until cancelled) in staging
// and in prod. Everything of prod is collected in `outside`: what a staging-scoped caller must never see.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OperatorRole } from '../src/protocol/roles.ts';
import type { Labels, OperatorTokenResponse, RunResponse } from '../src/protocol/wire.ts';
import { startServer, type TestServer } from './helpers.ts';
import { send, type Reply } from './raw-http.ts';

export interface Caller {
  name: string;
  role: OperatorRole;
  scope: Labels;
  token: string;
}

export interface TeamFleet {
  server: TestServer;
  admin: Caller;
  /** Every caller the matrix walks: the admin, an operator and a viewer each unscoped and scoped to env=staging. */
  callers: Caller[];
  /** Names and ids of everything in prod: a staging-scoped answer holds none of them. */
  outside: Set<string>;
  call: (who: Caller, method: string, path: string, json?: unknown) => Promise<Reply>;
  /** A stand-in agent (poll mode, never polls); prod ones go into `outside`. */
  agent: (name: string, labels: Labels) => Promise<string>;
  /** A run as the admin on these agents, its commands queued. */
  run: (agents: string[], command?: string) => Promise<RunResponse>;
  /** A run as the admin, its commands cancelled at once (final: their streams end). */
  finishedRun: (agents: string[]) => Promise<RunResponse>;
  operator: (name: string, role: OperatorRole, scope?: Labels) => Promise<Caller>;
}

export const STAGING = { env: 'staging' };

/** A stand-in agent binary in `dir` that says it is version `version` (the upgrade route needs a release). */
export function fakeRelease(dir: string, version: string): void {
  mkdirSync(dir, { recursive: true });
  const script = `#!/bin/sh\necho ${version}\n`;
  writeFileSync(join(dir, 'myx-agent.next'), script, { mode: 0o755 });
  renameSync(join(dir, 'myx-agent.next'), join(dir, 'myx-agent'));
  writeFileSync(join(dir, 'SHA256SUMS'), `${createHash('sha256').update(script).digest('hex')}  myx-agent\n`);
}

export async function startTeamFleet(dir: string): Promise<TeamFleet> {
  const release = join(dir, 'release');
  fakeRelease(release, '9.9.9');
  const server = await startServer(dir, ['--release-dir', release]);
  const admin: Caller = { name: 'admin', role: 'admin', scope: {}, token: readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim() };
  const outside = new Set<string>();
  const call = (who: Caller, method: string, path: string, json?: unknown) =>
    send(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${who.token}` }, ...(json === undefined ? {} : { json }) });
  const ok = (r: Reply, what: string) => {
    assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.text}`);
    return r.body;
  };
  const agent = async (name: string, labels: Labels) => {
    const token = ok(await call(admin, 'POST', '/api/enrollment-tokens', { ttl_seconds: 600 }), 'token').token as string;
    const reg = ok(await send(`${server.url}/api/agents/register`, {
      json: { enrollment_token: token, name, hostname: `${name}.example`, os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null,
        advertise_address: null, labels },
    }), `register ${name}`) as { agent_id: string };
    if (name.startsWith('prod')) outside.add(name).add(reg.agent_id);
    return reg.agent_id;
  };
  const run = async (agents: string[], command = 'true') => {
    const r = ok(await call(admin, 'POST', '/api/runs', { targets: { agents }, command }), 'run') as RunResponse;
    for (const c of r.commands) if (c.agent_name.startsWith('prod')) outside.add(c.id);
    if (agents.every((a) => a.startsWith('prod'))) outside.add(r.run.id);
    return r;
  };
  const finishedRun = async (agents: string[]) => {
    const r = await run(agents);
    for (const c of r.commands) ok(await call(admin, 'POST', `/api/commands/${c.id}/cancel`), 'cancel');
    return r;
  };
  const operator = async (name: string, role: OperatorRole, scope: Labels = {}) => {
    const r = ok(await call(admin, 'POST', '/api/operators', { name, role, ...(Object.keys(scope).length ? { scope } : {}) }), `add ${name}`) as OperatorTokenResponse;
    return { name, role, scope, token: r.token };
  };
  const callers = [
    admin,
    await operator('op-all', 'operator'), await operator('op-stage', 'operator', STAGING),
    await operator('view-all', 'viewer'), await operator('view-stage', 'viewer', STAGING),
  ];
  return { server, admin, callers, outside, call, agent, run, finishedRun, operator };
}

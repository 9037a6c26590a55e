// Roles and scopes on a real control plane: every operator route the control plane registers,
// called by every role, unscoped and scoped to env=staging. A route answers only the roles it
// declares (403 ROLE_FORBIDDEN, naming the role needed, for the others); a scoped caller's answers
// hold nothing of prod (no agent, command or run of it, by name or id), and what it names outside
// its scope is "not found" (or, for a label selector that contradicts its scope, TARGET_OUT_OF_SCOPE).
// The list of routes is checked against the sources: a new route fails here until it has its case.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { roleAllows, type OperatorRole } from '../src/protocol/roles.ts';
import type { AgentView, CommandRecord, RunRecord, RunResponse } from '../src/protocol/wire.ts';
import { ROOT, tempDir } from './helpers.ts';
import { closePool } from './raw-http.ts';
import { STAGING, startTeamFleet, type Caller, type TeamFleet } from './team-fleet.ts';

interface Req {
  path: string;
  json?: unknown;
}

interface RouteCase {
  method: string;
  /** As registered. */
  route: string;
  /** The least role that may call it. */
  role: OperatorRole;
  /** A request for one call, made fresh (what a change acts on is made first, by the admin). */
  request: (who: Caller) => Promise<Req> | Req;
  /** Requests naming something outside the staging scope, and the error a staging-scoped caller gets for each. */
  outside?: { request: () => Promise<Req> | Req; code: string }[];
}

/** Routes every caller reaches that are not operator routes (public, agent). */
const NOT_OPERATOR = [
  'GET /health', 'POST /api/agents/register', 'GET /downloads/myx-agent', 'GET /downloads/SHA256SUMS', 'GET /install.sh', 'POST /api/session', 'GET /',
  'GET /assets/:file', 'POST /api/agents/heartbeat', 'GET /api/agents/poll', 'POST /api/agents/commands/:id/progress', 'POST /api/agents/commands/:id/result',
];

describe('roles x scopes x every operator route', () => {
  const dir = tempDir();
  let f: TeamFleet;
  let stageCmd: CommandRecord;
  let prodCmd: CommandRecord;
  let mixed: RunResponse;
  let prodRun: RunResponse;
  let n = 0;
  const fresh = (prefix: string) => `${prefix}-${++n}`;
  let cases: RouteCase[] = [];

  before(async () => {
    f = await startTeamFleet(dir);
    await f.agent('stage-web', STAGING);
    await f.agent('stage-db', {});
    await f.call(f.admin, 'POST', '/api/agents/stage-db/labels', { set: STAGING }); // in staging by an operator label
    await f.agent('prod-db', { env: 'prod' });
    await f.agent('stage-old', STAGING);
    await f.agent('prod-old', { env: 'prod' });
    await f.finishedRun(['stage-old', 'prod-old']);
    for (const gone of ['stage-old', 'prod-old']) assert.equal((await f.call(f.admin, 'DELETE', `/api/agents/${gone}`)).status, 200);
    mixed = await f.finishedRun(['stage-web', 'prod-db', 'stage-db']);
    prodRun = await f.finishedRun(['prod-db']);
    stageCmd = mixed.commands.find((c) => c.agent_name === 'stage-web')!;
    prodCmd = prodRun.commands[0]!;
    const prodQueued = async () => ({ path: `/api/commands/${(await f.run(['prod-db'])).commands[0]!.id}/cancel` });
    const runBody = (targets: unknown) => ({ targets, command: 'echo', args: ['matrix'] });
    const webhookBody = () => ({ url: `http://127.0.0.1:9/${fresh('matrix')}`, events: ['command.finished'] });
    const webhook = async () => (await f.call(f.admin, 'POST', '/api/webhooks', webhookBody())).body.webhook.id as string;
    const heard = await webhook();
    cases = [
      { method: 'GET', route: '/api/agents', role: 'viewer', request: () => ({ path: '/api/agents' }) },
      {
        method: 'DELETE', route: '/api/agents/:id', role: 'admin',
        request: async () => ({ path: `/api/agents/${await f.agent(fresh('stage-tmp'), STAGING)}` }),
      },
      { method: 'POST', route: '/api/agents/:id/labels', role: 'admin', request: () => ({ path: '/api/agents/stage-db/labels', json: { set: { tier: fresh('t') } } }) },
      { method: 'POST', route: '/api/agents/upgrade', role: 'admin', request: () => ({ path: '/api/agents/upgrade', json: { targets: { agents: ['stage-web'] } } }) },
      { method: 'POST', route: '/api/enrollment-tokens', role: 'admin', request: () => ({ path: '/api/enrollment-tokens', json: { ttl_seconds: 60 } }) },
      { method: 'GET', route: '/api/enrollment-tokens', role: 'admin', request: () => ({ path: '/api/enrollment-tokens' }) },
      {
        method: 'DELETE', route: '/api/enrollment-tokens/:id', role: 'admin',
        request: async () => ({ path: `/api/enrollment-tokens/${(await f.call(f.admin, 'POST', '/api/enrollment-tokens', {})).body.id}` }),
      },
      {
        method: 'POST', route: '/api/runs', role: 'operator', request: () => ({ path: '/api/runs', json: runBody({ all: true }) }),
        outside: [
          { request: () => ({ path: '/api/runs', json: runBody({ agents: ['prod-db'] }) }), code: 'AGENT_NOT_FOUND' },
          { request: () => ({ path: '/api/runs', json: runBody({ agents: ['stage-web', 'prod-db'] }) }), code: 'AGENT_NOT_FOUND' },
          { request: () => ({ path: '/api/runs', json: runBody({ labels: { env: 'prod' } }) }), code: 'TARGET_OUT_OF_SCOPE' },
        ],
      },
      {
        method: 'POST', route: '/api/runs/preview', role: 'viewer', request: () => ({ path: '/api/runs/preview', json: { targets: { all: true } } }),
        outside: [
          { request: () => ({ path: '/api/runs/preview', json: { targets: { agents: ['prod-db'] } } }), code: 'AGENT_NOT_FOUND' },
          { request: () => ({ path: '/api/runs/preview', json: { targets: { labels: { env: 'prod', role: 'db' } } } }), code: 'TARGET_OUT_OF_SCOPE' },
        ],
      },
      { method: 'GET', route: '/api/runs', role: 'viewer', request: () => ({ path: '/api/runs?limit=1000' }) },
      {
        method: 'GET', route: '/api/runs/:id', role: 'viewer', request: () => ({ path: `/api/runs/${mixed.run.id}` }),
        outside: [{ request: () => ({ path: `/api/runs/${prodRun.run.id}` }), code: 'RUN_NOT_FOUND' }],
      },
      {
        method: 'GET', route: '/api/runs/:id/stream', role: 'viewer', request: () => ({ path: `/api/runs/${mixed.run.id}/stream?output=none` }),
        outside: [{ request: () => ({ path: `/api/runs/${prodRun.run.id}/stream` }), code: 'RUN_NOT_FOUND' }],
      },
      { method: 'GET', route: '/api/session', role: 'viewer', request: () => ({ path: '/api/session' }) },
      { method: 'DELETE', route: '/api/session', role: 'viewer', request: () => ({ path: '/api/session' }) },
      {
        method: 'GET', route: '/api/commands/:id/output', role: 'viewer', request: () => ({ path: `/api/commands/${stageCmd.id}/output` }),
        outside: [{ request: () => ({ path: `/api/commands/${prodCmd.id}/output` }), code: 'COMMAND_NOT_FOUND' }],
      },
      {
        method: 'GET', route: '/api/commands/:id/output/raw', role: 'viewer', request: () => ({ path: `/api/commands/${stageCmd.id}/output/raw` }),
        outside: [{ request: () => ({ path: `/api/commands/${prodCmd.id}/output/raw` }), code: 'COMMAND_NOT_FOUND' }],
      },
      { method: 'GET', route: '/api/replicas', role: 'admin', request: () => ({ path: '/api/replicas' }) },
      {
        method: 'GET', route: '/api/commands', role: 'viewer', request: () => ({ path: '/api/commands?limit=1000' }),
        outside: [{ request: () => ({ path: '/api/commands?agent=prod-db' }), code: 'AGENT_NOT_FOUND' }, { request: () => ({ path: '/api/commands?agent=prod-old' }), code: 'AGENT_NOT_FOUND' }],
      },
      {
        method: 'GET', route: '/api/commands/:id', role: 'viewer', request: () => ({ path: `/api/commands/${stageCmd.id}` }),
        outside: [{ request: () => ({ path: `/api/commands/${prodCmd.id}` }), code: 'COMMAND_NOT_FOUND' }],
      },
      {
        method: 'POST', route: '/api/commands/:id/cancel', role: 'operator',
        request: async () => ({ path: `/api/commands/${(await f.run(['stage-web'])).commands[0]!.id}/cancel` }),
        outside: [{ request: prodQueued, code: 'COMMAND_NOT_FOUND' }],
      },
      {
        method: 'POST', route: '/api/commands/wait', role: 'viewer', request: () => ({ path: '/api/commands/wait', json: { ids: [stageCmd.id], timeout: 0 } }),
        outside: [{ request: () => ({ path: '/api/commands/wait', json: { ids: [stageCmd.id, prodCmd.id], timeout: 0 } }), code: 'COMMAND_NOT_FOUND' }],
      },
      {
        method: 'GET', route: '/api/commands/stream', role: 'viewer', request: () => ({ path: `/api/commands/stream?ids=${stageCmd.id}` }),
        outside: [{ request: () => ({ path: `/api/commands/stream?ids=${prodCmd.id}` }), code: 'COMMAND_NOT_FOUND' }],
      },
      { method: 'GET', route: '/api/operators', role: 'admin', request: () => ({ path: '/api/operators' }) },
      { method: 'POST', route: '/api/operators', role: 'admin', request: () => ({ path: '/api/operators', json: { name: fresh('someone'), role: 'viewer' } }) },
      {
        method: 'DELETE', route: '/api/operators/:name', role: 'admin',
        request: async () => ({ path: `/api/operators/${(await f.operator(fresh('leaving'), 'viewer')).name}` }),
      },
      {
        method: 'POST', route: '/api/operators/:name/rotate', role: 'admin',
        request: async () => ({ path: `/api/operators/${(await f.operator(fresh('rotating'), 'viewer')).name}/rotate` }),
      },
      { method: 'GET', route: '/api/audit', role: 'admin', request: () => ({ path: '/api/audit' }) },
      { method: 'GET', route: '/api/audit/verify', role: 'admin', request: () => ({ path: '/api/audit/verify' }) },
      { method: 'POST', route: '/api/webhooks', role: 'admin', request: () => ({ path: '/api/webhooks', json: webhookBody() }) },
      { method: 'GET', route: '/api/webhooks', role: 'admin', request: () => ({ path: '/api/webhooks' }) },
      { method: 'DELETE', route: '/api/webhooks/:id', role: 'admin', request: async () => ({ path: `/api/webhooks/${await webhook()}` }) },
      { method: 'GET', route: '/api/webhooks/:id/deliveries', role: 'admin', request: () => ({ path: `/api/webhooks/${heard}/deliveries` }) },
      { method: 'GET', route: '/metrics', role: 'viewer', request: () => ({ path: '/metrics' }) },
    ];
  });
  after(async () => {
    closePool();
    await f?.server.proc.kill();
  });

  test('the cases cover every operator route the control plane registers', () => {
    const registered = new Set<string>();
    const dirOf = join(ROOT, 'src', 'server');
    for (const file of readdirSync(dirOf).filter((x) => x.endsWith('.ts'))) {
      for (const m of readFileSync(join(dirOf, file), 'utf8').matchAll(/app\.(get|post|delete|put|patch)\b[^(]*\(\s*'(\/[^']*)'/g)) registered.add(`${m[1]!.toUpperCase()} ${m[2]}`);
    }
    const listed = new Set(cases.map((c) => `${c.method} ${c.route}`));
    assert.deepEqual([...registered].filter((r) => !listed.has(r) && !NOT_OPERATOR.includes(r)).sort(), [], 'operator routes without a case here');
    assert.deepEqual([...listed].filter((r) => !registered.has(r)).sort(), [], 'cases for routes nobody registers');
  });

  test('each role reaches exactly the routes its role allows; the others answer 403 ROLE_FORBIDDEN naming the role needed', async (t) => {
    let allowed = 0;
    let refused = 0;
    for (const c of cases) {
      for (const who of f.callers) {
        const req = await c.request(who);
        const r = await f.call(who, c.method, req.path, req.json);
        const what = `${who.name} (${who.role}) ${c.method} ${req.path}`;
        if (roleAllows(who.role, c.role)) {
          assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
          allowed++;
        } else {
          assert.deepEqual([r.status, r.body?.error?.code], [403, 'ROLE_FORBIDDEN'], `${what}: ${r.text.slice(0, 300)}`);
          assert.match(r.body.error.message, new RegExp(`needs the ${c.role} role.*${who.name} is an? ${who.role}`), what);
          refused++;
        }
      }
    }
    t.diagnostic(`${cases.length} routes x ${f.callers.length} callers: ${allowed} allowed, ${refused} refused`);
  });

  test('a staging-scoped caller\'s answers hold nothing of prod, on every route it may call; unscoped ones see prod', async (t) => {
    const scoped = f.callers.filter((c) => Object.keys(c.scope).length > 0);
    let checked = 0;
    for (const c of cases) {
      for (const who of scoped.filter((s) => roleAllows(s.role, c.role))) {
        const req = await c.request(who);
        const r = await f.call(who, c.method, req.path, req.json);
        assert.ok(r.status < 300, `${who.name} ${c.method} ${req.path}: ${r.status} ${r.text.slice(0, 200)}`);
        for (const m of f.outside) assert.ok(!r.text.includes(m), `${who.name} ${c.method} ${req.path} shows ${m}: ${r.text.slice(0, 400)}`);
        checked++;
      }
    }
    // the unscoped see prod where it is (so the check above would have found it)
    const all = f.callers.find((c) => c.name === 'view-all')!;
    for (const path of ['/api/agents', '/api/runs?limit=1000', '/api/commands?limit=1000', `/api/runs/${mixed.run.id}`]) {
      assert.ok((await f.call(all, 'GET', path)).text.includes('prod-db'), `${path}: an unscoped viewer sees prod`);
    }
    t.diagnostic(`${checked} answers to scoped callers checked against ${f.outside.size} names and ids of prod`);
  });

  test('what a scoped caller names outside its scope is not found (or out of scope), saying nothing of what is there', async (t) => {
    const scoped = f.callers.filter((c) => Object.keys(c.scope).length > 0);
    let checked = 0;
    for (const c of cases.filter((x) => x.outside)) {
      for (const who of scoped.filter((s) => roleAllows(s.role, c.role))) {
        for (const o of c.outside!) {
          const req = await o.request();
          const r = await f.call(who, c.method, req.path, req.json);
          const what = `${who.name} ${c.method} ${req.path} ${JSON.stringify(req.json ?? '')}`;
          assert.equal(r.body?.error?.code, o.code, `${what}: ${r.text}`);
          assert.match(r.body.error.message, /your scope \(env=staging\)/, what);
          const asked = `${req.path} ${JSON.stringify(req.json ?? '')}`;
          for (const m of f.outside) if (!asked.includes(m)) assert.ok(!r.text.includes(m), `${what} names ${m}: ${r.text}`);
          checked++;
        }
        // the same requests from an unscoped caller of the same role go through
        const peer = f.callers.find((x) => x.role === who.role && Object.keys(x.scope).length === 0)!;
        const req = await c.outside![0]!.request();
        const r = await f.call(peer, c.method, req.path, req.json);
        assert.ok(r.status < 300, `${peer.name} ${c.method} ${req.path}: ${r.status} ${r.text.slice(0, 200)}`);
      }
    }
    t.diagnostic(`${checked} requests outside the scope refused`);
  });

  test('a run spanning scopes, as a staging viewer sees it: its staging commands only, counted over them, its target naming only staging agents', async () => {
    const viewer = f.callers.find((c) => c.name === 'view-stage')!;
    const run = (await f.call(viewer, 'GET', `/api/runs/${mixed.run.id}`)).body as RunResponse;
    assert.deepEqual(run.commands.map((c) => c.agent_name), ['stage-db', 'stage-web']);
    assert.deepEqual([run.run.total, run.run.counts, run.run.target], [2, { cancelled: 2 }, 'agents stage-web,stage-db']);
    assert.equal(run.run.requested_by, 'admin');
    const listed = ((await f.call(viewer, 'GET', '/api/runs?limit=1000')).body as { runs: RunRecord[] }).runs.find((r) => r.id === mixed.run.id)!;
    assert.equal(listed.total, 2);
    const removed = ((await f.call(viewer, 'GET', '/api/agents?removed=true')).body as { agents: AgentView[] }).agents.map((a) => a.name);
    assert.ok(removed.includes('stage-old') && removed.every((name) => name.startsWith('stage')), removed.join());
  });

  test('relabelling an agent moves it (and its commands) into and out of a scope at once; only admins set labels', async () => {
    const viewer = f.callers.find((c) => c.name === 'view-stage')!;
    const op = f.callers.find((c) => c.name === 'op-stage')!;
    const names = async () => ((await f.call(viewer, 'GET', '/api/agents')).body as { agents: AgentView[] }).agents.map((a) => a.name);
    assert.ok(!(await names()).includes('prod-db'));
    assert.equal((await f.call(op, 'POST', '/api/agents/prod-db/labels', { set: STAGING })).body.error.code, 'ROLE_FORBIDDEN');
    assert.equal((await f.call(f.admin, 'POST', '/api/agents/prod-db/labels', { set: STAGING })).status, 200);
    assert.ok((await names()).includes('prod-db'), 'in staging now');
    assert.equal((await f.call(viewer, 'GET', `/api/commands/${prodCmd.id}`)).status, 200, 'and its commands with it');
    assert.equal((await f.call(f.admin, 'POST', '/api/agents/prod-db/labels', { remove: ['env'] })).status, 200);
    assert.ok(!(await names()).includes('prod-db'), 'out again: its own label says prod');
    assert.equal((await f.call(viewer, 'GET', `/api/commands/${prodCmd.id}`)).body.error.code, 'COMMAND_NOT_FOUND');
  });

  test('a scoped operator\'s --all reaches every agent of its scope and no other; the run records who asked', async () => {
    const op = f.callers.find((c) => c.name === 'op-stage')!;
    const r = (await f.call(op, 'POST', '/api/runs', { targets: { all: true }, command: 'uptime' })).body as RunResponse;
    const visible = ((await f.call(op, 'GET', '/api/agents')).body as { agents: AgentView[] }).agents.map((a) => a.name).sort();
    assert.deepEqual(r.commands.map((c) => c.agent_name).sort(), visible);
    assert.ok(visible.every((n) => n.startsWith('stage')), visible.join());
    assert.deepEqual([r.run.requested_by, ...r.commands.map((c) => c.requested_by)], Array(r.commands.length + 1).fill('op-stage'));
    const label = await f.call(op, 'POST', '/api/runs', { targets: { labels: { env: 'staging' } }, command: 'uptime' });
    assert.equal(label.status, 201, 'a label selector within the scope is fine');
  });
});

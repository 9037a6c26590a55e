// Following a run on many agents: `POST /api/runs?commands=brief` answers with each command's id,
// agent and status only, and `GET /api/runs/:id/stream` brings every command's final record (no
// list of ids in a URL); `myx run` follows a run of more targets than a URL could name that way.

import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { ControlClient } from '../src/agent/control-client.ts';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { parseEnrollmentToken } from '../src/protocol/enrollment-token.ts';
import { MYX_VERSION } from '../src/protocol/version.ts';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { enrollAgent, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';

/** Enrolled through the API, never started: its commands wait until their delivery TTL passes. */
async function enrollIdle(client: OperatorClient, server: TestServer, name: string): Promise<void> {
  const { token } = await client.createEnrollmentToken(600);
  await ControlClient.register([server.url], parseEnrollmentToken(token)!.serverFingerprint, {
    enrollment_token: token, name, hostname: hostname(), os: 'linux', version: MYX_VERSION, mode: 'poll', web_port: null,
    fingerprint: null, advertise_address: null, labels: { idle: 'yes' },
  });
}

describe('runs on many agents', () => {
  let dir: string;
  let server: TestServer;
  let agent: TestAgent;
  let client: OperatorClient;

  before(async () => {
    dir = tempDir();
    server = await startServer(dir);
    agent = await startAgent(await enrollAgent(server, dir, 'live'));
    client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
  });
  after(async () => {
    await client?.close();
    await agent?.proc.kill();
    await server?.proc.kill();
  });

  test('a brief answer lists each command as id, agent and status; the default answer has whole records', async () => {
    const brief = await client.createRunBrief({ targets: { agents: ['live'] }, command: 'true' });
    assert.deepEqual(Object.keys(brief.commands[0]!).sort(), ['agent_id', 'agent_name', 'id', 'status']);
    assert.equal(brief.commands[0]!.agent_name, 'live');
    assert.equal(brief.run.total, 1);
    const full = await client.createRun({ targets: { agents: ['live'] }, command: 'true' });
    assert.equal(full.commands[0]!.command, 'true');
    assert.ok('stdout' in full.commands[0]!);
  });

  test('a run\'s stream sends the final record of each command, those that ended before it opened too, then ends', async () => {
    const first = await client.createRunBrief({ targets: { agents: ['live'] }, command: 'echo', args: ['early'] });
    await client.wait(first.commands.map((c) => c.id), 20);
    const seen: CommandRecord[] = [];
    let ended = false;
    for await (const ev of client.runEvents(first.run.id)) {
      if (ev.event === 'final') seen.push(JSON.parse(ev.data) as CommandRecord);
      if (ev.event === 'end') ended = true;
    }
    assert.deepEqual(seen.map((c) => [c.id, c.status, c.stdout]), [[first.commands[0]!.id, 'succeeded', 'early\n']]);
    assert.ok(ended);
    await assert.rejects(async () => {
      for await (const _ of client.runEvents('run_nosuchrun')) { /* nothing */ }
    }, (err: Error & { code?: string }) => err.code === 'RUN_NOT_FOUND');
  });

  test('myx run follows a run of more targets than a URL could name, to every final record', async () => {
    const n = 520; // 520 ids of 32 characters: past the 16 KiB a request line and its headers may take
    for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => enrollIdle(client, server, `idle-${String(i + k).padStart(3, '0')}`)));
    // nobody fetches them: each ends `expired` once its delivery TTL of a second has passed
    const r = await server.myx(['run', '--label', 'idle=yes', '--ttl', '1', '--json', '--', 'true'], 120_000);
    assert.equal(r.code, 1, r.stderr);
    const records = JSON.parse(r.stdout) as CommandRecord[];
    assert.equal(records.length, n);
    assert.ok(records.every((c) => c.status === 'expired'), [...new Set(records.map((c) => c.status))].join());
    assert.deepEqual(records.map((c) => c.agent_name), [...records.map((c) => c.agent_name)].sort());
  });
});

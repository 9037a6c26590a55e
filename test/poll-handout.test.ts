// A long poll whose client gave up must not take commands: they would wait a whole lease for an
// answer nobody reads. Nothing is claimed for a connection that is gone, including one that closed
// while the control plane was paused, and the next poll gets the command at once.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import type { CommandRecord, PollResponse } from '../src/protocol/wire.ts';
import { createToken, eventually, startServer, tempDir, type TestServer } from './helpers.ts';
import { closePool, RawSession, send } from './raw-http.ts';

describe('long polls whose client gave up', () => {
  const dir = tempDir();
  let server: TestServer;
  let client: OperatorClient;
  let token: string;
  const port = () => Number(new URL(server.url).port);
  const poll = async (wait = 0) => {
    const r = await send(`${server.url}/api/agents/poll?wait=${wait}`, { headers: { 'x-agent-token': token }, timeoutMs: (wait + 10) * 1000 });
    assert.equal(r.status, 200, r.text);
    return r.body as PollResponse;
  };
  /** A long poll on its own connection, left waiting; returns the session to abandon it by. */
  const abandonedPoll = async () => {
    const session = new RawSession(port(), { timeoutMs: 60_000 });
    void session.request(`GET /api/agents/poll?wait=25 HTTP/1.1\r\nhost: x\r\nx-agent-token: ${token}\r\n\r\n`);
    // time for the server to take it up: a precondition, not a measurement (were the server slower,
    // the poll would arrive already closed and the test would prove less, not fail)
    await sleep(500);
    return session;
  };
  const command = async () => (await client.createCommands({ targets: { agents: ['gave-up'] }, command: 'true' }) as [CommandRecord])[0];
  const linesAbout = (id: string, what: RegExp) => server.proc.output().split('\n').filter((l) => l.includes(id) && what.test(l)).length;

  before(async () => {
    server = await startServer(dir, ['--lease', '2']);
    client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
    const facts = { name: 'gave-up', hostname: 'h', os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null, labels: {} };
    const reg = await send(`${server.url}/api/agents/register`, { json: { enrollment_token: await createToken(server), ...facts } });
    assert.equal(reg.status, 201, reg.text);
    token = reg.body.agent_token;
  });
  after(async () => {
    closePool();
    await server?.proc.kill();
  });

  test('a command queued after the client closed its long poll goes to the next poll, not to the closed one', async () => {
    const abandoned = await abandonedPoll();
    abandoned.close();
    await sleep(300);
    const c = await command();
    const next = await poll();
    assert.deepEqual(next.commands.map((x) => x.command_id), [c.id]);
    assert.equal(linesAbout(c.id, /lease ran out/), 0);
  });

  test('a long poll abandoned while the control plane was paused takes nothing when it wakes: the command is handed out once more, not twice', async () => {
    const c = await command();
    assert.deepEqual((await poll()).commands.map((x) => x.command_id), [c.id]); // handed out, never started: its lease (2 s) runs out
    const abandoned = await abandonedPoll();
    const pid = server.proc.child.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      abandoned.close(); // the agent gave up while the control plane could not run
      await sleep(3000); // past the lease: on waking, the sweeper queues it again and wakes the abandoned poll
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const got = await eventually(async () => ((await poll()).commands.some((x) => x.command_id === c.id) ? true : undefined), 20_000, 'the next poll to get the command');
    assert.ok(got);
    // once for the first hand-out; a second would mean the abandoned poll took it and it waited out another lease
    assert.equal(linesAbout(c.id, /lease ran out/), 1, server.proc.output().split('\n').filter((l) => l.includes(c.id)).join('\n'));
  });
});

// A poll-mode agent beats between its long polls over one connection: idle, it holds one
// connection to the control plane (a held agent's cost there is mostly its connections), while its
// heartbeats keep the interval and a queued command still reaches it through the held poll.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { connect, type MyxClient } from '../src/sdk/index.ts';
import { enrollAgent, eventually, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';

/** Established TCP connections the process `pid` holds to `port` on the loopback, from /proc. */
function connectionsTo(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed while listed
    }
  }
  const remote = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // f[2] remote address:port, f[3] state (01 established), f[9] inode
      if (f.length > 9 && f[2]!.endsWith(remote) && f[3] === '01' && inodes.has(f[9]!)) n++;
    }
  }
  return n;
}

let server: TestServer;
let agent: TestAgent;
let client: MyxClient;

before(async () => {
  const dir = tempDir();
  server = await startServer(dir, ['--heartbeat-interval', '0.5']);
  agent = await startAgent(await enrollAgent(server, dir, 'poll1', ['--no-web']), []);
  client = await connect({ dataDir: server.dataDir });
});

after(async () => {
  await client.close();
  await agent.proc.kill();
  await server.proc.kill();
});

test('an idle poll-mode agent holds one connection to the control plane, and beats at the interval', async () => {
  const port = Number(new URL(server.url).port);
  const seen = new Set<string>();
  let most = 0;
  // 3 s is six heartbeat intervals: every beat goes between two polls
  for (const until = Date.now() + 3000; Date.now() < until;) {
    most = Math.max(most, connectionsTo(agent.proc.child.pid!, port));
    const [me] = (await client.agents()).filter((a) => a.name === 'poll1');
    seen.add(me!.last_heartbeat_at ?? '');
    await sleep(50);
  }
  assert.equal(most, 1, 'connections from the agent to the control plane');
  // beats every 0.5 s: at least 4 different heartbeat times in 3 s (6 if nothing is slow)
  assert.ok(seen.size >= 4, `last_heartbeat_at took ${seen.size} values in 3 s`);
});

test('a command queued while the poll is held reaches the agent through it', async () => {
  const run = await client.run({ targets: { all: true }, command: 'echo', args: ['held'] });
  const id = run.commands[0]!.id;
  const done = await eventually(async () => {
    const c = await client.command(id);
    return c.status === 'succeeded' ? c : undefined;
  }, 15_000, 'the command to succeed');
  assert.equal(done.stdout, 'held\n');
  assert.equal(done.delivery, 'poll');
});

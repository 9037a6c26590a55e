// Issue 5, command output at the edges: binary bytes, no trailing newline, 100 MB. The result is
// stored capped (head and tail, total bytes, truncated flag), `myx show` and the API return it, the
// live event stream ends, and all of it ends in bounded time, by push and by poll. The control
// plane keeps 2 MiB of each stream here (--output-cap); test/output-complete.test.ts has the 64 MiB.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { enrollAgent, pidRunning, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';

const HUNDRED_MB = 100 * 1024 * 1024;
/** The agent's result keeps 1 MiB of each stream (half head, half tail). */
const KEPT = 1024 * 1024;
/** The control plane keeps 2 MiB of each stream as printed: 1 MiB of head, 1 MiB of tail. */
const CAP = 2 * 1024 * 1024;

interface Streamed {
  stdout: string;
  stderr: string;
  events: string[];
  ms: number;
}

describe('command output that is binary, unterminated or huge', () => {
  const dir = tempDir();
  let server: TestServer;
  const agents: TestAgent[] = [];
  let client: OperatorClient;

  before(async () => {
    server = await startServer(dir, ['--heartbeat-interval', '0.5', '--output-cap', '2MiB']);
    const [w, p] = await Promise.all([enrollAgent(server, dir, 'out-web'), enrollAgent(server, dir, 'out-poll', ['--no-web'])]);
    agents.push(...(await Promise.all([startAgent(w), startAgent(p, [])])));
    client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
  });
  after(async () => {
    await client?.close();
    await Promise.all(agents.map((a) => a.proc.kill()));
    await server?.proc.kill();
  });

  /** Follows a command's event stream to its end (on its own connection); the stream must end by itself. */
  async function follow(id: string): Promise<Streamed> {
    const t0 = Date.now();
    const s: Streamed = { stdout: '', stderr: '', events: [], ms: 0 };
    const own = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
    for await (const ev of own.events([id])) {
      if (ev.event === 'output') {
        const chunk = JSON.parse(ev.data) as { stream: 'stdout' | 'stderr'; data: string };
        s[chunk.stream] += chunk.data;
        if (s.events.at(-1) !== 'output') s.events.push('output');
      } else s.events.push(ev.event);
    }
    await own.close();
    s.ms = Date.now() - t0;
    return s;
  }

  async function start(agent: string, command: string, args: string[]): Promise<{ id: string; streamed: Promise<Streamed>; t0: number }> {
    const t0 = Date.now();
    const [c] = await client.createCommands({ targets: { agents: [agent] }, command, args, timeout: 120 }) as [CommandRecord];
    return { id: c.id, streamed: follow(c.id), t0 };
  }

  /** Waits (long poll, not a loop of reads: a record may be megabytes) until the command has ended. */
  async function finalOf(id: string, ms: number): Promise<CommandRecord> {
    const end = Date.now() + ms;
    for (;;) {
      const r = await client.wait([id], Math.max(1, Math.min(60, Math.ceil((end - Date.now()) / 1000))));
      if (r.done) return r.commands[0]!;
      if (Date.now() >= end) throw new Error(`command ${id} did not end within ${ms} ms (${r.commands[0]!.status})`);
    }
  }

  /** CPU seconds a process has used so far (user + system). */
  function cpuSeconds(pid: number): number {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  for (const agent of ['out-web', 'out-poll']) {
    test(`binary bytes on stdout and stderr (${agent})`, async (t) => {
      const run = await start(agent, 'sh', ['-c', 'head -c 4096 /dev/urandom; head -c 2048 /dev/urandom >&2']);
      const c = await finalOf(run.id, 30_000);
      assert.deepEqual([c.status, c.stdout_bytes, c.stderr_bytes, c.stdout_truncated, c.stderr_truncated], ['succeeded', 4096, 2048, false, false]);
      // invalid UTF-8 is shown as U+FFFD: the text is there, never more than its bytes
      assert.ok(c.stdout.length > 0 && c.stdout.length <= 4096, `stdout of ${c.stdout.length} characters`);
      const s = await run.streamed;
      assert.deepEqual(s.events.slice(-2), ['final', 'end']);
      assert.equal(s.stdout, c.stdout, 'the live output decodes the bytes the way the result does');
      assert.equal(s.stderr, c.stderr);
      const shown = await server.myx(['show', run.id], 30_000);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /--- stdout \(4096 bytes\) ---/);
      assert.match(shown.stdout, /--- stderr \(2048 bytes\) ---/);
      assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(shown.stdout), 'control characters reach the terminal');
      t.diagnostic(`${agent}: 4096 + 2048 random bytes, ended after ${Date.now() - run.t0} ms`);
    });

    test(`output without a trailing newline (${agent})`, async () => {
      const run = await start(agent, 'printf', ['no newline at the end']);
      const c = await finalOf(run.id, 30_000);
      assert.deepEqual([c.status, c.stdout, c.stdout_bytes], ['succeeded', 'no newline at the end', 21]);
      assert.equal((await run.streamed).stdout, 'no newline at the end');
      const r = await server.myx(['run', '--agent', agent, '--', 'printf', 'still no newline'], 30_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /still no newline/);
      const shown = await server.myx(['show', run.id], 30_000);
      assert.match(shown.stdout, /--- stdout \(21 bytes\) ---\nno newline at the end\n/);
    });
  }

  test('100 MB of output, by push (/dev/zero) and by poll (`yes`): capped, stored, streamed, shown, in bounded time', async (t) => {
    const cpuBefore = [server.proc, ...agents.map((a) => a.proc)].map((p) => cpuSeconds(p.child.pid!));
    const zero = await start('out-web', 'head', ['-c', String(HUNDRED_MB), '/dev/zero']);
    const yes = await start('out-poll', 'sh', ['-c', `yes | head -c ${HUNDRED_MB}`]);
    const [cz, cy] = await Promise.all([finalOf(zero.id, 120_000), finalOf(yes.id, 120_000)]);
    const took = { zero: Date.now() - zero.t0, yes: Date.now() - yes.t0 };
    const omitted = `\n[... ${HUNDRED_MB - KEPT} bytes omitted ...]\n`;
    for (const [c, unit] of [[cz, '\u0000'], [cy, 'y\n']] as const) {
      assert.deepEqual([c.status, c.exit_code, c.stdout_bytes, c.stdout_truncated, c.stderr_bytes], ['succeeded', 0, HUNDRED_MB, true, 0]);
      assert.equal(c.stdout.length, KEPT + omitted.length, 'head and tail of 512 KiB each, and the marker');
      assert.equal(c.stdout.slice(0, KEPT / 2), unit.repeat(KEPT / 2 / unit.length), 'the head is the first bytes');
      assert.equal(c.stdout.slice(KEPT / 2, KEPT / 2 + omitted.length), omitted);
      assert.equal(c.stdout.slice(-KEPT / 2), unit.repeat(KEPT / 2 / unit.length), 'the tail is the last bytes');
    }
    const [sz, sy] = await Promise.all([zero.streamed, yes.streamed]);
    const cpu = [server.proc, ...agents.map((a) => a.proc)].map((p, i) => (cpuSeconds(p.child.pid!) - cpuBefore[i]!).toFixed(1));
    for (const s of [sz, sy]) {
      assert.deepEqual(s.events, ['output', 'final', 'end']);
      assert.equal(s.stdout.length, CAP, 'the live stream carries what the control plane keeps: the head, then the tail');
    }
    assert.equal(sz.stdout, '\u0000'.repeat(CAP));
    assert.equal(sy.stdout, 'y\n'.repeat(CAP / 2));
    for (const c of [cz, cy]) {
      const t0 = Date.now();
      const shown = await server.myx(['show', c.id], 30_000);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /--- stdout \(104857600 bytes, truncated\) ---/);
      const json = await server.myx(['show', '--json', c.id], 30_000);
      assert.equal((JSON.parse(json.stdout) as CommandRecord).stdout, c.stdout);
      t.diagnostic(`myx show ${c.agent_name}: ${Date.now() - t0} ms for ${shown.stdout.length} characters`);
    }
    for (const a of agents) assert.ok(pidRunning(a.proc.child.pid!));
    assert.ok(pidRunning(server.proc.child.pid!));
    t.diagnostic(`100 MB of /dev/zero by push: ${took.zero} ms (stream ended after ${sz.ms} ms); 100 MB of \`yes\` by poll: ${took.yes} ms (stream ${sy.ms} ms); `
      + `CPU seconds used meanwhile: control plane ${cpu[0]}, web agent ${cpu[1]}, poll agent ${cpu[2]}`);
  });
});

// Issue 5, disk full or read-only spool on the agent: the agent's state dir on a small tmpfs that
// is filled up or remounted read-only (or a file size limit on the agent), real server and agent.
// A command that cannot be journaled is refused (507 AGENT_STORAGE_FULL) and runs once space
// returns; a result produced meanwhile reaches the control plane; nothing runs twice; one log line.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { isFinal } from '../src/protocol/command-status.ts';
import type { AgentStatus, CommandRecord } from '../src/protocol/wire.ts';
import { enrollAgent, eventually, pidRunning, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';

/** Fast heartbeats and short leases, so a refused command comes round again within seconds. */
const SERVER_FLAGS = ['--heartbeat-interval', '0.5', '--lease', '2'];
const NOT_WRITABLE = /journal is not writable/;

interface Setup {
  dir: string;
  server: TestServer;
  client: OperatorClient;
  config: string;
  stateDir: string;
  /** Runs last-in first-out when the test ends. */
  cleanup: (fn: () => unknown) => void;
}

async function setUp(t: TestContext, name: string, enrollFlags: string[] = []): Promise<Setup> {
  const dir = tempDir();
  const undo: (() => unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  t.after(async () => {
    for (const fn of undo.reverse()) {
      try {
        await fn();
      } catch (err) {
        t.diagnostic(`cleanup: ${(err as Error).message}`);
      }
    }
  });
  const server = await startServer(dir, SERVER_FLAGS);
  undo.push(() => server.proc.kill());
  const client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
  undo.push(() => client.close());
  const config = await enrollAgent(server, dir, name, enrollFlags);
  return { dir, server, client, config, stateDir: join(dirname(config), 'state'), cleanup: (fn) => undo.push(fn) };
}

/** A small tmpfs over the agent's state dir; a reason to skip when this machine does not allow it. */
function mountTmpfs(s: Setup, size = '4m'): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs (not root here)';
  mkdirSync(s.stateDir, { recursive: true, mode: 0o700 });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'myx-test-state', s.stateDir], { stdio: 'pipe' });
  } catch (err) {
    return `mount -t tmpfs is not permitted here (no CAP_SYS_ADMIN?): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
  // lazy: detached at once even while a process still holds a file there
  s.cleanup(() => execFileSync('umount', ['--lazy', s.stateDir], { stdio: 'pipe' }));
  return null;
}

/** Writes zeros until the file system is full (dd stops at ENOSPC). */
function fill(dir: string): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
  } catch {
    // "No space left on device" is the point
  }
  assert.equal(statfsSync(dir).bavail, 0, 'the tmpfs is full');
}

async function start(s: Setup, flags: string[]): Promise<TestAgent> {
  const agent = await startAgent(s.config, flags);
  s.cleanup(() => agent.proc.kill());
  return agent;
}

/** Calls the agent's own API as the control plane would (token and client certificate). */
function agentApi(s: Setup, agent: TestAgent, method: 'GET' | 'POST', path: string, body?: unknown): { status: number; body: any } {
  const args = ['-sk', ...s.server.clientCertCurlArgs, '-X', method, '-H', `x-agent-token: ${agent.token()}`, '-w', '\n%{http_code}'];
  if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
  const out = execFileSync('curl', [...args, `https://127.0.0.1:${agent.port}${path}`], { encoding: 'utf8' });
  const at = out.lastIndexOf('\n');
  return { status: Number(out.slice(at + 1)), body: JSON.parse(out.slice(0, at)) };
}

const journalOf = (s: Setup, agent: TestAgent) => (agentApi(s, agent, 'GET', '/api/status').body as AgentStatus).journal;

async function finalOf(client: OperatorClient, id: string, ms = 60_000): Promise<CommandRecord> {
  return eventually(async () => {
    const c = await client.command(id);
    return isFinal(c.status) ? c : undefined;
  }, ms, `command ${id} to end`);
}

/** A command that appends `tag` to `marker` (so a second run would show). */
function appending(marker: string, tag: string) {
  return { command: 'sh', args: ['-c', `echo ${tag} >> ${marker}`] };
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);
const count = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;

/** The agent's one error line, shown in the test output. */
function showError(t: TestContext, agent: TestAgent): void {
  const line = agent.proc.output().split('\n').find((l) => NOT_WRITABLE.test(l));
  if (line) t.diagnostic(`agent log: ${(JSON.parse(line) as { msg: string }).msg}`);
}

for (const mode of ['web', 'poll'] as const) {
  test(`${mode} mode, disk full: new commands wait, a running one reports, all resumes when space returns`, { timeout: 180_000 }, async (t) => {
    const s = await setUp(t, `full-${mode}`, mode === 'poll' ? ['--no-web'] : []);
    const skip = mountTmpfs(s);
    if (skip) return t.skip(skip);
    const agent = await start(s, mode === 'poll' ? [] : ['--web-port', '0']);
    const marker = join(s.dir, 'runs.log');
    const go = join(s.dir, 'go');

    const [first] = await s.client.createCommands({ targets: { agents: [agent.name] }, ...appending(marker, 'first') });
    assert.equal((await finalOf(s.client, first!.id)).status, 'succeeded', 'the journal works before the disk fills');
    // started now, finishes (and produces its result) only once the disk is full
    const [slow] = await s.client.createCommands({
      targets: { agents: [agent.name] }, command: 'sh', args: ['-c', `while [ ! -e ${go} ]; do sleep 0.1; done; echo slow >> ${marker}; echo produced-while-full`],
    });
    await eventually(async () => (await s.client.command(slow!.id)).status === 'running', 20_000, 'slow command running');

    fill(s.stateDir);
    const [blocked] = await s.client.createCommands({ targets: { agents: [agent.name] }, ...appending(marker, 'blocked') });
    await eventually(() => NOT_WRITABLE.test(agent.proc.output()), 20_000, 'the journal error in the agent log');
    if (mode === 'web') {
      // the control plane's push was refused with a clear reason, and the command stays queued
      const c = await eventually(async () => {
        const rec = await s.client.command(blocked!.id);
        return rec.last_push_error ? rec : undefined;
      }, 20_000, 'push refused');
      assert.match(c.last_push_error!, /cannot write its journal .*disk full or read-only/);
      const direct = agentApi(s, agent, 'POST', '/api/execute', { command_id: blocked!.id, ...appending(marker, 'blocked') });
      assert.equal(direct.status, 507);
      assert.equal(direct.body.error.code, 'AGENT_STORAGE_FULL');
      assert.match(direct.body.error.message, /SQLITE_FULL/);
    }
    await sleep(5000); // more than two leases: offered again and refused again, never run
    assert.ok(['queued', 'dispatched'].includes((await s.client.command(blocked!.id)).status), 'not delivered while full');
    assert.deepEqual(lines(marker), ['first']);

    writeFileSync(go, '');
    const slowDone = await finalOf(s.client, slow!.id, 30_000);
    assert.deepEqual([slowDone.status, slowDone.stdout], ['succeeded', 'produced-while-full\n'], 'a result produced while full reaches the control plane');
    if (mode === 'web') {
      const j = journalOf(s, agent);
      assert.deepEqual([j.writable, j.held_results], [false, 1]);
      assert.match(j.error ?? '', /SQLITE_FULL/);
    }
    assert.ok(pidRunning(agent.proc.child.pid!), 'the agent is alive');
    assert.equal(count(agent.proc.output(), NOT_WRITABLE), 1, 'one error line for the whole outage');
    showError(t, agent);
    assert.doesNotMatch(agent.proc.output(), /uncaught|unhandled/i);

    rmSync(join(s.stateDir, 'filler'));
    const t0 = Date.now();
    assert.equal((await finalOf(s.client, blocked!.id)).status, 'succeeded', 'runs once space returns');
    t.diagnostic(`${mode}: command pushed while full ran ${Date.now() - t0} ms after space returned`);
    await agent.proc.waitFor(/journal is writable again/, 20_000);
    if (mode === 'web') {
      await eventually(() => journalOf(s, agent).held_results === 0, 20_000, 'held result spooled');
      const j = journalOf(s, agent);
      assert.deepEqual([j.writable, j.error], [true, null]);
      const spooled = agentApi(s, agent, 'GET', `/api/commands/${slow!.id}`).body as { state: string; reported: boolean; result: { stdout: string } };
      assert.deepEqual([spooled.state, spooled.reported, spooled.result.stdout], ['succeeded', true, 'produced-while-full\n']);
    }
    await sleep(3000); // a lease or two more: nothing comes round again
    assert.deepEqual(lines(marker).sort(), ['blocked', 'first', 'slow'], 'each command ran exactly once');
  });
}

test('read-only spool at start: the agent starts, refuses commands, and takes them once it is writable', { timeout: 180_000 }, async (t) => {
  const s = await setUp(t, 'ro1');
  const skip = mountTmpfs(s);
  if (skip) return t.skip(skip);
  let agent = await start(s, ['--web-port', '0']);
  const marker = join(s.dir, 'runs.log');
  const [first] = await s.client.createCommands({ targets: { agents: [agent.name] }, ...appending(marker, 'first') });
  assert.equal((await finalOf(s.client, first!.id)).status, 'succeeded');
  await agent.proc.kill();

  execFileSync('mount', ['-o', 'remount,ro', s.stateDir]);
  agent = await start(s, ['--web-port', '0']);
  await agent.proc.waitFor(NOT_WRITABLE);
  const j = journalOf(s, agent);
  assert.equal(j.writable, false);
  assert.match(j.error ?? '', /EROFS|read-only/i);

  const [blocked] = await s.client.createCommands({ targets: { agents: [agent.name] }, ...appending(marker, 'blocked') });
  const direct = agentApi(s, agent, 'POST', '/api/execute', { command_id: blocked!.id, ...appending(marker, 'blocked') });
  assert.deepEqual([direct.status, direct.body.error.code], [507, 'AGENT_STORAGE_FULL']);
  await sleep(5000);
  assert.ok(['queued', 'dispatched'].includes((await s.client.command(blocked!.id)).status), 'not delivered while read-only');
  assert.match((await s.client.command(blocked!.id)).last_push_error ?? '', /cannot write its journal/);
  assert.deepEqual(lines(marker), ['first']);
  assert.equal(count(agent.proc.output(), NOT_WRITABLE), 1, 'one error line');
  showError(t, agent);

  execFileSync('mount', ['-o', 'remount,rw', s.stateDir]);
  assert.equal((await finalOf(s.client, blocked!.id)).status, 'succeeded');
  await agent.proc.waitFor(/journal is writable again/, 20_000);
  assert.equal(journalOf(s, agent).writable, true);
  await sleep(3000);
  assert.deepEqual(lines(marker), ['first', 'blocked'], 'each command ran exactly once');
});

test('file size limit on the agent (EFBIG, no mount needed): refused while it lasts, taken after', { timeout: 180_000 }, async (t) => {
  const s = await setUp(t, 'fsize1', ['--no-web']);
  const agent = await start(s, []);
  const pid = agent.proc.child.pid!;
  const marker = join(s.dir, 'runs.log');
  const [first] = await s.client.createCommands({ targets: { agents: [agent.name] }, ...appending(marker, 'first') });
  assert.equal((await finalOf(s.client, first!.id)).status, 'succeeded');

  // no file of the agent may grow past its current size: the next journal write fails with EFBIG
  const wal = join(s.stateDir, 'journal.db-wal');
  const limit = Math.max(statSync(join(s.stateDir, 'journal.db')).size, existsSync(wal) ? statSync(wal).size : 0);
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--fsize=${limit}:`], { stdio: 'pipe' });
  } catch (err) {
    return t.skip(`prlimit is not available or not permitted: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
  }
  const [blocked] = await s.client.createCommands({ targets: { agents: [agent.name] }, ...appending(marker, 'blocked') });
  await agent.proc.waitFor(NOT_WRITABLE, 20_000);
  await sleep(5000);
  assert.ok(['queued', 'dispatched'].includes((await s.client.command(blocked!.id)).status), 'not run under the limit');
  assert.deepEqual(lines(marker), ['first']);
  assert.ok(pidRunning(pid), 'the agent is alive');
  assert.equal(count(agent.proc.output(), NOT_WRITABLE), 1, 'one error line');
  showError(t, agent);

  execFileSync('prlimit', ['--pid', String(pid), '--fsize=unlimited:']);
  assert.equal((await finalOf(s.client, blocked!.id)).status, 'succeeded');
  await agent.proc.waitFor(/journal is writable again/, 20_000);
  await sleep(3000);
  assert.deepEqual(lines(marker), ['first', 'blocked'], 'each command ran exactly once');
});

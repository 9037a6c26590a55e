// Issue 2 acceptance, end to end: a control plane and two web-mode agents as real processes on
// loopback, enrolled with tokens, driven through the `myx` CLI.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { enrollAgent, pidRunning, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';

describe('control plane with two web agents', () => {
  let dir: string;
  let server: TestServer;
  let a: TestAgent;
  let b: TestAgent;

  before(async () => {
    dir = tempDir();
    server = await startServer(dir);
    const [ca, cb] = await Promise.all([enrollAgent(server, dir, 'alpha'), enrollAgent(server, dir, 'beta')]);
    [a, b] = await Promise.all([startAgent(ca), startAgent(cb)]);
  });
  after(async () => {
    await Promise.all([a?.proc.kill(), b?.proc.kill()]);
    await server?.proc.kill();
  });

  test('myx agents lists both, online, in web mode', async () => {
    const r = await server.myx(['agents', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const agents = JSON.parse(r.stdout) as { name: string; status: string; mode: string; web_port: number }[];
    assert.deepEqual(agents.map((x) => [x.name, x.status, x.mode]), [['alpha', 'online', 'web'], ['beta', 'online', 'web']]);
    const table = await server.myx(['agents']);
    assert.match(table.stdout, /^NAME\s+ID\s+STATUS/m);
    assert.match(table.stdout, /alpha .* online +web/);
  });

  test('run --all -- echo hello answers hello from both, delivered by push', async () => {
    const r = await server.myx(['run', '--all', '--json', '--', 'echo', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    const records = JSON.parse(r.stdout) as CommandRecord[];
    assert.equal(records.length, 2);
    for (const c of records) {
      assert.equal(c.stdout, 'hello\n');
      assert.equal(c.status, 'succeeded');
      assert.equal(c.delivery, 'push');
      assert.equal(c.exit_code, 0);
      for (const k of ['id', 'agent_id', 'agent_name', 'command', 'args', 'stderr', 'created_at', 'started_at', 'finished_at'] as const) {
        assert.ok(k in c, `record has ${k}`);
      }
    }
    assert.deepEqual(records.map((c) => c.agent_name).sort(), ['alpha', 'beta']);
  });

  test('human output prefixes each line with the agent name when there are several targets', async () => {
    const r = await server.myx(['run', '--all', '--', 'echo', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^alpha: hello$/m);
    assert.match(r.stdout, /^beta: hello$/m);
    assert.match(r.stderr, /2 succeeded/);
  });

  test('run --all -- false exits non-zero', async () => {
    const r = await server.myx(['run', '--all', '--', 'false']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /alpha: \[failed, exit 1/);
  });

  test('arguments reach the program verbatim', async () => {
    const r = await server.myx(['run', '--all', '--json', '--', 'echo', '$(id)', ';', '*']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of JSON.parse(r.stdout) as CommandRecord[]) assert.equal(c.stdout, '$(id) ; *\n');
  });

  test('a missing executable is a failed result with a clear error', async () => {
    const r = await server.myx(['run', '--agent', 'alpha', '--json', '--', 'no-such-program-xyz']);
    assert.equal(r.code, 1);
    const [c] = JSON.parse(r.stdout) as CommandRecord[];
    assert.equal(c!.status, 'failed');
    assert.match(c!.error ?? '', /not found/);
  });

  test('a command that exceeds its timeout is killed with its children and reported timed_out', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    // The child and the grandchild both ignore TERM; only the group KILL ends them.
    const script = `trap '' TERM; sh -c 'trap "" TERM; echo $$ > ${pidFile}; sleep 60' & sleep 60`;
    const r = await server.myx(['run', '--agent', 'beta', '--timeout', '1', '--json', '--', 'sh', '-c', script], 60_000);
    const [c] = JSON.parse(r.stdout) as CommandRecord[];
    assert.equal(c!.status, 'timed_out');
    assert.notEqual(r.code, 0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(pidRunning(pid), false, 'grandchild is gone');
  });

  test('the generated certificate and key exist with modes 0644 and 0600', () => {
    const ssl = join(dirname(a.configPath), 'ssl');
    assert.equal(statSync(join(ssl, 'agent.crt')).mode & 0o777, 0o644);
    assert.equal(statSync(join(ssl, 'agent.key')).mode & 0o777, 0o600);
    assert.equal(statSync(a.configPath).mode & 0o777, 0o600);
  });

  test('curl -k /health answers ok; /api/ without the control plane\'s certificate gets 403, with it but without the right token 401', () => {
    const curl = (...args: string[]) => execFileSync('curl', ['-sk', '-w', '\n%{http_code}', ...args], { encoding: 'utf8' });
    assert.equal(curl(`https://127.0.0.1:${a.port}/health`), '{"status":"ok"}\n200');
    const body = JSON.stringify({ command_id: 'x1', command: 'true' });
    const exec = (...args: string[]) => curl(...args, '-X', 'POST', '-H', 'content-type: application/json', '-d', body, `https://127.0.0.1:${a.port}/api/execute`);
    assert.match(exec(), /"code":"CLIENT_CERT_REQUIRED".*\n403$/s);
    assert.match(exec('-H', `x-agent-token: ${a.token()}`), /"code":"CLIENT_CERT_REQUIRED".*\n403$/s);
    assert.match(exec(...server.clientCertCurlArgs), /"code":"AGENT_TOKEN_MISSING".*\n401$/s);
    assert.match(exec(...server.clientCertCurlArgs, '-H', 'x-agent-token: nope'), /"code":"AGENT_TOKEN_INVALID".*\n401$/s);
    assert.match(curl(`https://127.0.0.1:${a.port}/api/status`), /\n403$/);
    assert.match(curl('-H', `x-agent-token: ${a.token()}`, `https://127.0.0.1:${a.port}/api/status`), /\n403$/);
  });

  test('the same command_id pushed twice runs once', () => {
    const marker = join(dir, 'ran-once.txt');
    const body = JSON.stringify({ command_id: 'dup_test_1', command: 'sh', args: ['-c', `echo ran >> ${marker}`] });
    const post = () => execFileSync('curl', ['-sk', ...server.clientCertCurlArgs, '-w', '\n%{http_code}', '-X', 'POST', '-H', `x-agent-token: ${a.token()}`,
      '-H', 'content-type: application/json', '-d', body, `https://127.0.0.1:${a.port}/api/execute`], { encoding: 'utf8' });
    assert.match(post(), /"status":"accepted".*"duplicate":false.*\n202$/s);
    assert.match(post(), /"duplicate":true.*\n200$/s);
    execFileSync('sleep', ['1']);
    assert.equal(readFileSync(marker, 'utf8'), 'ran\n');
  });

  test('status reports the agent', () => {
    const out = execFileSync('curl', ['-sk', ...server.clientCertCurlArgs, '-H', `x-agent-token: ${a.token()}`, `https://127.0.0.1:${a.port}/api/status`], { encoding: 'utf8' });
    const s = JSON.parse(out) as { name: string; mode: string; web_port: number; version: string };
    assert.equal(s.name, 'alpha');
    assert.equal(s.mode, 'web');
    assert.equal(s.web_port, a.port);
  });

  test('logs never contain a token', () => {
    const tokens = [a.token(), b.token(), readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim()];
    for (const log of [server.proc.output(), a.proc.output(), b.proc.output()]) {
      for (const t of tokens) assert.ok(!log.includes(t), 'token found in a log');
    }
  });
});

test('an agent enrolled but never started shows `enrolled` with no heartbeat, and `online` from its first heartbeat', async (t) => {
  const dir = tempDir(t);
  const server = await startServer(dir);
  t.after(() => server.proc.kill());
  const config = await enrollAgent(server, dir, 'idle-01');

  const listed = JSON.parse((await server.myx(['agents', '--json'])).stdout) as { name: string; status: string; last_heartbeat_at: string | null }[];
  assert.deepEqual(listed.map((x) => [x.name, x.status, x.last_heartbeat_at]), [['idle-01', 'enrolled', null]]);
  const table = (await server.myx(['agents'])).stdout;
  assert.match(table, /^idle-01 +agt_\S+ +enrolled +web .* never /m);
  assert.match(table, /^idle-01: enrolled, never connected: start its daemon/m);

  const agent = await startAgent(config);
  t.after(() => agent.proc.kill());
  const connected = JSON.parse((await server.myx(['agents', '--json'])).stdout) as { status: string; last_heartbeat_at: string | null }[];
  assert.equal(connected[0]!.status, 'online');
  assert.ok(connected[0]!.last_heartbeat_at !== null);
  assert.doesNotMatch((await server.myx(['agents'])).stdout, /never connected/);
});

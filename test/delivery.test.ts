// Issue 3 acceptance: push, poll and fallback in one fleet; leases, TTL and lost commands;
// nothing lost when either side restarts; live output; cancel; exactly-once under races.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { isFinal } from '../src/protocol/command-status.ts';
import type { CommandRecord } from '../src/protocol/wire.ts';
import {
  enrollAgent, eventually, freePort, median, MYX, pidRunning, startAgent, startServer, tempDir, type TestAgent, type TestServer,
} from './helpers.ts';

const FAST = ['--heartbeat-interval', '0.5'];

async function operator(server: TestServer): Promise<OperatorClient> {
  return new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
}

async function finalOf(client: OperatorClient, id: string, ms = 20_000): Promise<CommandRecord> {
  return eventually(async () => {
    const c = await client.command(id);
    return isFinal(c.status) ? c : undefined;
  }, ms, `command ${id} to end`);
}

describe('a mixed fleet: web, poll, and web but unreachable', () => {
  let dir: string;
  let server: TestServer;
  const agents: TestAgent[] = [];
  before(async () => {
    dir = tempDir();
    server = await startServer(dir, FAST);
    const [web, poll, hidden] = await Promise.all([
      enrollAgent(server, dir, 'web1'),
      enrollAgent(server, dir, 'poll1', ['--no-web']),
      enrollAgent(server, dir, 'hidden1', ['--advertise-address', '127.0.0.2']),
    ]);
    agents.push(...(await Promise.all([startAgent(web), startAgent(poll, []), startAgent(hidden)])));
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.proc.kill()));
    await server.proc.kill();
  });

  test('one run --all answers completely: deliveries push, poll, poll', async () => {
    const r = await server.myx(['run', '--all', '--json', '--', 'hostname']);
    assert.equal(r.code, 0, r.stderr);
    const records = JSON.parse(r.stdout) as CommandRecord[];
    const byName = Object.fromEntries(records.map((c) => [c.agent_name, c]));
    assert.equal(records.length, 3);
    for (const c of records) assert.equal(c.stdout.trim(), execFileSync('hostname', { encoding: 'utf8' }).trim());
    assert.deepEqual([byName.web1!.delivery, byName.poll1!.delivery, byName.hidden1!.delivery], ['push', 'poll', 'poll']);
    assert.match(byName.hidden1!.last_push_error ?? '', /refused/);
  });

  test('myx agents shows each mode and whether push works', async () => {
    const list = JSON.parse((await server.myx(['agents', '--json'])).stdout) as { name: string; mode: string; push: { state: string } }[];
    const by = Object.fromEntries(list.map((a) => [a.name, [a.mode, a.push.state]]));
    assert.deepEqual(by, { hidden1: ['web', 'failing'], poll1: ['poll', 'poll_mode'], web1: ['web', 'ok'] });
    const table = (await server.myx(['agents'])).stdout;
    assert.match(table, /hidden1: push failing/);
  });

  test('a poll-mode agent gets a new command well under a second (long poll)', async (t) => {
    const client = await operator(server);
    t.after(() => client.close());
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      const [c] = await client.createCommands({ targets: { agents: ['poll1'] }, command: 'true' });
      const done = await client.wait([c!.id], 10);
      assert.equal(done.commands[0]!.status, 'succeeded');
      times.push(Date.now() - t0);
    }
    const m = median(times);
    t.diagnostic(`poll-mode round trip of \`true\`, median of 10: ${m} ms (all: ${times.join(', ')})`);
    assert.ok(m < 1000, `median ${m} ms`);
  });

  test('myx run shows the first line before the command finishes', async () => {
    const child = spawn(process.execPath, [MYX, 'run', '--agent', 'poll1', '--agent', 'web1', '--', 'sh', '-c', 'echo a; sleep 3; echo b'], {
      env: { ...process.env, MYX_DATA_DIR: server.dataDir },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('close', r));
    await eventually(() => /^web1: a$/m.test(out) && /^poll1: a$/m.test(out), 10_000, 'first lines');
    assert.ok(!/: b$/m.test(out), 'b is not there yet: the first lines came while the commands still ran');
    assert.equal(await exited, 0);
    assert.match(out, /^web1: b$/m);
    assert.match(out, /^poll1: b$/m);
  });

  for (const name of ['web1', 'poll1']) {
    test(`cancel of a running sleep 60 on ${name} ends cancelled within seconds, process gone`, async (t) => {
      const client = await operator(server);
      t.after(() => client.close());
      const pidFile = join(dir, `${name}-sleep.pid`);
      const [c] = await client.createCommands({ targets: { agents: [name] }, command: 'sh', args: ['-c', `echo $$ > ${pidFile}; exec sleep 60`] });
      await eventually(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim().length > 0, 10_000, 'sleep started');
      const pid = Number(readFileSync(pidFile, 'utf8'));
      const t0 = Date.now();
      const r = await server.myx(['cancel', c!.id]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const final = await finalOf(client, c!.id, 15_000);
      assert.equal(final.status, 'cancelled');
      t.diagnostic(`${name}: cancelled after ${Date.now() - t0} ms`);
      await eventually(() => !pidRunning(pid), 10_000, 'sleep gone');
    });
  }

  test('a queued command that is cancelled never starts', async (t) => {
    const client = await operator(server);
    t.after(() => client.close());
    // the hidden agent's pushes are failing and backing off, so its commands wait for a heartbeat
    const [c] = await client.createCommands({ targets: { agents: ['hidden1'] }, command: 'true', ttl: 60 });
    const r = await client.cancel(c!.id);
    assert.ok(['cancelled', 'requested'].includes(r.outcome));
    assert.equal((await finalOf(client, c!.id)).status, 'cancelled');
  });

  test('the same command delivered twice in a race runs exactly once (50 times)', async (t) => {
    const client = await operator(server);
    t.after(() => client.close());
    const web = agents[0]!;
    const marker = join(dir, 'race.log');
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const spec = { command: 'sh', args: ['-c', `echo "$0" >> ${marker}`, `run-${i}`] };
      const [c] = await client.createCommands({ targets: { agents: ['web1'] }, ...spec });
      ids.push(c!.id);
      // a second delivery of the same id, racing the control plane's push
      execFileSync('curl', ['-sk', ...server.clientCertCurlArgs, '-o', '/dev/null', '-X', 'POST', '-H', `x-agent-token: ${web.token()}`, '-H', 'content-type: application/json',
        '-d', JSON.stringify({ command_id: c!.id, ...spec }), `https://127.0.0.1:${web.port}/api/execute`]);
    }
    const done = await client.wait(ids, 30);
    assert.equal(done.done, true);
    assert.ok(done.commands.every((c) => c.status === 'succeeded'));
    const lines = readFileSync(marker, 'utf8').trim().split('\n');
    assert.equal(lines.length, 50);
    assert.equal(new Set(lines).size, 50);
  });
});

describe('restarts lose nothing and never re-run', () => {
  test('kill -9 of the agent while `sleep 30` runs: after restart the command is lost, nothing re-runs', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(dir, FAST);
    t.after(() => server.proc.kill());
    const config = await enrollAgent(server, dir, 'crashy');
    const agent = await startAgent(config);
    const client = await operator(server);
    t.after(() => client.close());
    const marker = join(dir, 'runs.log');
    const pidFile = join(dir, 'sleep.pid');
    const [c] = await client.createCommands({ targets: { agents: ['crashy'] }, command: 'sh', args: ['-c', `echo run >> ${marker}; echo $$ > ${pidFile}; exec sleep 30`] });
    await eventually(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim().length > 0, 10_000, 'sleep started');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await eventually(async () => (await client.command(c!.id)).status === 'running', 5000, 'running');
    await agent.proc.kill('SIGKILL');
    const again = await startAgent(config);
    t.after(() => again.proc.kill());
    const final = await finalOf(client, c!.id);
    assert.equal(final.status, 'lost');
    assert.match(final.error ?? '', /not run again/);
    await eventually(() => !pidRunning(pid), 5000, 'the orphaned sleep is stopped');
    await sleep(1000);
    assert.equal(readFileSync(marker, 'utf8'), 'run\n', 'ran once');
  });

  test('kill -9 of the control plane while agents run `sleep 2; echo done`: after restart both results arrive', async (t) => {
    const dir = tempDir(t);
    const port = await freePort();
    const listen = ['--listen', `127.0.0.1:${port}`, ...FAST];
    let server = await startServer(dir, listen);
    const [w, p] = await Promise.all([enrollAgent(server, dir, 'w'), enrollAgent(server, dir, 'p', ['--no-web'])]);
    const agents = await Promise.all([startAgent(w), startAgent(p, [])]);
    t.after(() => Promise.all(agents.map((a) => a.proc.kill())));
    // the operator's `myx run` keeps waiting through the restart
    const run = spawn(process.execPath, [MYX, 'run', '--agent', 'w', '--agent', 'p', '--json', '--', 'sh', '-c', 'sleep 2; echo done'], {
      env: { ...process.env, MYX_DATA_DIR: server.dataDir },
    });
    let out = '';
    let err = '';
    run.stdout.on('data', (d: Buffer) => (out += d.toString()));
    run.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => run.once('close', r));
    t.after(() => run.kill());
    const client = await operator(server);
    await eventually(async () => (await client.commands({ status: 'running' })).length === 2, 10_000, 'both running');
    await client.close();
    await server.proc.kill('SIGKILL');
    await sleep(3000); // the commands finish while the control plane is down
    server = await startServer(dir, listen);
    t.after(() => server.proc.kill());
    assert.equal(await exited, 0, err);
    const records = JSON.parse(out) as CommandRecord[];
    assert.equal(records.length, 2);
    for (const c of records) assert.deepEqual([c.status, c.stdout], ['succeeded', 'done\n']);
    assert.match(err, /lost contact with the control plane/);
  });
});

describe('offline agents and the delivery TTL', () => {
  test('a command queued for a stopped agent runs when it starts; one with --ttl 2s expires and never runs', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(dir, FAST);
    t.after(() => server.proc.kill());
    const config = await enrollAgent(server, dir, 'sleeper');
    const marker = join(dir, 'ran.log');
    const client = await operator(server);
    t.after(() => client.close());
    const [waits] = await client.createCommands({ targets: { agents: ['sleeper'] }, command: 'sh', args: ['-c', `echo waited >> ${marker}`] });
    const expiring = await server.myx(['run', '--agent', 'sleeper', '--ttl', '2s', '--json', '--', 'sh', '-c', `echo expired >> ${marker}`], 30_000);
    assert.notEqual(expiring.code, 0);
    const [e] = JSON.parse(expiring.stdout) as CommandRecord[];
    assert.equal(e!.status, 'expired');
    assert.equal((await client.command(waits!.id)).status, 'queued');
    const agent = await startAgent(config);
    t.after(() => agent.proc.kill());
    assert.equal((await finalOf(client, waits!.id)).status, 'succeeded');
    await sleep(1000);
    assert.equal(readFileSync(marker, 'utf8'), 'waited\n');
  });
});

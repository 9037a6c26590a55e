// Upgrades from the control plane (issue 10), with the packaged binaries and real processes: five
// agents on 1.0.0 (web and poll mode), each started by hand from its own copy of the binary, are
// upgraded to 1.1.0 by `myx agents upgrade`, one at a time; a broken 1.1.0 (exits at once, or never
// reaches the control plane) stops the rollout at its first agent, which rolls back by itself.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AgentView, CommandRecord } from '../src/protocol/wire.ts';
import { closePool, send } from './raw-http.ts';
import {
  enrollAgent, eventually, packageRelease, pidRunning, runBin, startExe, startServer, tempDir, type CliResult, type Proc, type TestServer,
} from './helpers.ts';

const A = '1.0.0';
const B = '1.1.0';
let dir: string;
let releaseA: string;
let releaseB: string;

after(closePool);

before(async () => {
  dir = tempDir();
  [releaseA, releaseB] = await Promise.all([packageRelease(join(dir, 'release-a'), A), packageRelease(join(dir, 'release-b'), B)]);
}, { timeout: 300_000 });

/** A fleet of agents started by hand from copies of release A's binary, each in its own folder. */
class Fleet {
  /** Each agent's process as the test started it (the first, unless `restart` started another). */
  readonly procs = new Map<string, Proc>();
  readonly #started: [string, Proc][] = [];
  readonly #configs = new Map<string, string>();
  readonly server: TestServer;
  readonly #dir: string;

  constructor(server: TestServer, fleetDir: string) {
    this.server = server;
    this.#dir = fleetDir;
  }

  /** Enrolls `name` and starts it from its own copy of A (`poll`: --no-web). */
  async add(name: string, poll: boolean, config: Record<string, unknown> = {}): Promise<void> {
    const configPath = await enrollAgent(this.server, this.#dir, name, poll ? ['--no-web'] : ['--web-port', '0']);
    writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), ...config }), { mode: 0o600 });
    const binary = this.binary(name);
    copyFileSync(join(releaseA, 'myx-agent'), binary);
    chmodSync(binary, 0o755);
    this.#configs.set(name, configPath);
    await this.restart(name);
  }

  /** Starts the agent's binary by hand (again, after it was killed). */
  async restart(name: string): Promise<void> {
    const proc = startExe(this.binary(name), ['--config', this.#configs.get(name)!], { ...process.env, MYX_LOG_FORMAT: 'json' });
    this.procs.set(name, proc);
    this.#started.push([name, proc]);
    await proc.waitFor(/connected to the control plane/);
  }

  token(name: string): string {
    return (JSON.parse(readFileSync(this.#configs.get(name)!, 'utf8')) as { agent_token: string }).agent_token;
  }

  binary(name: string): string {
    mkdirSync(join(this.#dir, name), { recursive: true });
    return join(this.#dir, name, 'myx-agent');
  }

  async agents(): Promise<AgentView[]> {
    const r = await this.server.myx(['agents', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as AgentView[];
  }

  /**
   * Every process that wrote to this agent's output (the agent, its guard, the versions that followed:
   * they inherit its stdout) and is still running. Upgraded agents are no children of the test.
   */
  livePids(name: string): number[] {
    const pids = new Set<number>();
    const output = this.#started.filter(([n]) => n === name).map(([, p]) => p.output()).join('\n');
    for (const line of output.split('\n')) {
      const m = /^\{"level":\d+,"time":\d+,"pid":(\d+),/.exec(line); // the process that wrote the line, not a pid it mentions
      if (m) pids.add(Number(m[1]));
    }
    return [...pids].filter(pidRunning);
  }

  async stop(): Promise<void> {
    for (const name of this.procs.keys()) {
      for (const pid of this.livePids(name)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone meanwhile
        }
      }
    }
    await eventually(() => [...this.procs.keys()].every((n) => this.livePids(n).length === 0), 20_000, 'every agent process to stop');
    await this.server.proc.kill();
  }
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const records = (r: CliResult) => JSON.parse(r.stdout) as CommandRecord[];

describe('five agents on 1.0.0, a control plane (1.1.0) handing out 1.1.0', () => {
  let fleet: Fleet;
  let idsBefore: Map<string, string>;
  before(async () => {
    const fleetDir = join(dir, 'good');
    // the control plane is release B's own `myx`: its release directory is its folder
    const server = await startServer(fleetDir, ['--heartbeat-interval', '1'], { exe: join(releaseB, 'myx') });
    fleet = new Fleet(server, fleetDir);
    await Promise.all([['u1', false], ['u2', false], ['u3', false], ['u4', true], ['u5', true]].map(([n, poll]) => fleet.add(n as string, poll as boolean)));
    idsBefore = new Map((await fleet.agents()).map((a) => [a.name, a.id]));
  }, { timeout: 120_000 });
  after(() => fleet?.stop());

  test('myx agents shows each agent\'s version and counts those older than the control plane; its log warns once per agent', async () => {
    const table = await fleet.server.myx(['agents']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME .* VERSION/m);
    assert.equal(table.stdout.match(/ 1\.0\.0 /g)?.length, 5);
    assert.match(table.stdout, /5 agents run an older version than the control plane \(1\.1\.0\): upgrade with `myx agents upgrade --all`/);
    // heartbeats later, still one line per agent
    const since = new Date().toISOString();
    await eventually(async () => (await fleet.agents()).every((a) => a.last_heartbeat_at! > since), 15_000, 'another heartbeat from every agent');
    const warnings = fleet.server.proc.output().split('\n').filter((l) => /runs 1\.0\.0, older than the control plane/.test(l));
    assert.equal(warnings.length, 5, warnings.join('\n'));
  });

  test('myx agents upgrade --all --max-errors 1: five agents end on 1.1.0 with their ids; a command running on the first finishes before it restarts; one pushed meanwhile is refused (AGENT_UPGRADING), one queued meanwhile runs once after', async (t) => {
    const work = join(dir, 'good', 'work');
    mkdirSync(work, { recursive: true });
    // a command that runs until the test says so
    const long = runBin('myx', ['run', '--agent', 'u1', '--json', '--', 'sh', '-c', `while [ ! -e ${work}/go ]; do sleep 0.1; done; echo done >> ${work}/long`],
      { MYX_DATA_DIR: fleet.server.dataDir });
    const u1 = fleet.procs.get('u1')!;
    await eventually(() => /"command":"sh","pid":\d+,"msg":"command started"/.test(u1.output()), 15_000, 'the long command to start');

    const started = Date.now();
    const upgrade = runBin('myx', ['agents', 'upgrade', '--all', '--max-errors', '1'], { MYX_DATA_DIR: fleet.server.dataDir }, 240_000);
    await eventually(() => u1.output().includes('upgrade: waiting for 1 running command to finish'), 60_000, 'the upgrade to wait for the long command');
    // what reaches the agent meanwhile: a new command is refused (retryable), a known one answered from the journal
    const longId = /"command_id":"(cmd_\w+)","command":"sh","pid":\d+,"msg":"command started"/.exec(u1.output())![1]!;
    const port = new URL((JSON.parse(u1.output().split('\n').find((l) => l.includes('serving on'))!) as { web_url: string }).web_url).port;
    const push = (id: string) => send(`https://127.0.0.1:${port}/api/execute`, {
      json: { command_id: id, command: 'echo', args: ['pushed'] }, headers: { 'x-agent-token': fleet.token('u1') },
      cert: readFileSync(join(fleet.server.dataDir, 'tls', 'server.crt'), 'utf8'), key: readFileSync(join(fleet.server.dataDir, 'tls', 'server.key'), 'utf8'),
    });
    const refused = await push('cmd_pushed_while_upgrading');
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.body.error.code, 'AGENT_UPGRADING');
    assert.match(refused.body.error.message, /upgrading to 1\.1\.0 and takes no new command until it runs its new version; the command stays queued/);
    const known = await push(longId);
    assert.equal(known.status, 200, known.text);
    assert.deepEqual([known.body.duplicate, known.body.state], [true, 'running']);
    const meanwhile = runBin('myx', ['run', '--agent', 'u1', '--json', '--', 'sh', '-c', `echo once >> ${work}/meanwhile`], { MYX_DATA_DIR: fleet.server.dataDir });
    await eventually(async () => {
      const r = await fleet.server.myx(['commands', '--agent', 'u1', '--json']);
      return records(r).some((c) => c.args.join(' ').includes('echo once') && c.status === 'queued');
    }, 15_000, 'the second command to be queued');
    writeFileSync(join(work, 'go'), '');

    const up = await upgrade;
    t.diagnostic(`whole rollout: ${Date.now() - started} ms`);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stderr, /upgrading to myx-agent 1\.1\.0 \(SHA-256 [0-9a-f]{64}/);
    assert.match(up.stderr, /run_\w+: 5 agents \(all\), 1 at a time, stop after 1 error/);
    for (const n of ['u1', 'u2', 'u3', 'u4', 'u5']) {
      assert.match(up.stdout, new RegExp(`^${n}: \\[succeeded, \\d+ ms, via (push|poll)\\]$`, 'm'));
      assert.match(up.stdout, new RegExp(`^${n}: upgraded 1\\.0\\.0 -> 1\\.1\\.0$`, 'm'));
    }
    assert.match(up.stdout, /^u1: waiting for 1 running command to finish/m);
    assert.match(up.stderr, /5 succeeded, 0 failed/);

    const longResult = await long;
    assert.equal(longResult.code, 0, longResult.stderr);
    assert.equal(records(longResult)[0]!.status, 'succeeded');
    assert.equal(readFileSync(join(work, 'long'), 'utf8'), 'done\n', 'the running command finished, once');
    const second = await meanwhile;
    assert.equal(second.code, 0, second.stderr);
    assert.equal(readFileSync(join(work, 'meanwhile'), 'utf8'), 'once\n', 'the command sent during the upgrade ran once');

    const ups = records(await fleet.server.myx(['commands', '--json', '--limit', '100'])).filter((c) => c.kind === 'upgrade');
    assert.equal(ups.length, 5);
    const u1Upgrade = ups.find((c) => c.agent_name === 'u1')!;
    const held = records(second)[0]!;
    assert.ok(held.created_at < u1Upgrade.finished_at!, 'it was sent while u1 upgraded');
    assert.ok(held.started_at! > u1Upgrade.finished_at!, 'and ran only once u1 ran 1.1.0');
    for (const c of ups) {
      assert.deepEqual([c.status, c.command, c.args, c.upgrade?.version], ['succeeded', 'myx-agent upgrade', ['1.1.0'], '1.1.0']);
      t.diagnostic(`${c.agent_name}: upgraded in ${Date.parse(c.finished_at!) - Date.parse(c.started_at!)} ms (via ${c.delivery})`);
    }

    const agents = await eventually(async () => {
      const list = await fleet.agents();
      return list.every((a) => a.version === B && a.status === 'online') ? list : undefined;
    }, 15_000, 'all agents online on 1.1.0');
    assert.deepEqual(new Map(agents.map((a) => [a.name, a.id])), idsBefore, 'same ids');
    assert.deepEqual(agents.map((a) => a.mode), ['web', 'web', 'web', 'poll', 'poll']);
    assert.doesNotMatch(u1.output(), /cmd_pushed_while_upgrading/, 'the refused command never ran');
    for (const n of idsBefore.keys()) {
      assert.equal(sha256(fleet.binary(n)), sha256(join(releaseB, 'myx-agent')), `${n} runs B's binary`);
      assert.equal(sha256(`${fleet.binary(n)}.previous`), sha256(join(releaseA, 'myx-agent')), `${n} keeps A's as the backup`);
      assert.equal(fleet.procs.get(n)!.child.exitCode, 0, `${n}'s 1.0.0 process exited cleanly`);
      assert.doesNotMatch(fleet.procs.get(n)!.output(), /"status":"lost"|reporting it as lost/);
    }
  });

  test('commands work after the upgrade, and myx agents no longer counts anyone as older', async () => {
    const r = await fleet.server.myx(['run', '--all', '--', 'echo', 'ok']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.match(/^u\d: ok$/gm)?.length, 5);
    const table = await fleet.server.myx(['agents']);
    assert.doesNotMatch(table.stdout, /older version/);
  });

  test('upgrading agents already on 1.1.0 succeeds at once, without restarting them', async () => {
    const pids = new Map([...fleet.procs.keys()].map((n) => [n, fleet.livePids(n)]));
    const r = await fleet.server.myx(['agents', 'upgrade', '--label', 'nothing=matches']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no agent carries nothing=matches/);
    const again = await fleet.server.myx(['agents', 'upgrade', '--all', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(records(again).map((c) => [c.status, c.stdout]), Array(5).fill(['succeeded', 'already on 1.1.0\n']));
    assert.deepEqual(new Map([...fleet.procs.keys()].map((n) => [n, fleet.livePids(n)])), pids);
  });
});

describe('a broken 1.1.0 (it exits at once, or never reaches the control plane), and an agent killed mid-upgrade', () => {
  let fleet: Fleet;
  let broken: string;
  /** A release whose agent says it is 1.1.0 when asked, and otherwise runs `body`. */
  const brokenRelease = (body: string) => {
    const script = `#!/bin/sh\nif [ "$1" = --version ]; then echo ${B}; exit 0; fi\n${body}\n`;
    writeFileSync(join(broken, 'myx-agent'), script, { mode: 0o755 });
    writeFileSync(join(broken, 'SHA256SUMS'), `${createHash('sha256').update(script).digest('hex')}  myx-agent\n`);
  };
  before(async () => {
    const fleetDir = join(dir, 'broken');
    broken = join(fleetDir, 'release');
    mkdirSync(broken, { recursive: true });
    brokenRelease('echo "1.1.0 is broken on purpose" >&2; exit 1');
    const server = await startServer(fleetDir, ['--heartbeat-interval', '1', '--release-dir', broken]);
    fleet = new Fleet(server, fleetDir);
    // a short deadline for the new version to reach the control plane (the hanging case)
    await Promise.all([['k1', false], ['k2', false], ['k3', false], ['k4', true], ['k5', true]].map(([n, poll]) => fleet.add(n as string, poll as boolean, { upgrade_confirm_seconds: 4 })));
  }, { timeout: 120_000 });
  after(() => fleet?.stop());

  test('the first failure stops the rollout: the others are skipped, and every host is back on 1.0.0 and online, the failed one saying why', async () => {
    const ids = new Map((await fleet.agents()).map((a) => [a.name, a.id]));
    const k1Before = fleet.livePids('k1');
    const r = await fleet.server.myx(['agents', 'upgrade', '--all', '--max-errors', '1', '--json'], 120_000);
    assert.equal(r.code, 1, r.stderr);
    const byName = new Map(records(r).map((c) => [c.agent_name, c]));
    const k1 = byName.get('k1')!;
    assert.equal(k1.status, 'failed');
    assert.match(k1.error!, /^version 1\.1\.0 did not come back: it exited with code 1 before it reached the control plane; rolled back to 1\.0\.0$/);
    assert.match(k1.stdout, /downloading myx-agent 1\.1\.0[^]*switching [^]*rolled back to 1\.0\.0/);
    for (const n of ['k2', 'k3', 'k4', 'k5']) {
      assert.equal(byName.get(n)!.status, 'skipped', n);
      assert.match(byName.get(n)!.error!, /not started: 1 of this run's commands failed \(--max-errors 1\)/);
    }

    const agents = await eventually(async () => {
      const list = await fleet.agents();
      return list.every((a) => a.version === A && a.status === 'online') ? list : undefined;
    }, 20_000, 'every agent online on 1.0.0');
    assert.deepEqual(new Map(agents.map((a) => [a.name, a.id])), ids);
    assert.equal(sha256(fleet.binary('k1')), sha256(join(releaseA, 'myx-agent')), 'the previous binary is back');
    assert.notDeepEqual(fleet.livePids('k1'), k1Before, 'k1 was restarted');
    assert.match(fleet.procs.get('k1')!.output(), /1\.1\.0 is broken on purpose/);
    assert.ok(!existsSync(join(dir, 'broken', 'k1', 'state', 'upgrade.json')), 'no upgrade left pending');
    const ok = await fleet.server.myx(['run', '--all', '--', 'echo', 'ok']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout.match(/^k\d: ok$/gm)?.length, 5);
  });

  test('a new version that never reaches the control plane is rolled back after the deadline (upgrade_confirm_seconds)', async () => {
    brokenRelease('exec sleep 600');
    const r = await fleet.server.myx(['agents', 'upgrade', '--agent', 'k2', '--json'], 120_000);
    assert.equal(r.code, 1, r.stderr);
    const [k2] = records(r);
    assert.equal(k2!.status, 'failed');
    assert.equal(k2!.error, 'version 1.1.0 did not reach the control plane within 4 s; rolled back to 1.0.0');
    await eventually(async () => (await fleet.agents()).every((a) => a.version === A && a.status === 'online'), 20_000, 'k2 back on 1.0.0');
    const ok = await fleet.server.myx(['run', '--agent', 'k2', '--', 'echo', 'ok']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });

  test('an agent killed while its upgrade waits for a command reports the upgrade failed, not lost, when it starts again; nothing was switched', async () => {
    const k3 = fleet.procs.get('k3')!;
    const long = fleet.server.myx(['run', '--agent', 'k3', '--json', '--', 'sleep', '60'], 120_000);
    await eventually(() => /"command":"sleep","pid":\d+,"msg":"command started"/.test(k3.output()), 15_000, 'the long command to start');
    const upgrade = fleet.server.myx(['agents', 'upgrade', '--agent', 'k3', '--json'], 120_000);
    await eventually(() => k3.output().includes('upgrade: waiting for 1 running command'), 30_000, 'the upgrade to wait for the command');
    await k3.kill('SIGKILL');
    await fleet.restart('k3');

    const r = await upgrade;
    assert.equal(r.code, 1, r.stderr);
    const [up] = records(r);
    assert.equal(up!.status, 'failed');
    assert.equal(up!.error, 'the agent stopped during the upgrade to 1.1.0, before it switched: still on 1.0.0');
    assert.equal(records(await long)[0]!.status, 'lost', 'the command it ran when it was killed is lost, as always');
    assert.equal(sha256(fleet.binary('k3')), sha256(join(releaseA, 'myx-agent')));
    assert.deepEqual(readdirSync(join(dir, 'broken', 'k3')).filter((f) => f.includes('upgrade')), [], 'the half-done download is gone');
    const ok = await fleet.server.myx(['run', '--agent', 'k3', '--', 'echo', 'ok']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });
});

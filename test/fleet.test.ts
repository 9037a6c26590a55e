// Issue 4 acceptance: label targeting, runs and their summaries, --max-concurrency observed on
// the agents, --max-errors stopping a run with the rest skipped.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CommandRecord, RunRecord } from '../src/protocol/wire.ts';
import { enrollAgent, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';

describe('a fleet of five', () => {
  let dir: string;
  let server: TestServer;
  const agents: TestAgent[] = [];
  before(async () => {
    dir = tempDir();
    server = await startServer(dir, ['--heartbeat-interval', '0.5']);
    const configs = await Promise.all([
      enrollAgent(server, dir, 'f1', ['--label', 'env=prod']),
      enrollAgent(server, dir, 'f2', ['--label', 'env=prod']),
      enrollAgent(server, dir, 'f3', ['--label', 'env=dev']),
      enrollAgent(server, dir, 'f4'),
      enrollAgent(server, dir, 'f5', ['--no-web', '--label', 'env=prod']),
    ]);
    agents.push(...(await Promise.all(configs.map((c, i) => startAgent(c, i === 4 ? [] : ['--web-port', '0'])))));
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.proc.kill()));
    await server.proc.kill();
  });

  const names = (stdout: string) => (JSON.parse(stdout) as CommandRecord[]).map((c) => c.agent_name).sort();

  test('--label selects the agents carrying every given label, from config or set by the operator', async () => {
    const prod = await server.myx(['run', '--label', 'env=prod', '--json', '--', 'true']);
    assert.equal(prod.code, 0, prod.stderr);
    assert.deepEqual(names(prod.stdout), ['f1', 'f2', 'f5']);

    const set = await server.myx(['agents', 'label', 'f2', 'role=web']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /env=prod role=web/);
    await server.myx(['agents', 'label', 'f4', 'role=web']);
    const web = await server.myx(['run', '--label', 'role=web', '--json', '--', 'true']);
    assert.deepEqual(names(web.stdout), ['f2', 'f4']);
    const both = await server.myx(['run', '--label', 'env=prod', '--label', 'role=web', '--json', '--', 'true']);
    assert.deepEqual(names(both.stdout), ['f2']);

    await server.myx(['agents', 'label', 'f4', 'role-']);
    const after = await server.myx(['run', '--label', 'role=web', '--json', '--', 'true']);
    assert.deepEqual(names(after.stdout), ['f2']);
    const list = JSON.parse((await server.myx(['agents', '--json'])).stdout) as { name: string; labels: Record<string, string> }[];
    assert.deepEqual(list.find((a) => a.name === 'f2')!.labels, { env: 'prod', role: 'web' });
  });

  test('an empty target set is an error', async () => {
    const none = await server.myx(['run', '--label', 'env=nowhere', '--', 'true']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no agent carries env=nowhere/);
    const mixed = await server.myx(['run', '--all', '--label', 'env=prod', '--', 'true']);
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /one way/);
  });

  test('--max-concurrency 2: never more than 2 agents run at once (observed on the agents)', async () => {
    const log = join(dir, 'concurrency.log');
    writeFileSync(log, '');
    const r = await server.myx(['run', '--all', '--max-concurrency', '2', '--json', '--', 'sh', '-c', `echo start >> ${log}; sleep 0.4; echo end >> ${log}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as CommandRecord[]).length, 5);
    let running = 0;
    let most = 0;
    for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
      running += line === 'start' ? 1 : -1;
      most = Math.max(most, running);
    }
    assert.equal(running, 0);
    assert.equal(most, 2);
  });

  test('--max-concurrency 40% of 5 agents is 2 at a time', async () => {
    const r = await server.myx(['run', '--all', '--max-concurrency', '40%', '--', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /5 agents \(all\), 2 at a time/);
  });

  test('--max-errors 2 with one at a time: after two failures the rest are skipped', async () => {
    const r = await server.myx(['run', '--all', '--max-concurrency', '1', '--max-errors', '2', '--json', '--', 'false']);
    assert.equal(r.code, 1);
    const records = JSON.parse(r.stdout) as CommandRecord[];
    const by = records.reduce<Record<string, number>>((m, c) => ({ ...m, [c.status]: (m[c.status] ?? 0) + 1 }), {});
    assert.deepEqual(by, { failed: 2, skipped: 3 });
    for (const c of records.filter((x) => x.status === 'skipped')) assert.match(c.error ?? '', /--max-errors 2/);
    const human = await server.myx(['run', '--all', '--max-concurrency', '1', '--max-errors', '1', '--', 'false']);
    assert.match(human.stderr, /0 succeeded, 1 failed, 0 timed out, 0 unreachable, 4 skipped/);
  });

  test('runs have ids, targets, counts and a summary: myx runs, myx show RUN_ID', async () => {
    const r = await server.myx(['run', '--label', 'env=prod', '--group', '--', 'echo', 'ok']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /── 3 agents \(f1, f2, f5\): ok/);
    assert.match(r.stderr, /3 succeeded, 0 failed, 0 timed out, 0 unreachable/);
    const runId = /(run_\w+): 3 agents \(label env=prod\)/.exec(r.stderr)![1]!;

    const runs = JSON.parse((await server.myx(['runs', '--json'])).stdout) as RunRecord[];
    const run = runs.find((x) => x.id === runId)!;
    assert.deepEqual([run.target, run.total, run.counts, run.done, run.command, run.args], ['label env=prod', 3, { succeeded: 3 }, true, 'echo', ['ok']]);
    const table = (await server.myx(['runs'])).stdout;
    assert.match(table, new RegExp(`${runId}\\s.*done\\s+3\\s+3/3\\s+label env=prod`));

    const shown = await server.myx(['show', runId]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /summary: +3 succeeded, 0 failed, 0 timed out, 0 unreachable/);
    assert.match(shown.stdout, /f5: succeeded/);
    const json = JSON.parse((await server.myx(['show', runId, '--json'])).stdout) as { run: RunRecord; commands: CommandRecord[] };
    assert.equal(json.commands.length, 3);
  });

  test('a large run prints a status line per agent and groups identical outputs', async () => {
    const r = await server.myx(['run', '--all', '--group', '--', 'sh', '-c', 'echo same']);
    assert.equal(r.code, 0, r.stderr);
    for (const n of ['f1', 'f2', 'f3', 'f4', 'f5']) assert.match(r.stdout, new RegExp(`^${n}: \\[succeeded`, 'm'));
    assert.match(r.stdout, /── 5 agents \(f1, f2, f3, f4, f5\): same/);
  });
});

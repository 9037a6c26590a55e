// `myx agents remove`: the agent's unfinished commands end (a running one is stopped on its host),
// every record stays, waiting clients and rate control move on, the agent's token stops working,
// its daemon says so once and then checks back rarely, and its name is free for a new agent.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import type { AgentView, CommandRecord, RunRecord } from '../src/protocol/wire.ts';
import {
  enrollAgent, eventually, existsSync, pidRunning, ROOT, runBin, startAgent, startProc, startServer, tempDir, type Proc, type TestAgent,
  type TestServer,
} from './helpers.ts';

const MYX_AGENT = join(ROOT, 'bin', 'myx-agent.js');
const REMOVED_LINE = /this agent was removed from the control plane/;

describe('removing agents', () => {
  let dir: string;
  let server: TestServer;
  let client: OperatorClient;
  let web: TestAgent;
  let keep: TestAgent;
  let pollConfig: string;
  let pollDaemon: Proc | undefined;
  let running: TestAgent;

  before(async () => {
    dir = tempDir();
    // debug: the control plane logs each rejected request, so the test can count the removed agents' tries
    server = await startServer(dir, ['--heartbeat-interval', '0.5', '--log-level', 'debug']);
    client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
    const [webCfg, keepCfg, pollCfg, runningCfg] = await Promise.all([
      enrollAgent(server, dir, 'rm-web'),
      enrollAgent(server, dir, 'rm-keep'),
      enrollAgent(server, dir, 'rm-poll', ['--no-web']),
      enrollAgent(server, dir, 'rm-running', ['--no-web']),
    ]);
    pollConfig = pollCfg;
    [web, keep, running] = await Promise.all([startAgent(webCfg), startAgent(keepCfg), startAgent(runningCfg, [])]);
  });
  after(async () => {
    await client?.close();
    await Promise.all([pollDaemon, web?.proc, keep?.proc, running?.proc].map((p) => p?.kill('SIGKILL')));
    await server?.proc.kill();
  });

  /** A `myx` process left running while the test goes on. */
  const myxInBackground = (args: string[]) => runBin('myx', args, { MYX_DATA_DIR: server.dataDir });
  const rejected = (url: RegExp) => server.proc.output().split('\n')
    .filter((l) => l.includes('"code":"AGENT_REMOVED"') && url.test((JSON.parse(l) as { url?: string }).url ?? '')).length;

  test('a running command is stopped on its host, a queued one never starts, waiting clients finish, rate control moves on', async (t) => {
    const log = join(dir, 'started.log');
    const go = join(dir, 'go');
    writeFileSync(log, '');
    // rm-web runs first (--max-concurrency 1); rm-keep waits for its slot
    const run1 = myxInBackground(['run', '--agent', 'rm-web', '--agent', 'rm-keep', '--max-concurrency', '1', '--json', '--',
      'sh', '-c', `echo $$ >> ${log}; while [ ! -e ${go} ]; do sleep 0.1; done`]);
    const pid = await eventually(() => Number(readFileSync(log, 'utf8').split('\n')[0]) || undefined, 20_000, 'rm-web to start the command');
    // rm-poll's daemon is not running: its command stays queued
    const run2 = myxInBackground(['run', '--agent', 'rm-poll', '--json', '--', 'touch', join(dir, 'never')]);
    const [queued] = await eventually(async () => {
      const list = await client.commands({ agent: 'rm-poll' });
      return list.length === 1 && list[0]!.status === 'queued' ? list : undefined;
    }, 20_000, 'the command for rm-poll to be queued');
    const waiting = client.wait([queued!.id], 25);

    const removed = await server.myx(['agents', 'remove', 'rm-web']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /^removed agent rm-web \(agt_\w+\); its token no longer works\. 1 unfinished command cancelled; 1 of them were with the agent: 1 stopped at once, none left\.\n$/);
    await eventually(() => !pidRunning(pid), 20_000, 'the command\'s process to be killed on the removed agent\'s host');

    // the run's next agent starts in the freed slot, and finishes
    await eventually(() => readFileSync(log, 'utf8').trim().split('\n').length === 2, 20_000, 'rm-keep to start');
    writeFileSync(go, '');
    const done1 = await run1;
    assert.equal(done1.code, 1, done1.stderr);
    const records = JSON.parse(done1.stdout) as CommandRecord[];
    const byName = Object.fromEntries(records.map((c) => [c.agent_name, c]));
    assert.deepEqual([byName['rm-web']!.status, byName['rm-keep']!.status], ['cancelled', 'succeeded']);
    assert.match(byName['rm-web']!.error!, /^agent removed after the command was handed to it/);

    const removedPoll = await server.myx(['agents', 'remove', 'rm-poll']);
    assert.equal(removedPoll.code, 0, removedPoll.stderr);
    assert.match(removedPoll.stdout, /1 unfinished command cancelled\.\n$/);
    const done2 = await run2;
    assert.equal(done2.code, 1, done2.stderr);
    const [pollRecord] = JSON.parse(done2.stdout) as CommandRecord[];
    assert.deepEqual([pollRecord!.status, pollRecord!.error], ['cancelled', 'agent removed before the command started']);
    const waited = await waiting;
    assert.deepEqual([waited.done, waited.commands[0]!.status], [true, 'cancelled'], 'POST /api/commands/wait answers');
    assert.equal(existsSync(join(dir, 'never')), false);

    // every record stays, under the agent's name
    const shown = await server.myx(['show', byName['rm-web']!.id]);
    assert.match(shown.stdout, /agent: +rm-web \(agt_/);
    assert.match(shown.stdout, /status: +cancelled, .*agent removed after the command was handed to it/);
    const history = JSON.parse((await server.myx(['commands', '--agent', 'rm-web', '--json'])).stdout) as CommandRecord[];
    assert.deepEqual(history.map((c) => [c.id, c.agent_name]), [[byName['rm-web']!.id, 'rm-web']]);
    const run = (JSON.parse((await server.myx(['runs', '--json'])).stdout) as RunRecord[]).find((r) => r.id === records[0]!.run_id);
    assert.deepEqual([run!.done, run!.counts], [true, { cancelled: 1, succeeded: 1 }]);
    assert.match((await server.myx(['show', run!.id])).stdout, /rm-web: cancelled/);

    const listed = JSON.parse((await server.myx(['agents', '--json'])).stdout) as AgentView[];
    assert.deepEqual(listed.map((a) => a.name), ['rm-keep', 'rm-running']);
    const gone = JSON.parse((await server.myx(['agents', '--removed', '--json'])).stdout) as AgentView[];
    assert.deepEqual(gone.map((a) => a.name).sort(), ['rm-poll', 'rm-web']);
    assert.ok(gone.every((a) => a.removed_at !== null && a.status === 'offline'));
    assert.match((await server.myx(['agents', '--removed'])).stdout, /^NAME +ID +REMOVED/);
    const again = await server.myx(['agents', 'remove', 'rm-web']);
    assert.deepEqual([again.code, /no agent with name or id "rm-web"/.test(again.stderr)], [2, true]);

    // the removed agent reports its command cancelled; that report is refused and changes nothing
    await eventually(() => rejected(/\/api\/agents\/commands\/.*\/result$/) > 0, 20_000, 'the removed agent\'s result report');
    const after = await client.command(byName['rm-web']!.id);
    assert.deepEqual([after.status, after.error], ['cancelled', byName['rm-web']!.error]);
    t.diagnostic(`cancel pushed and process ${pid} killed; the rate-controlled run finished on rm-keep`);
  });

  test('a removed daemon says so once, then checks back every few minutes instead of every heartbeat', async (t) => {
    pollDaemon = startProc(MYX_AGENT, ['--config', pollConfig]);
    await pollDaemon.waitFor(REMOVED_LINE);
    await web.proc.waitFor(REMOVED_LINE);
    const tries = rejected(/^\/api\/agents\/heartbeat$/);
    assert.equal(tries, 2, 'one heartbeat of each removed daemon so far');
    // 12 heartbeat intervals of 0.5 s: at the normal pace, each daemon would have tried about 12 times more
    await sleep(6000);
    assert.equal(rejected(/^\/api\/agents\/heartbeat$/), tries, 'no other heartbeat in the meantime');
    for (const p of [pollDaemon, web.proc]) {
      assert.equal(p.output().split('\n').filter((l) => REMOVED_LINE.test(l)).length, 1, 'said once');
      assert.ok(pidRunning(p.child.pid!), 'and still running, to check back later');
    }
    const line = JSON.parse(web.proc.output().split('\n').find((l) => REMOVED_LINE.test(l))!) as { level: number; msg: string; retry_in_ms: number };
    assert.equal(line.level, 50, 'an error');
    assert.equal(line.retry_in_ms, 300_000);
    assert.match(line.msg, /enroll it again with a new token/);
    t.diagnostic(`heartbeats refused in 6 s after the first: ${rejected(/^\/api\/agents\/heartbeat$/) - tries}`);
  });

  test('a poll-mode agent removed while it runs a command: the command ends cancelled at once, and the agent stops it when it hears', async () => {
    const log = join(dir, 'poll-started.log');
    writeFileSync(log, '');
    const [c] = await client.createCommands({ targets: { agents: ['rm-running'] }, command: 'sh', args: ['-c', `echo $$ >> ${log}; sleep 60`] });
    const pid = await eventually(() => Number(readFileSync(log, 'utf8').split('\n')[0]) || undefined, 20_000, 'rm-running to start the command');
    await eventually(async () => (await client.command(c!.id)).status === 'running', 20_000, 'the command to be running');
    const r = await client.removeAgent('rm-running');
    assert.deepEqual([r.cancelled, r.running, r.cancel_pushed], [1, 1, 0], 'a poll-mode agent cannot be pushed to');
    assert.equal((await client.command(c!.id)).status, 'cancelled', 'ended at once');
    await running.proc.waitFor(REMOVED_LINE);
    await eventually(() => !pidRunning(pid), 20_000, 'the removed agent to stop its command');
    assert.equal((await client.command(c!.id)).status, 'cancelled');
  });

  test('a new agent can enroll with a removed agent\'s name; the old records keep the old agent', async () => {
    const [old] = await client.commands({ agent: 'rm-web' });
    await web.proc.kill();
    const cfg = await enrollAgent(server, dir, 'rm-web', ['--force']);
    web = await startAgent(cfg);
    const r = await server.myx(['run', '--agent', 'rm-web', '--json', '--', 'echo', 'back']);
    assert.equal(r.code, 0, r.stderr);
    const [fresh] = JSON.parse(r.stdout) as CommandRecord[];
    assert.equal(fresh!.stdout, 'back\n');
    assert.notEqual(fresh!.agent_id, old!.agent_id);
    const kept = await client.command(old!.id);
    assert.deepEqual([kept.agent_id, kept.agent_name, kept.status], [old!.agent_id, 'rm-web', 'cancelled']);
    assert.deepEqual((await client.commands({ agent: 'rm-web' })).map((c) => c.id), [fresh!.id], 'by name: the enrolled agent');
    assert.deepEqual((await client.commands({ agent: old!.agent_id })).map((c) => c.id), [old!.id], 'by id: the removed one');
  });
});

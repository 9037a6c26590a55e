// Prometheus metrics scraped from real processes: a control plane (its HTTPS API for a viewer's
// token, and --metrics-listen on loopback) with a web-mode and a poll-mode agent (metrics_listen).
// The text parses, the key series exist with bounded labels, and they move with what happens:
// runs, a held long poll, an open event stream, a queue for an agent that is away, a failed push.

import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { enrollAgent, eventually, runBin, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';
import { Scrape } from './metrics-text.ts';
import { closePool, send } from './raw-http.ts';

const urlIn = (proc: { output: () => string }) => JSON.parse(proc.output().split('\n').find((l) => l.includes('"metrics_url"'))!).metrics_url as string;

async function scrapeHttp(url: string): Promise<Scrape> {
  const r = await fetch(url);
  assert.equal(r.status, 200, url);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return new Scrape(await r.text());
}

describe('metrics of a control plane and its agents', () => {
  const dir = tempDir();
  let server: TestServer;
  let web: TestAgent;
  let poll: TestAgent;
  let local: string;
  let viewerToken: string;
  const cp = () => scrapeHttp(local);

  before(async () => {
    server = await startServer(dir, ['--metrics-listen', '127.0.0.1:0', '--heartbeat-interval', '1']);
    local = urlIn(server.proc);
    const [w, p] = await Promise.all([enrollAgent(server, dir, 'm-web'), enrollAgent(server, dir, 'm-poll', ['--no-web'])]);
    [web, poll] = await Promise.all([startAgent(w, ['--web-port', '0', '--metrics-listen', '127.0.0.1:0']), startAgent(p, ['--metrics-listen', '127.0.0.1:0'])]);
    const added = await server.myx(['operators', 'add', 'watcher', '--role', 'viewer', '--json']);
    assert.equal(added.code, 0, added.stderr);
    viewerToken = (JSON.parse(added.stdout) as { token: string }).token;
  });
  after(async () => {
    closePool();
    await Promise.all([web?.proc.kill(), poll?.proc.kill()]);
    await server?.proc.kill();
  });

  test('the HTTPS API serves /metrics to a viewer\'s Bearer token, and to no one without a token', async () => {
    const ok = await send(`${server.url}/metrics`, { headers: { authorization: `Bearer ${viewerToken}` } });
    assert.equal(ok.status, 200, ok.text);
    assert.match(String(ok.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const m = new Scrape(ok.text);
    assert.equal(m.value('myx_build_info', { store: process.env.MYX_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite' }), 1);
    const none = await send(`${server.url}/metrics`);
    assert.deepEqual([none.status, none.body?.error?.code], [401, 'OPERATOR_TOKEN_MISSING']);
    const agentToken = await send(`${server.url}/metrics`, { headers: { authorization: `Bearer ${web.token()}` } });
    assert.equal(agentToken.status, 401);
  });

  test('the loopback listener answers GET /metrics only', async () => {
    const other = await fetch(local.replace(/\/metrics$/, '/api/agents'));
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
    const post = await fetch(local, { method: 'POST' });
    assert.equal(post.status, 404);
  });

  test('the control plane\'s key series exist, every label from a fixed set', async () => {
    const m = await eventually(async () => {
      const s = await cp();
      return s.value('myx_agents', { status: 'online', mode: 'web' }) === 1 && s.value('myx_agents', { status: 'online', mode: 'poll' }) === 1 ? s : null;
    }, 20_000, 'both agents counted online');
    for (const name of ['myx_commands', 'myx_commands_oldest_age_seconds']) {
      assert.deepEqual([...m.labelValues(name, 'status')].sort(), ['dispatched', 'queued', 'running', 'waiting'], name);
    }
    for (const name of ['myx_long_polls_held', 'myx_event_streams_open', 'myx_sweeper', 'myx_event_loop_delay_seconds_count',
      'process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_p99_seconds', 'process_open_fds']) {
      assert.ok(m.find(name), `${name} is there`);
    }
    assert.equal(m.value('myx_sweeper'), 1, 'one process: it sweeps');
    assert.equal(m.types.get('myx_push_duration_seconds'), 'histogram');
    assert.equal(m.types.get('myx_store_operation_seconds'), 'histogram');
    assert.ok(m.value('myx_store_operation_seconds_count', { op: 'recordHeartbeat' }) > 0, 'heartbeats are timed in the store');
    // no label names an agent, a command or a token
    const text = m.samples.map((s) => JSON.stringify(s.labels)).join('\n');
    for (const secret of ['m-web', 'm-poll', 'agt_', 'cmd_', viewerToken, web.token()]) assert.ok(!text.includes(secret), `labels hold ${secret}`);
  });

  test('after a run on both agents, status changes, pushes and the agents\' own counters have moved', async () => {
    const before = await cp();
    const [wb, pb] = await Promise.all([scrapeHttp(urlIn(web.proc)), scrapeHttp(urlIn(poll.proc))]);
    const r = await server.myx(['run', '--all', '--', 'true']);
    assert.equal(r.code, 0, r.stderr);
    const after = await cp();
    const changed = (status: string) => after.value('myx_command_status_changes_total', { status }) - before.value('myx_command_status_changes_total', { status });
    assert.equal(changed('succeeded'), 2);
    assert.ok(changed('queued') >= 2);
    assert.ok(after.value('myx_push_duration_seconds_count', { outcome: 'ok' }) > (before.find('myx_push_duration_seconds_count', { outcome: 'ok' })?.value ?? 0));
    assert.ok(after.value('myx_store_operation_seconds_count', { op: 'recordResult' }) >= 2);
    const [wa, pa] = await Promise.all([scrapeHttp(urlIn(web.proc)), scrapeHttp(urlIn(poll.proc))]);
    for (const [b, a, what] of [[wb, wa, 'web'], [pb, pa, 'poll']] as const) {
      assert.equal(a.value('myx_agent_commands_accepted_total') - b.value('myx_agent_commands_accepted_total'), 1, what);
      assert.equal(a.sum('myx_agent_commands_finished_total', { status: 'succeeded' }) - b.sum('myx_agent_commands_finished_total', { status: 'succeeded' }), 1, what);
      assert.equal(a.value('myx_agent_link_state', { state: 'connected' }), 1, what);
      assert.equal(a.value('myx_agent_link_state', { state: 'disconnected' }), 0, what);
      assert.equal(a.value('myx_agent_journal_writable'), 1, what);
      assert.ok(a.value('myx_agent_journal_bytes') > 0, what);
      assert.equal(a.value('myx_agent_commands_running'), 0, what);
      assert.equal(a.value('myx_agent_results_held'), 0, what);
      assert.equal(a.value('myx_agent_build_info', { mode: what }), 1);
    }
    assert.equal(wa.sum('myx_agent_requests_total', { route: '/api/execute', code: '2xx' }) - wb.sum('myx_agent_requests_total', { route: '/api/execute', code: '2xx' }), 1, 'the push was served');
    assert.equal(pa.find('myx_agent_requests_total'), undefined, 'a poll-mode agent serves no requests');
  });

  test('a poll-mode agent\'s long poll shows as held', async () => {
    await eventually(async () => (await cp()).value('myx_long_polls_held') === 1, 15_000, 'one long poll held');
  });

  test('an open event stream counts while it is open', async () => {
    const admin = { authorization: `Bearer ${readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim()}` };
    const run = await send(`${server.url}/api/runs`, { headers: admin, json: { targets: { agents: ['m-web'] }, command: 'sleep', args: ['30'] } });
    assert.equal(run.status, 201, run.text);
    const id = (run.body.commands as { id: string }[])[0]!.id;
    const port = Number(new URL(server.url).port);
    const stream = request({ host: '127.0.0.1', port, path: `/api/commands/stream?ids=${id}`, rejectUnauthorized: false, headers: { authorization: `Bearer ${viewerToken}` } });
    const opened = new Promise<void>((res) => stream.once('response', () => res()));
    stream.end();
    await opened;
    await eventually(async () => (await cp()).value('myx_event_streams_open') === 1, 10_000, 'the stream counted');
    stream.destroy();
    await eventually(async () => (await cp()).value('myx_event_streams_open') === 0, 10_000, 'the stream no longer counted');
    assert.equal((await send(`${server.url}/api/commands/${id}/cancel`, { headers: admin, method: 'POST' })).status, 200);
  });
});

describe('metrics of the queue and of failed pushes', () => {
  const dir = tempDir();
  let server: TestServer;
  let local: string;

  before(async () => {
    server = await startServer(dir, ['--metrics-listen', '127.0.0.1:0', '--heartbeat-interval', '1']);
    local = urlIn(server.proc);
  });
  after(async () => {
    await server?.proc.kill();
  });

  test('commands for agents that are away are counted queued, with the age of the oldest; a refused push is counted by its reason', async () => {
    const web = await startAgent(await enrollAgent(server, dir, 'q-web'), ['--web-port', '0']);
    const poll = await startAgent(await enrollAgent(server, dir, 'q-poll', ['--no-web']), []);
    await Promise.all([web.proc.kill(), poll.proc.kill()]);
    const before = await scrapeHttp(local);
    const r = await runBin('myx', ['run', '--all', '--ttl', '10m', '--json', '--', 'true'], { MYX_DATA_DIR: server.dataDir }, 5_000).catch((err: Error) => err);
    void r; // it waits for agents that are not there: only the queue matters here
    const m = await eventually(async () => {
      const s = await scrapeHttp(local);
      return s.value('myx_commands', { status: 'queued' }) === 2 && s.value('myx_commands_oldest_age_seconds', { status: 'queued' }) > 0 ? s : null;
    }, 20_000, 'two queued commands counted, the oldest with an age');
    const refused = m.sum('myx_push_failures_total', { reason: 'unreachable' }) - before.sum('myx_push_failures_total', { reason: 'unreachable' });
    assert.equal(refused, 1, 'the push to the stopped web agent was refused');
    assert.ok(m.value('myx_push_duration_seconds_count', { outcome: 'failed' }) >= 1);
    await eventually(async () => (await scrapeHttp(local)).value('myx_agents', { status: 'offline', mode: 'poll' }) === 1, 20_000, 'the poll agent counted offline');
  });

  test('--metrics-listen takes loopback addresses only, on the control plane and the agent', async () => {
    const cp = await runBin('myx', ['server', '--data-dir', join(dir, 'other'), '--listen', '127.0.0.1:0', '--metrics-listen', '0.0.0.0:9464']);
    assert.equal(cp.code, 2);
    assert.match(cp.stderr, /--metrics-listen must be a loopback address .*got "0\.0\.0\.0"/);
    const config = join(dir, 'q-web', 'config.json');
    assert.ok(readFileSync(config, 'utf8').length > 0);
    const agent = await runBin('myx-agent', ['--config', config, '--metrics-listen', '192.168.1.10:9465']);
    assert.equal(agent.code, 2);
    assert.match(agent.stderr, /--metrics-listen must be a loopback address/);
  });
});

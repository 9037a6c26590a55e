// The SDK against a real control plane and real agents: a run started from code, followed event by
// event (output as printed, status changes, the end), waited for, cancelled; wait() and events()
// carried across a restart of the control plane and the death of a replica, with nothing lost or
// shown twice; and its errors, typed with the API's stable codes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isFinal } from '../src/protocol/command-status.ts';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { connect, MyxError, type MyxClient, type RunEvent } from '../src/sdk/index.ts';
import { enrollAgent, freePort, startAgent, startServer, tempDir, type TestServer } from './helpers.ts';
import { postgresSkip } from './postgres-server.ts';
import { twoReplicas, type T } from './replica-helpers.ts';

const FAST = ['--heartbeat-interval', '0.5'];

async function client(t: T, server: TestServer): Promise<MyxClient> {
  const c = await connect({ dataDir: server.dataDir });
  t.after(() => c.close());
  return c;
}

/** Collects a run's events until `until` says stop (or the iteration ends). */
async function collect(events: AsyncIterable<RunEvent>, until: (ev: RunEvent, all: RunEvent[]) => boolean = () => false): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  for await (const ev of events) {
    all.push(ev);
    if (until(ev, all)) break;
  }
  return all;
}

const outputOf = (events: RunEvent[], agent: string) => events.flatMap((e) => (e.type === 'output' && e.agent === agent ? [e.data] : [])).join('');
const statusesOf = (events: RunEvent[], agent: string) => events.flatMap((e) => (e.type === 'status' && e.command.agent_name === agent ? [e.command.status] : []));

describe('the SDK on a fleet', () => {
  test('runs a command on the agents with a label, follows output and every status change, and waits for the final records', { timeout: 90_000 }, async (t) => {
    const dir = tempDir(t);
    const server = await startServer(dir, FAST);
    t.after(() => server.proc.kill());
    const agents = await Promise.all([
      enrollAgent(server, dir, 'web-1', ['--label', 'role=web']).then((c) => startAgent(c)),
      enrollAgent(server, dir, 'web-2', ['--label', 'role=web', '--no-web']).then((c) => startAgent(c, [])),
      enrollAgent(server, dir, 'db-1', ['--label', 'role=db']).then((c) => startAgent(c)),
    ]);
    t.after(() => Promise.all(agents.map((a) => a.proc.kill())));
    const myx = await client(t, server);
    assert.deepEqual((await myx.agents()).map((a) => [a.name, a.labels.role]), [['db-1', 'db'], ['web-1', 'web'], ['web-2', 'web']]);

    const run = await myx.run({ targets: { labels: { role: 'web' } }, command: 'sh', args: ['-c', 'echo one; sleep 1; echo two >&2; exit 3'], timeout: 30 });
    assert.match(run.id, /^run_/);
    assert.deepEqual(run.commands.map((c) => c.agent_name), ['web-1', 'web-2']);
    const events = await collect(run.events());
    const end = events.at(-1)!;
    assert.equal(end.type, 'end');
    for (const name of ['web-1', 'web-2']) {
      assert.equal(outputOf(events, name), 'one\ntwo\n', `${name}: output as printed, once`);
      const seen = statusesOf(events, name);
      assert.equal(seen.at(-1), 'failed', `${name}: ${seen.join(' ')}`);
      assert.ok(seen.includes('running'), `${name} was seen running: ${seen.join(' ')}`);
      assert.equal(new Set(seen).size, seen.length, `${name}: each status once: ${seen.join(' ')}`);
    }
    // the final status event of each command comes after all its output
    const lastOutput = events.findLastIndex((e) => e.type === 'output');
    assert.ok(events.findIndex((e) => e.type === 'status' && isFinal(e.command.status)) > events.findIndex((e) => e.type === 'output'));
    assert.ok(lastOutput < events.length - 1);
    const records = await run.wait();
    assert.deepEqual(records.map((c) => [c.agent_name, c.status, c.exit_code, c.stdout, c.stderr]), [
      ['web-1', 'failed', 3, 'one\n', 'two\n'], ['web-2', 'failed', 3, 'one\n', 'two\n']]);
    assert.deepEqual(end.type === 'end' && end.commands.map((c) => c.status), ['failed', 'failed']);
    // reads
    assert.equal((await myx.runs({ limit: 5 }))[0]!.id, run.id);
    assert.equal((await myx.command(records[0]!.id)).exit_code, 3);
    assert.deepEqual((await myx.commands({ agent: 'web-2' })).map((c) => c.id), [records[1]!.id]);
    const pages = [];
    for await (const page of myx.outputPages(records[0]!.id)) pages.push(page.data);
    assert.equal(pages.join(''), 'one\ntwo\n');
    // a second follower, attached by id, sees the whole story too
    const again = await collect((await myx.attach(run.id)).events({ statuses: 'final' }));
    assert.deepEqual(again.map((e) => e.type).filter((x) => x !== 'output'), ['status', 'status', 'end']);
  });

  test('cancel() stops a running run: its commands end cancelled, their process groups killed', { timeout: 90_000 }, async (t) => {
    const dir = tempDir(t);
    const server = await startServer(dir, FAST);
    t.after(() => server.proc.kill());
    const agents = await Promise.all(['c-1', 'c-2'].map((n, i) => enrollAgent(server, dir, n, i ? ['--no-web'] : []).then((c) => startAgent(c, i ? [] : ['--web-port', '0']))));
    t.after(() => Promise.all(agents.map((a) => a.proc.kill())));
    const myx = await client(t, server);
    const run = await myx.run({ targets: { all: true }, command: 'sh', args: ['-c', 'echo started; sleep 120; echo never'] });
    const seen = await collect(run.events(), (_e, all) => ['c-1', 'c-2'].every((n) => outputOf(all, n) === 'started\n'));
    assert.equal(seen.filter((e) => e.type === 'output').length, 2);
    const outcomes = await run.cancel();
    assert.deepEqual(outcomes.map((o) => o.outcome).sort(), ['requested', 'requested']);
    const records = await run.wait();
    assert.deepEqual(records.map((c) => [c.agent_name, c.status, c.stdout]), [['c-1', 'cancelled', 'started\n'], ['c-2', 'cancelled', 'started\n']]);
    assert.equal((await run.cancel()).length, 0, 'nothing left to cancel');
  });

  test('wait() and events() outlast a restart of the control plane: the final records and all the output arrive, nothing twice', { timeout: 120_000 }, async (t) => {
    const dir = tempDir(t);
    const listen = ['--listen', `127.0.0.1:${await freePort()}`, ...FAST];
    let server = await startServer(dir, listen);
    t.after(() => server.proc.kill());
    const agents = await Promise.all([
      enrollAgent(server, dir, 'r-web').then((c) => startAgent(c)),
      enrollAgent(server, dir, 'r-poll', ['--no-web']).then((c) => startAgent(c, [])),
    ]);
    t.after(() => Promise.all(agents.map((a) => a.proc.kill())));
    const myx = await client(t, server);
    const go = join(dir, 'go');
    // prints, waits for the test's signal (a file), prints again: the second half happens while the control plane is down or back
    const run = await myx.run({ targets: { all: true }, command: 'sh', args: ['-c', `echo before; while [ ! -e ${go} ]; do sleep 0.1; done; echo after`] });
    const events: RunEvent[] = [];
    const following = (async () => {
      for await (const ev of run.events()) events.push(ev);
    })();
    const waiting = run.wait();
    while (['r-web', 'r-poll'].some((n) => outputOf(events, n) !== 'before\n')) await new Promise((r) => setTimeout(r, 50));

    await server.proc.kill('SIGKILL'); // the commands go on without it
    await import('node:fs/promises').then((fs) => fs.writeFile(go, ''));
    await new Promise((r) => setTimeout(r, 1500)); // the agents finish and spool their results meanwhile
    server = await startServer(dir, listen);

    const records = await waiting;
    assert.deepEqual(records.map((c) => [c.agent_name, c.status, c.stdout]), [['r-poll', 'succeeded', 'before\nafter\n'], ['r-web', 'succeeded', 'before\nafter\n']]);
    await following;
    for (const name of ['r-web', 'r-poll']) assert.equal(outputOf(events, name), 'before\nafter\n', `${name}: all the output, once`);
    const kinds = events.map((e) => e.type);
    assert.ok(kinds.indexOf('disconnected') >= 0 && kinds.indexOf('reconnected') > kinds.indexOf('disconnected'), kinds.join(' '));
    assert.equal(kinds.filter((k) => k === 'disconnected').length, 1, 'said once per loss');
    assert.equal(kinds.at(-1), 'end');
  });

  test('errors are MyxError with the API\'s code and status; connect() checks its options', async (t) => {
    await assert.rejects(connect({ server: 'https://127.0.0.1:1', token: '', fingerprint: 'ab'.repeat(32) }), (e: MyxError) => e instanceof MyxError && e.code === 'CONNECT_OPTIONS_INVALID');
    await assert.rejects(connect({ server: 'http://127.0.0.1:1', token: 't', fingerprint: 'ab'.repeat(32) }), (e: MyxError) => e.code === 'CONNECT_OPTIONS_INVALID' && /https:\/\/HOST:PORT/.test(e.message));
    await assert.rejects(connect({ server: 'https://127.0.0.1:1', token: 't', fingerprint: 'nope' }), (e: MyxError) => e.code === 'CONNECT_OPTIONS_INVALID');
    await assert.rejects(connect({ dataDir: tempDir(t) }), (e: MyxError) => e.code === 'DATA_DIR_UNREADABLE');

    const dir = tempDir(t);
    const server = await startServer(dir, FAST);
    t.after(() => server.proc.kill());
    const myx = await client(t, server);
    await assert.rejects(myx.command('cmd_nope'), (e: MyxError) => e instanceof MyxError && e.code === 'COMMAND_NOT_FOUND' && e.status === 404 && !e.retryable);
    await assert.rejects(myx.run({ targets: { labels: { role: 'none' } }, command: 'true' }), (e: MyxError) => e.code === 'NO_TARGETS' && e.status === 400);
    await assert.rejects(myx.run({ targets: { all: true }, command: 'true', maxConcurrency: '10 %' as `${number}%` }), (e: MyxError) => e.code === 'BAD_REQUEST');
    const token = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    const wrongPin = await connect({ server: server.url, token, fingerprint: 'ab'.repeat(32) });
    t.after(() => wrongPin.close());
    await assert.rejects(wrongPin.agents(), (e: MyxError) => e.code === 'CERT_PIN_MISMATCH' && e.status === 0 && !e.reached);
    const badToken = await connect({ server: server.url, token: 'myxo_nope', fingerprint: server.fingerprint });
    t.after(() => badToken.close());
    await assert.rejects(badToken.agents(), (e: MyxError) => e.code === 'OPERATOR_TOKEN_INVALID' && e.status === 401);
  });
});

describe('the SDK and replicas', { skip: postgresSkip() }, () => {
  test('wait() started on one replica resolves through another when that one dies', { timeout: 180_000 }, async (t) => {
    const { r1, r2, dir } = await twoReplicas(t, FAST);
    const agent = await startAgent(await enrollAgent(r1, dir, 'fo-web', ['--server', `${r1.url},${r2.url}`]));
    t.after(() => agent.proc.kill());
    const token = readFileSync(join(r1.dataDir, 'operator.token'), 'utf8').trim();
    const myx = await connect({ servers: [r1.url, r2.url], token, fingerprint: r1.fingerprint });
    t.after(() => myx.close());
    const go = join(dir, 'go');
    const run = await myx.run({ targets: { all: true }, command: 'sh', args: ['-c', `while [ ! -e ${go} ]; do sleep 0.1; done; echo through r2`] });
    const waiting = run.wait();
    await new Promise((r) => setTimeout(r, 500)); // the wait is held by r1
    await r1.proc.kill('SIGKILL');
    await import('node:fs/promises').then((fs) => fs.writeFile(go, ''));
    const records: CommandRecord[] = await waiting;
    assert.deepEqual(records.map((c) => [c.status, c.stdout]), [['succeeded', 'through r2\n']]);
    assert.equal(myx.url, r2.url);
  });
});

// One suite for the Store interface, run against every backend (SQLite, PostgreSQL). Each test
// gets its own fresh database; test/store-concurrency.test.ts checks two instances on one.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SqliteStore } from '../src/server/store/sqlite-store.ts';
import type { StoreEvent } from '../src/server/store/store-events.ts';
import type { OutputAppend } from '../src/server/store/output-store.ts';
import type { NewAgent, NewCommand, NewRun, Store } from '../src/server/store/store.ts';
import type { CommandResult, OutputChunk } from '../src/protocol/wire.ts';
import { tempDir } from './helpers.ts';
import { BACKENDS, freshStore } from './store-backends.ts';

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T02:00:00.000Z';

function agent(id: string, name = id): NewAgent {
  return {
    id, name, token: `tok-${id}`, tokenHash: `hash-${id}`, hostname: 'h', os: 'linux', version: '0', mode: 'web',
    web_port: 8443, fingerprint: null, advertise_address: null, labels: { env: 'test' }, remote_address: '127.0.0.1',
  };
}

function cmd(id: string, status: 'queued' | 'waiting' = 'queued') {
  return { id, status, agent_id: 'a1', command: 'echo', args: ['hi'], timeout: 5, env: null, cwd: null, expires_at: '2027-01-01T00:00:00.000Z' };
}

/** An enrollment token whose hash is `hash` (its id is `id-<hash>`), created at NOW. */
async function token(s: Store, hash: string, expiresAt: string, max = 1000) {
  return s.createEnrollmentToken({ id: `id-${hash}`, tokenHash: hash, expiresAt }, NOW, max);
}

/** Commands always belong to a run; a test that does not care gets one run per call. */
async function enqueue(s: Store, commands: NewCommand[], now: string, limits: Partial<NewRun> = {}) {
  const run = { id: `run-${commands[0]!.id}`, command: 'echo', args: [], target: 'test', max_concurrency: null, max_errors: null, requested_by: 'tester', ...limits };
  return (await s.createRun(run, commands, now)).commands;
}

/** Collects the store's events (all instances' on PostgreSQL, which arrive a little later). */
function listen(s: Store, t: { after: (fn: () => void) => void }) {
  const events: StoreEvent[] = [];
  t.after(s.subscribe((e) => {
    if (e.kind !== 'resync') events.push(e);
  }));
  return {
    /** The events heard once a marker (an `agent` event for `agent-<n>`, published by a removal) arrives. */
    async until(n: number): Promise<StoreEvent[]> {
      const marker = `mark-${n}`;
      await token(s, `e-${marker}`, LATER);
      await s.enrollAgent(`e-${marker}`, agent(marker), NOW);
      await s.removeAgent(marker, NOW);
      for (let i = 0; i < 400 && !events.some((e) => e.kind === 'agent' && e.agent_id === marker); i++) await new Promise((r) => setTimeout(r, 25));
      const at = events.findIndex((e) => e.kind === 'agent' && e.agent_id === marker);
      assert.ok(at >= 0, 'the marker event arrived');
      return events.slice(0, at);
    },
  };
}

/** Text chunks as an older agent sends them. */
const text = (chunks: OutputChunk[]): OutputAppend => ({ chunks, pieces: [] });

/** All the output kept of a command, both streams as printed, as text. */
async function allText(s: Store, id: string): Promise<string> {
  return Buffer.concat((await s.readOutput(id, 'all', 0, 1 << 30)).map((c) => c.data)).toString('utf8');
}

const result: CommandResult = {
  status: 'succeeded', exit_code: 0, signal: null, stdout: 'hi\n', stderr: '', stdout_bytes: 3, stderr_bytes: 0,
  stdout_truncated: false, stderr_truncated: false, error: null, started_at: NOW, finished_at: NOW,
};

for (const backend of BACKENDS) {
  describe(`Store: ${backend.name}`, { skip: backend.skip }, () => {
    test('an enrollment token works once, and not after it expires', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e1', '2026-01-01T01:00:00.000Z');
      assert.deepEqual(await s.enrollAgent('nope', agent('a0'), NOW), { ok: false, reason: 'unknown' });
      const ok = await s.enrollAgent('e1', agent('a1'), NOW);
      assert.equal(ok.ok, true);
      assert.deepEqual(await s.enrollAgent('e1', agent('a2'), NOW), { ok: false, reason: 'used' });
      await token(s, 'e2', '2026-01-01T01:00:00.000Z');
      assert.deepEqual(await s.enrollAgent('e2', agent('a3'), LATER), { ok: false, reason: 'expired' });
      await token(s, 'e3', LATER);
      assert.deepEqual(await s.enrollAgent('e3', agent('a4', 'a1'), NOW), { ok: false, reason: 'name_taken' });
      assert.equal((await s.agentByTokenHash('hash-a1'))?.labels.env, 'test');
    });

    test('commands go queued -> dispatched -> final, results are idempotent', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      const [c] = await enqueue(s, [cmd('c1')], NOW);
      assert.equal(c!.status, 'queued');
      assert.equal(c!.agent_name, 'a1');
      const claim = await s.claimForPush('c1', NOW, LATER);
      assert.equal(typeof claim, 'string');
      assert.equal(await s.claimForPush('c1', NOW, LATER), null, 'claimed once');
      assert.deepEqual((await s.claimForAgent('a1', NOW, LATER, 10)).commands, [], 'a claimed command is not handed out again');
      await s.releasePush('c1', claim!, 'connection refused');
      const q = (await s.getCommands(['c1']))[0]!;
      assert.deepEqual([q.status, q.delivery, q.last_push_error], ['queued', null, 'connection refused']);
      assert.notEqual(await s.claimForPush('c1', NOW, LATER), null);
      const d = (await s.getCommands(['c1']))[0]!;
      assert.deepEqual([d.status, d.delivery], ['dispatched', 'push']);
      assert.equal((await s.markStarted('c1', 'a1', NOW)).kind, 'ok');
      assert.equal((await s.getCommands(['c1']))[0]!.status, 'running');
      assert.equal((await s.recordResult('c1', 'other', result, NOW)).kind, 'not_yours');
      assert.equal((await s.recordResult('nope', 'a1', result, NOW)).kind, 'not_found');
      const first = await s.recordResult('c1', 'a1', result, NOW);
      assert.equal(first.kind, 'recorded');
      const again = await s.recordResult('c1', 'a1', { ...result, status: 'failed', stdout: 'other' }, NOW);
      assert.equal(again.kind, 'duplicate');
      const final = (await s.getCommands(['c1']))[0]!;
      assert.deepEqual([final.status, final.stdout, final.exit_code], ['succeeded', 'hi\n', 0]);
    });

    test('claims and results sent at once each take effect once: one claim wins a command, one result records it', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1'), cmd('c2'), cmd('c3')], NOW);
      // issued in one turn of the event loop (a backend may commit them together)
      const claims = await Promise.all([s.claimForPush('c1', NOW, LATER), s.claimForPush('c1', NOW, LATER), s.claimForPush('c2', NOW, LATER), s.claimForPush('nope', NOW, LATER)]);
      assert.equal(claims.filter((c) => c !== null).length, 2, 'c1 once, c2 once, nothing for an unknown id');
      assert.equal(claims[2] !== null && (claims[0] === null) !== (claims[1] === null), true);
      const results = await Promise.all([
        s.recordResult('c1', 'a1', result, NOW), s.recordResult('c1', 'a1', { ...result, status: 'failed' }, NOW),
        s.recordResult('c2', 'other', result, NOW), s.recordResult('nope', 'a1', result, NOW), s.recordResult('c2', 'a1', result, NOW),
      ]);
      assert.deepEqual(results.map((r) => r.kind).sort(), ['duplicate', 'not_found', 'not_yours', 'recorded', 'recorded']);
      const got = await s.getCommands(['c1', 'c2', 'c3']);
      assert.deepEqual(got.map((c) => [c.id, c.status]), [['c1', results[0]!.kind === 'recorded' ? 'succeeded' : 'failed'], ['c2', 'succeeded'], ['c3', 'queued']]);
      assert.equal((await s.claimForAgent('a1', NOW, LATER, 10)).commands.map((c) => c.id).join(), 'c3', 'the one left is handed out once, the rest never again');
    });

    test('poll delivery hands out queued commands under a lease; a lease that runs out queues again', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1'), cmd('c2')], NOW);
      const got = (await s.claimForAgent('a1', NOW, '2026-01-01T00:00:30.000Z', 10)).commands;
      assert.deepEqual(got.map((c) => [c.id, c.status, c.delivery]), [['c1', 'dispatched', 'poll'], ['c2', 'dispatched', 'poll']]);
      await s.markStarted('c2', 'a1', NOW);
      assert.deepEqual((await s.requeueExpiredLeases('2026-01-01T00:00:10.000Z')).length, 0, 'lease still runs');
      const back = await s.requeueExpiredLeases('2026-01-01T00:01:00.000Z');
      assert.deepEqual(back.map((c) => [c.id, c.status]), [['c1', 'queued']], 'only the unstarted one returns');
    });

    test('a hand-out that never reached its agent goes back to queued at once: only its own claim\'s unstarted commands', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1'), cmd('c2'), cmd('c3')], NOW);
      assert.notEqual(await s.claimForPush('c3', NOW, LATER), null);
      const handOut = await s.claimForAgent('a1', NOW, LATER, 10);
      assert.deepEqual(handOut.commands.map((c) => c.id), ['c1', 'c2']);
      await s.markStarted('c2', 'a1', NOW);
      assert.equal(await s.releaseHandOut('other', handOut.claim), 0, 'not another agent\'s');
      assert.equal(await s.releaseHandOut('a1', 'another claim'), 0, 'not another claim\'s');
      assert.equal(await s.releaseHandOut('a1', handOut.claim), 1);
      const after = await s.getCommands(['c1', 'c2', 'c3']);
      assert.deepEqual(after.map((c) => [c.id, c.status, c.delivery]), [['c1', 'queued', null], ['c2', 'running', 'poll'], ['c3', 'dispatched', 'push']]);
      const again = await s.claimForAgent('a1', NOW, LATER, 10);
      assert.deepEqual(again.commands.map((c) => c.id), ['c1'], 'handed out again');
      assert.notEqual(again.claim, handOut.claim);
      assert.equal(await s.releaseHandOut('a1', handOut.claim), 0, 'the first hand-out gives back nothing the second took');
      assert.equal((await s.getCommands(['c1']))[0]!.status, 'dispatched');
      assert.equal(await s.commandOwner('c1'), 'a1');
      assert.equal(await s.commandOwner('nope'), undefined);
    });

    test('a hand-out whose lease ran out gives back nothing once another hand-out took its commands', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1')], NOW);
      const first = await s.claimForAgent('a1', NOW, '2026-01-01T00:00:30.000Z', 10);
      assert.deepEqual((await s.requeueExpiredLeases('2026-01-01T00:01:00.000Z')).map((c) => c.id), ['c1']);
      const second = await s.claimForAgent('a1', '2026-01-01T00:01:00.000Z', LATER, 10);
      assert.deepEqual(second.commands.map((c) => c.id), ['c1']);
      assert.equal(await s.releaseHandOut('a1', first.claim), 0);
      assert.equal((await s.getCommands(['c1']))[0]!.status, 'dispatched', 'still with the second hand-out');
      assert.equal(await s.releaseHandOut('a1', second.claim), 1);
    });

    test('the delivery TTL: a queued command past it expires and is never handed out', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [{ ...cmd('c1'), expires_at: '2026-01-01T00:00:02.000Z' }], NOW);
      assert.deepEqual((await s.claimForAgent('a1', '2026-01-01T00:00:03.000Z', LATER, 10)).commands, []);
      const expired = await s.expireQueued('2026-01-01T00:00:03.000Z');
      assert.deepEqual(expired.map((c) => [c.id, c.status]), [['c1', 'expired']]);
    });

    test('cancel: a queued command ends cancelled at once, a running one gets a request', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1'), cmd('c2')], NOW);
      assert.equal((await s.requestCancel('c1', NOW)).kind, 'cancelled');
      await s.claimForPush('c2', NOW, LATER);
      await s.markStarted('c2', 'a1', NOW);
      assert.equal((await s.requestCancel('c2', NOW)).kind, 'requested');
      assert.deepEqual(await s.pendingCancels('a1'), ['c2']);
      await s.recordResult('c2', 'a1', { ...result, status: 'cancelled' }, NOW);
      assert.deepEqual(await s.pendingCancels('a1'), []);
      assert.equal((await s.requestCancel('c2', NOW)).kind, 'final');
      assert.equal((await s.requestCancel('nope', NOW)).kind, 'not_found');
    });

    test('text output of older agents is ordered and idempotent by character offset, kept as bytes, and capped', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1')], NOW);
      const keep = { head_bytes: 10, tail_bytes: 4 };
      const a = await s.appendOutput('c1', 'a1', text([{ offset: 0, stream: 'stdout', data: 'abc' }]), keep);
      assert.deepEqual(a.kind === 'ok' && [a.nextOffset, a.next, a.keep, a.accepted], [3, { stdout: 3, stderr: 0 }, keep, 3]);
      const again = await s.appendOutput('c1', 'a1', text([{ offset: 0, stream: 'stdout', data: 'abc' }, { offset: 3, stream: 'stderr', data: 'dé' }]), keep);
      assert.deepEqual(again.kind === 'ok' && [again.accepted, again.next], [3, { stdout: 3, stderr: 3 }], 'only what was new, in bytes');
      const gap = await s.appendOutput('c1', 'a1', text([{ offset: 9, stream: 'stdout', data: 'zz' }]), keep);
      assert.deepEqual(gap.kind === 'ok' && gap.nextOffset, 5, 'a gap is refused and the ack says where to resume');
      await s.appendOutput('c1', 'a1', text([{ offset: 5, stream: 'stdout', data: '123456789' }]), keep);
      assert.equal(await allText(s, 'c1'), 'abcdé1234567', 'stdout keeps its first 10 bytes');
      assert.equal((await s.appendOutput('c1', 'other', text([]), keep)).kind, 'not_yours');
      assert.equal((await s.appendOutput('nope', 'a1', text([]), keep)).kind, 'not_found');
    });

    test('commands are listed newest first, by agent and status', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1')], NOW);
      await enqueue(s, [cmd('c2')], LATER);
      assert.deepEqual((await s.listCommands({ agentId: 'a1' })).map((c) => c.id), ['c2', 'c1']);
      assert.deepEqual((await s.listCommands({ status: 'queued', limit: 1 })).map((c) => c.id), ['c2']);
    });

    test('rate control: waiting commands are queued as slots free, and skipped once errors reach the limit', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1'), cmd('c2', 'waiting'), cmd('c3', 'waiting'), cmd('c4', 'waiting')], NOW, { id: 'r1', max_concurrency: 1, max_errors: 2 });
      assert.deepEqual(await s.runsWithWaiting(), ['r1']);
      assert.deepEqual((await s.advanceRun('r1', NOW)).queued, [], 'no free slot while c1 is in flight');
      await s.recordResult('c1', 'a1', { ...result, status: 'failed', exit_code: 1 }, NOW);
      const next = await s.advanceRun('r1', NOW);
      assert.deepEqual(next.queued.map((c) => [c.id, c.status]), [['c2', 'queued']]);
      await s.recordResult('c2', 'a1', { ...result, status: 'timed_out' }, NOW);
      const stop = await s.advanceRun('r1', NOW);
      assert.deepEqual(stop.skipped.map((c) => [c.id, c.status]), [['c3', 'skipped'], ['c4', 'skipped']]);
      const run = (await s.getRun('r1'))!;
      assert.deepEqual([run.total, run.counts, run.done, run.stopped], [4, { failed: 1, timed_out: 1, skipped: 2 }, true, true]);
      assert.deepEqual((await s.listRuns(5)).map((r) => r.id), ['r1']);
    });

    test('an enrolled agent has no heartbeat until its daemon sends one; heartbeats update what it says about itself', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      assert.equal((await s.listAgents())[0]!.last_heartbeat_at, null, 'enrolled, never connected');
      const row = await s.recordHeartbeat('a1', { ...agent('a1'), mode: 'poll', web_port: null, fingerprint: 'AB' }, '127.0.0.9', LATER);
      assert.deepEqual([row.mode, row.web_port, row.fingerprint, row.remote_address, row.last_heartbeat_at], ['poll', null, 'AB', '127.0.0.9', LATER]);
      assert.equal((await s.listAgents()).length, 1);
    });

    test('the labels an agent reports are what its last heartbeat said: a change of value, key or order shows at once, and no other agent sees it', async (t) => {
      const s = await freshStore(backend, t);
      for (const id of ['a1', 'a2']) {
        await token(s, `e-${id}`, LATER);
        await s.enrollAgent(`e-${id}`, agent(id), NOW);
      }
      const beat = async (labels: Record<string, string>) => (await s.recordHeartbeat('a1', { ...agent('a1'), labels }, null, LATER)).labels;
      const said: Record<string, string>[] = [{}, { role: 'db' }, { role: 'db' }, { role: 'web' }, { role: 'web', zone: 'a' }, { zone: 'a', role: 'web' }, { zone: 'a' }, {}];
      for (const labels of said) {
        assert.deepEqual(Object.entries(await beat(labels)), Object.entries(labels));
        const listed = await s.listAgents();
        assert.deepEqual(Object.entries(listed.find((a) => a.id === 'a1')!.labels), Object.entries(labels));
        assert.deepEqual(listed.find((a) => a.id === 'a2')!.labels, agent('a2').labels);
      }
    });

    test('fleet counts: agents by status and mode (removed ones not), live commands by status with the oldest; final ones are not counted', async (t) => {
      const s = await freshStore(backend, t);
      for (const [id, mode] of [['a1', 'web'], ['a2', 'poll'], ['a3', 'web'], ['a4', 'poll']] as const) {
        await token(s, `e-${id}`, LATER);
        await s.enrollAgent(`e-${id}`, { ...agent(id), mode }, NOW);
      }
      await s.recordHeartbeat('a1', agent('a1'), null, LATER);
      await s.recordHeartbeat('a2', { ...agent('a2'), mode: 'poll' }, null, NOW);
      await s.removeAgent('a4', NOW);
      assert.deepEqual((await s.fleetCounts('2026-01-01T01:00:00.000Z')).commands, []);
      const [first] = await enqueue(s, [cmd('c1'), cmd('c2')], NOW);
      await enqueue(s, [cmd('c3')], LATER);
      await enqueue(s, [cmd('c4', 'waiting')], LATER, { max_concurrency: 1 });
      await s.claimForAgent('a1', LATER, '2027-01-01T00:00:00.000Z', 1);
      await s.recordResult(first!.id, 'a1', result, LATER);
      const counts = await s.fleetCounts('2026-01-01T01:00:00.000Z');
      const agents = Object.fromEntries(counts.agents.map((a) => [`${a.status} ${a.mode}`, a.count]));
      assert.deepEqual(agents, { 'online web': 1, 'offline poll': 1, 'enrolled web': 1 });
      const commands = Object.fromEntries(counts.commands.map((c) => [c.status, [c.count, c.oldest]]));
      assert.deepEqual(commands, { queued: [2, NOW], waiting: [1, LATER] }, 'c1 ended; c2 and c3 queued (c2 the oldest); c4 waits');
    });

    test('removing an agent cancels its unfinished commands, keeps every record and frees its name; a later result changes nothing', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1', 'web'), NOW);
      await enqueue(s, [cmd('c1'), cmd('c2'), cmd('c3'), cmd('c4', 'waiting'), cmd('c5')], NOW, { id: 'r1', max_concurrency: 4 });
      await s.claimForPush('c1', NOW, LATER);
      await s.markStarted('c1', 'a1', NOW);
      await s.claimForPush('c2', NOW, LATER);
      await s.claimForPush('c5', NOW, LATER);
      await s.recordResult('c5', 'a1', result, NOW);

      const removed = await s.removeAgent('a1', LATER);
      assert.equal(removed.kind, 'removed');
      if (removed.kind !== 'removed') return;
      assert.deepEqual([removed.agent.id, removed.agent.token, removed.agent.removed_at], ['a1', 'tok-a1', LATER], 'the agent as it was, for a last cancel push');
      assert.deepEqual(removed.ended.map((c) => [c.id, c.status]).sort(), [['c1', 'cancelled'], ['c2', 'cancelled'], ['c3', 'cancelled'], ['c4', 'cancelled']]);
      assert.deepEqual([...removed.handedOut].sort(), ['c1', 'c2']);
      const all = await s.getCommands(['c1', 'c2', 'c3', 'c4', 'c5']);
      assert.deepEqual(all.map((c) => [c.status, c.agent_name, c.finished_at]), [
        ['cancelled', 'web', LATER], ['cancelled', 'web', LATER], ['cancelled', 'web', LATER], ['cancelled', 'web', LATER], ['succeeded', 'web', NOW],
      ]);
      assert.match(all[0]!.error!, /agent removed after the command was handed to it/);
      assert.match(all[2]!.error!, /agent removed before the command started/);
      assert.equal((await s.recordResult('c1', 'a1', result, LATER)).kind, 'duplicate', 'a late result does not resurrect it');
      assert.equal((await s.getCommands(['c1']))[0]!.status, 'cancelled');
      const run = (await s.getRun('r1'))!;
      assert.deepEqual([run.done, run.counts], [true, { cancelled: 4, succeeded: 1 }]);
      assert.deepEqual((await s.claimForAgent('a1', LATER, LATER, 10)).commands, []);

      const row = await s.agentByTokenHash('hash-a1');
      assert.deepEqual([row?.removed_at, row?.token], [LATER, ''], 'the token hash still finds it, to say it was removed; the token itself is gone');
      assert.deepEqual((await s.listAgents()).map((a) => a.id), []);
      assert.deepEqual((await s.listAgents('removed')).map((a) => a.id), ['a1']);
      assert.deepEqual(await s.removeAgent('a1', LATER), { kind: 'not_found' });
      assert.deepEqual(await s.removeAgent('nope', LATER), { kind: 'not_found' });
      assert.equal((await s.listCommands({ agentId: 'a1' })).length, 5, 'history stays');

      await token(s, 'e2', LATER);
      const again = await s.enrollAgent('e2', agent('a2', 'web'), NOW);
      assert.equal(again.ok, true, 'the name is free again');
      assert.deepEqual((await s.listAgents()).map((a) => [a.id, a.name]), [['a2', 'web']]);
      await token(s, 'e3', LATER);
      assert.deepEqual(await s.enrollAgent('e3', agent('a3', 'web'), NOW), { ok: false, reason: 'name_taken' }, 'but only once');

      const late = await enqueue(s, [cmd('c6')], LATER, { id: 'r2' });
      assert.deepEqual(late.map((c) => [c.status, c.error]), [['cancelled', 'agent removed before the command started']], 'a run racing the removal waits for nothing');
    });

    test('upgrade commands: recorded with what they install; nothing else is handed to the agent while one is dispatched or running', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await token(s, 'e2', LATER);
      await s.enrollAgent('e2', agent('a2'), NOW);
      const spec = { version: '1.1.0', sha256: 'ab'.repeat(32), size: 42 };
      const [up, done] = await enqueue(s, [
        { ...cmd('up1'), command: 'myx-agent upgrade', args: ['1.1.0'], upgrade: spec },
        { ...cmd('up2'), agent_id: 'a2', status: 'succeeded', stdout: 'already on 1.1.0\n', upgrade: spec },
      ], NOW);
      assert.deepEqual([up!.kind, up!.upgrade, up!.status], ['upgrade', spec, 'queued']);
      assert.deepEqual([done!.kind, done!.status, done!.stdout, done!.finished_at], ['upgrade', 'succeeded', 'already on 1.1.0\n', NOW]);
      const [plain] = await enqueue(s, [cmd('x1')], NOW);
      assert.deepEqual([plain!.kind, plain!.upgrade], ['exec', null]);

      assert.notEqual(await s.claimForPush('up1', NOW, LATER), null);
      assert.equal(await s.claimForPush('x1', NOW, LATER), null, 'not pushed while the upgrade is handed out');
      assert.deepEqual((await s.claimForAgent('a1', NOW, LATER, 10)).commands, [], 'not handed out either');
      await enqueue(s, [{ ...cmd('y2'), agent_id: 'a2' }], NOW);
      assert.deepEqual((await s.claimForAgent('a2', NOW, LATER, 10)).commands.map((c) => c.id), ['y2'], 'other agents are not held back');
      await s.markStarted('up1', 'a1', NOW);
      assert.deepEqual((await s.claimForAgent('a1', NOW, LATER, 10)).commands, [], 'nor while it runs');
      await s.recordResult('up1', 'a1', { ...result, stdout: 'upgraded 1.0.0 -> 1.1.0\n' }, NOW);
      assert.deepEqual((await s.claimForAgent('a1', NOW, LATER, 10)).commands.map((c) => c.id), ['x1'], 'handed out once the upgrade ended');
    });

    test('enrollment tokens: listed without secrets, revoked once, at most N outstanding', async (t) => {
      const s = await freshStore(backend, t);
      assert.deepEqual(await token(s, 'old', NOW, 2), { ok: true }, 'expires at NOW: not outstanding');
      assert.deepEqual(await token(s, 'e1', LATER, 2), { ok: true });
      assert.deepEqual(await token(s, 'e2', LATER, 2), { ok: true });
      assert.deepEqual(await token(s, 'e3', LATER, 2), { ok: false, reason: 'too_many' });

      const revoked = await s.revokeEnrollmentToken('id-e1', NOW);
      assert.equal(revoked.kind, 'revoked');
      assert.equal(revoked.kind === 'revoked' && revoked.token.revoked_at, NOW);
      assert.equal((await s.revokeEnrollmentToken('id-e1', NOW)).kind, 'already_revoked');
      assert.deepEqual(await s.enrollAgent('e1', agent('a1'), NOW), { ok: false, reason: 'revoked' });
      assert.deepEqual(await token(s, 'e3', LATER, 2), { ok: true }, 'a revoked token frees its place');

      assert.equal((await s.enrollAgent('e2', agent('a2'), NOW)).ok, true);
      assert.equal((await s.revokeEnrollmentToken('id-e2', NOW)).kind, 'used', 'a used token stays used');
      assert.equal((await s.revokeEnrollmentToken('id-old', NOW)).kind, 'expired');
      assert.deepEqual(await s.revokeEnrollmentToken('nope', NOW), { kind: 'not_found' });

      const list = await s.listEnrollmentTokens(10);
      assert.deepEqual(list.map((r) => r.id).sort(), ['id-e1', 'id-e2', 'id-e3', 'id-old']);
      for (const r of list) assert.deepEqual(Object.keys(r).sort(), ['created_at', 'expires_at', 'id', 'revoked_at', 'used_at', 'used_by_agent']);
      assert.equal(list.find((r) => r.id === 'id-e2')!.used_by_agent, 'a2');
      assert.equal((await s.listEnrollmentTokens(1)).length, 1);
    });

    test('text is kept exactly (NUL and all), and names sort byte-wise whatever the locale', async (t) => {
      const s = await freshStore(backend, t);
      const odd = 'nul\u0000 tab\t é 😀 \\x00';
      for (const name of ['a', 'B', '_c']) {
        await token(s, `e-${name}`, LATER);
        await s.enrollAgent(`e-${name}`, { ...agent(name), hostname: odd, os: odd, version: odd, fingerprint: odd, labels: { k: odd } }, NOW);
      }
      const listed = await s.listAgents();
      assert.deepEqual(listed.map((a) => a.name), ['B', '_c', 'a']);
      assert.deepEqual([listed[0]!.hostname, listed[0]!.os, listed[0]!.version, listed[0]!.fingerprint, listed[0]!.labels.k], [odd, odd, odd, odd, odd]);
      await enqueue(s, [{ ...cmd('c1'), agent_id: 'a', args: [odd] }], NOW, { target: odd });
      await s.recordPushFailure('c1', odd);
      assert.equal((await s.getCommands(['c1']))[0]!.last_push_error, odd);
      await s.appendOutput('c1', 'a', text([{ offset: 0, stream: 'stdout', data: odd }]), { head_bytes: 100, tail_bytes: 10 });
      assert.equal(await allText(s, 'c1'), odd);
      await s.recordResult('c1', 'a', { ...result, stdout: odd, stderr: odd, error: odd, signal: odd }, NOW);
      const c = (await s.getCommands(['c1']))[0]!;
      assert.deepEqual([c.stdout, c.stderr, c.error, c.signal, c.args[0]], [odd, odd, odd, odd, odd]);
      assert.equal((await s.getRun('run-c1'))!.target, odd);
    });

    test('poll delivery hands out the oldest first, and commands created together in the order given', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c3'), cmd('c1'), cmd('c2')], LATER);
      await enqueue(s, [cmd('c0')], NOW);
      assert.deepEqual((await s.claimForAgent('a1', NOW, LATER, 3)).commands.map((c) => c.id), ['c0', 'c3', 'c1']);
      assert.deepEqual((await s.claimForAgent('a1', NOW, LATER, 3)).commands.map((c) => c.id), ['c2']);
      assert.deepEqual((await s.getCommands(['c2', 'nope', 'c0'])).map((c) => c.id), ['c2', 'c0'], 'in the order asked, unknown left out');
    });

    test('the heartbeat fallback takes only commands whose push failed or waited too long', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      const T1 = '2026-01-01T00:00:10.000Z';
      await enqueue(s, [cmd('old')], NOW);
      await enqueue(s, [cmd('fresh'), cmd('refused')], T1);
      await s.recordPushFailure('refused', 'connection refused');
      const got = (await s.claimForAgent('a1', T1, LATER, 10, { queuedBefore: '2026-01-01T00:00:05.000Z' })).commands;
      assert.deepEqual(got.map((c) => c.id), ['old', 'refused']);
      assert.deepEqual((await s.claimForAgent('a1', T1, LATER, 10)).commands.map((c) => c.id), ['fresh']);
    });

    test('a failed push gives back only its own claim: not one taken after its lease ran out', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1')], NOW);
      const first = (await s.claimForPush('c1', NOW, '2026-01-01T00:00:30.000Z'))!;
      assert.deepEqual((await s.requeueExpiredLeases('2026-01-01T00:01:00.000Z')).map((c) => c.id), ['c1']);
      const second = (await s.claimForPush('c1', '2026-01-01T00:01:00.000Z', LATER))!;
      await s.releasePush('c1', first, 'the slow first push failed at last');
      const held = (await s.getCommands(['c1']))[0]!;
      assert.deepEqual([held.status, held.delivery, held.last_push_error], ['dispatched', 'push', null], 'the second claim stands');
      await s.releasePush('c1', second, 'refused');
      assert.equal((await s.getCommands(['c1']))[0]!.status, 'queued');
    });

    test('every state change publishes its event, in commit order; a write that changes nothing publishes none', async (t) => {
      const s = await freshStore(backend, t);
      const heard = listen(s, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await token(s, 'e2', LATER);
      await s.enrollAgent('e2', agent('a2'), NOW);
      await enqueue(s, [cmd('c1'), cmd('c2'), cmd('c3', 'waiting')], NOW, { id: 'r1', max_concurrency: 2 });
      const claim = (await s.claimForPush('c1', NOW, LATER))!;
      await s.claimForPush('c1', NOW, LATER); // no longer queued: nothing
      await s.releasePush('c1', claim, 'refused');
      await s.recordPushFailure('c1', 'refused');
      await s.releaseHandOut('a1', (await s.claimForAgent('a1', NOW, '2026-01-01T00:00:30.000Z', 1)).claim);
      await s.claimForAgent('a1', NOW, '2026-01-01T00:00:30.000Z', 1);
      await s.markStarted('c1', 'a1', NOW);
      await s.markStarted('c1', 'a1', NOW); // running already: nothing
      await s.appendOutput('c1', 'a1', text([{ offset: 0, stream: 'stdout', data: 'abc' }, { offset: 3, stream: 'stderr', data: 'de' }]), { head_bytes: 100, tail_bytes: 10 });
      await s.appendOutput('c1', 'a1', text([{ offset: 0, stream: 'stdout', data: 'abc' }]), { head_bytes: 100, tail_bytes: 10 }); // a resend: nothing
      await s.requestCancel('c1', NOW);
      await s.recordResult('c1', 'a1', { ...result, status: 'cancelled' }, NOW);
      await s.recordResult('c1', 'a1', result, NOW); // a duplicate: nothing
      await s.advanceRun('r1', NOW);
      await s.claimForAgent('a1', NOW, '2026-01-01T00:00:30.000Z', 1);
      await s.requeueExpiredLeases('2026-01-01T00:01:00.000Z');
      await s.requestCancel('c3', NOW);
      await s.expireQueued('2027-06-01T00:00:00.000Z');
      await enqueue(s, [{ ...cmd('c4'), agent_id: 'a2' }], NOW);
      await s.requestCancel('c4', NOW);
      await enqueue(s, [{ ...cmd('c5'), agent_id: 'a2' }], NOW);
      await s.removeAgent('a2', NOW);
      const c = (id: string, agent_id: string, status: string) => ({ kind: 'command', id, agent_id, status });
      assert.deepEqual(await heard.until(9), [
        c('c1', 'a1', 'queued'), c('c2', 'a1', 'queued'), c('c3', 'a1', 'waiting'),
        c('c1', 'a1', 'dispatched'), c('c1', 'a1', 'queued'), { kind: 'agent', agent_id: 'a1' },
        c('c1', 'a1', 'dispatched'), c('c1', 'a1', 'queued'), c('c1', 'a1', 'dispatched'), c('c1', 'a1', 'running'),
        { kind: 'output', command_id: 'c1', offset: 0, next: 5 }, { kind: 'cancel', command_id: 'c1', agent_id: 'a1' },
        c('c1', 'a1', 'cancelled'), c('c3', 'a1', 'queued'), c('c2', 'a1', 'dispatched'), c('c2', 'a1', 'queued'),
        c('c3', 'a1', 'cancelled'), c('c2', 'a1', 'expired'),
        c('c4', 'a2', 'queued'), c('c4', 'a2', 'cancelled'), c('c5', 'a2', 'queued'), { kind: 'agent', agent_id: 'a2' }, c('c5', 'a2', 'cancelled'),
      ]);
    });

    test('push health: failures counted with the last error and time, cleared by a push that works, started over when the agent moves', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      const health = async () => {
        const a = (await s.listAgents())[0]!;
        return [a.push_state, a.push_error, a.push_failures, a.push_failed_at];
      };
      assert.deepEqual(await health(), [null, null, 0, null], 'untried');
      await s.recordPushHealth('a1', { kind: 'failed', error: 'refused', at: NOW });
      await s.recordPushHealth('a1', { kind: 'failed', error: 'timed out', at: LATER });
      assert.deepEqual(await health(), ['failing', 'timed out', 2, LATER]);
      await s.recordHeartbeat('a1', agent('a1'), '127.0.0.1', LATER);
      assert.deepEqual(await health(), ['failing', 'timed out', 2, LATER], 'a heartbeat that changes nothing pushes use keeps it');
      await s.recordPushHealth('a1', { kind: 'ok' });
      assert.deepEqual(await health(), ['ok', null, 0, null]);
      await s.recordPushHealth('a1', { kind: 'failed', error: 'refused', at: NOW });
      await s.recordHeartbeat('a1', agent('a1'), '127.0.0.2', LATER);
      assert.deepEqual(await health(), [null, null, 0, null], 'another address: try again at once');
      await s.recordPushHealth('a1', { kind: 'failed', error: 'refused', at: NOW });
      await s.recordHeartbeat('a1', { ...agent('a1'), web_port: 9443 }, '127.0.0.2', LATER);
      assert.deepEqual(await health(), [null, null, 0, null], 'another port: try again at once');
      await s.recordPushHealth('a1', { kind: 'failed', error: 'refused', at: NOW });
      await s.recordPushHealth('a1', { kind: 'reset' });
      assert.deepEqual(await health(), [null, null, 0, null], 'started over (a new agent process after an upgrade)');
    });

    test('commands awaiting a push: queued a while, of web-mode agents still enrolled, no failed push, not expired', async (t) => {
      const s = await freshStore(backend, t);
      for (const [id, mode] of [['web', 'web'], ['poll', 'poll'], ['gone', 'web']] as const) {
        await token(s, `e-${id}`, LATER);
        await s.enrollAgent(`e-${id}`, { ...agent(id), mode }, NOW);
      }
      const T1 = '2026-01-01T00:00:10.000Z';
      const at = (id: string, agent_id: string, extra: Partial<NewCommand> = {}) => ({ ...cmd(id), agent_id, ...extra });
      await enqueue(s, [at('old', 'web'), at('old-poll', 'poll'), at('old-gone', 'gone'), at('old-failed', 'web'),
        at('old-expired', 'web', { expires_at: '2026-01-01T00:00:20.000Z' }), at('old-pushed', 'web')], NOW);
      await enqueue(s, [at('fresh', 'web')], T1);
      await s.recordPushFailure('old-failed', 'refused');
      await s.claimForPush('old-pushed', NOW, LATER);
      await s.removeAgent('gone', NOW);
      const awaiting = (now: string) => s.commandsAwaitingPush('2026-01-01T00:00:05.000Z', now, 10).then((l) => l.map((c) => c.id));
      assert.deepEqual(await awaiting('2026-01-01T00:00:15.000Z'), ['old', 'old-expired']);
      assert.deepEqual(await awaiting('2026-01-01T00:00:25.000Z'), ['old']);
    });

    test('the replica registry: rows renewed by id, listed while fresh, removed on leaving or long after', async (t) => {
      const s = await freshStore(backend, t);
      const replica = (id: string, seen: string, sweeper = false) => ({
        id, public_url: `https://${id}.example:8000`, version: '1', started_at: NOW, last_seen_at: seen, sweeper,
      });
      await s.recordReplica(replica('r1', NOW));
      await s.recordReplica(replica('r2', NOW, true));
      await s.recordReplica(replica('r1', LATER));
      assert.deepEqual(await s.listReplicas(NOW), [replica('r1', LATER), replica('r2', NOW, true)]);
      assert.deepEqual((await s.listReplicas(LATER)).map((r) => r.id), ['r1'], 'r2 not seen since');
      assert.equal(await s.forgetReplicas(LATER), 1);
      await s.removeReplica('r1');
      assert.deepEqual(await s.listReplicas(NOW), []);
    });

    test('the cluster certificate: the first fingerprint recorded stays, unless replaced', async (t) => {
      const s = await freshStore(backend, t);
      assert.equal(await s.clusterFingerprint(), null);
      assert.equal(await s.recordClusterFingerprint('AA:01', NOW), 'AA:01');
      assert.equal(await s.recordClusterFingerprint('BB:02', NOW), 'AA:01', 'a second certificate does not replace the first');
      assert.equal(await s.recordClusterFingerprint('BB:02', NOW, true), 'BB:02');
      assert.equal(await s.clusterFingerprint(), 'BB:02');
    });

    test('createRun answers with the run and its commands exactly as reading them back gives them, a removed target\'s cancelled', async (t) => {
      const s = await freshStore(backend, t);
      for (const [id, name] of [['a1', 'zed'], ['a2', 'Alpha'], ['a3', 'mid'], ['a4', 'gone']]) {
        await token(s, `e-${id}`, LATER);
        await s.enrollAgent(`e-${id}`, agent(id!, name), NOW);
      }
      await s.removeAgent('a4', NOW);
      const spec = { version: '1.1.0', sha256: 'ab'.repeat(32), size: 42 };
      const run = { id: 'r1', command: 'echo', args: ['hi'], target: 'all', max_concurrency: 2, max_errors: null, requested_by: 'tester' };
      const created = await s.createRun(run, [
        { ...cmd('c1'), agent_id: 'a1', env: { A: 'b' }, cwd: '/tmp' },
        { ...cmd('c2', 'waiting'), agent_id: 'a2' },
        { ...cmd('c3'), agent_id: 'a3', status: 'succeeded', stdout: 'nothing to do\n', upgrade: spec },
        { ...cmd('c4'), agent_id: 'a4' },
      ], NOW);
      assert.deepEqual(created.run, await s.getRun('r1'));
      assert.deepEqual(created.commands, await s.commandsOfRun('r1'));
      assert.deepEqual(created.commands.map((c) => [c.agent_name, c.status]), [['Alpha', 'waiting'], ['gone', 'cancelled'], ['mid', 'succeeded'], ['zed', 'queued']]);
    });

    test('an agent sharing a certificate is found by the fingerprint however it was written, never the asking agent or a removed one', async (t) => {
      const s = await freshStore(backend, t);
      const fp = 'AB:'.repeat(31) + 'CD';
      for (const [id, written] of [['a1', fp], ['a2', `sha256:${fp.toLowerCase()}`], ['a3', fp], ['a4', null]] as const) {
        await token(s, `e-${id}`, LATER);
        await s.enrollAgent(`e-${id}`, { ...agent(id), fingerprint: written }, NOW);
      }
      await s.removeAgent('a3', NOW);
      assert.equal(await s.agentSharingCertificate('a1', fp), 'a2');
      assert.equal(await s.agentSharingCertificate('a2', fp), 'a1');
      await s.removeAgent('a2', NOW);
      assert.equal(await s.agentSharingCertificate('a1', fp), undefined, 'removed agents and the asking one do not count');
      assert.equal(await s.agentSharingCertificate('a4', 'EF:'.repeat(31) + 'EF'), undefined);
    });

    test('two instances on one database read each other\'s agent changes at once: enrollment, heartbeats, labels, push health, removal', async (t) => {
      const db = await backend.fresh(t);
      const [a, b] = [await backend.open(t, db), await backend.open(t, db)];
      await token(a, 'e1', LATER);
      await a.enrollAgent('e1', agent('a1'), NOW);
      assert.deepEqual((await b.listAgents()).map((x) => x.id), ['a1']);
      assert.equal((await b.agentByTokenHash('hash-a1'))?.id, 'a1');
      await b.recordHeartbeat('a1', { ...agent('a1'), labels: { env: 'prod' } }, '10.0.0.1', LATER);
      assert.deepEqual([(await a.agentByTokenHash('hash-a1'))?.last_heartbeat_at, (await a.listAgents())[0]!.labels], [LATER, { env: 'prod' }]);
      await a.setOperatorLabels('a1', { role: 'web' });
      await a.recordPushHealth('a1', { kind: 'failed', error: 'refused', at: NOW });
      const seen = (await b.listAgents())[0]!;
      assert.deepEqual([seen.operator_labels, seen.push_state, seen.push_failures], [{ role: 'web' }, 'failing', 1]);
      await b.removeAgent('a1', LATER);
      assert.equal((await a.agentByTokenHash('hash-a1'))?.removed_at, LATER);
      assert.deepEqual(await a.listAgents(), []);
      assert.deepEqual((await a.listAgents('removed')).map((x) => x.id), ['a1']);
    });

    test('runs are listed newest first with their counts', async (t) => {
      const s = await freshStore(backend, t);
      await token(s, 'e', LATER);
      await s.enrollAgent('e', agent('a1'), NOW);
      await enqueue(s, [cmd('c1'), cmd('c2')], NOW, { id: 'r1' });
      await enqueue(s, [cmd('c3')], LATER, { id: 'r2' });
      await s.recordResult('c1', 'a1', result, NOW);
      const runs = await s.listRuns(10);
      assert.deepEqual(runs.map((r) => [r.id, r.total, r.counts, r.done]), [['r2', 1, { queued: 1 }, false], ['r1', 2, { succeeded: 1, queued: 1 }, false]]);
      assert.deepEqual((await s.listRuns(1)).map((r) => r.id), ['r2']);
      assert.equal(await s.getRun('nope'), undefined);
    });

    test('console sessions: live until their absolute end or idle limit, only while their operator token is known; sign-out ends them', async (t) => {
      const s = await freshStore(backend, t);
      const at = (min: number) => new Date(Date.parse(NOW) + min * 60_000).toISOString();
      await s.addOperator({ id: 'op_1', name: 'alice', role: 'viewer', scope: {} }, 'op1', NOW);
      await s.createSession({ idHash: 'sess1', operatorTokenHash: 'op1', expiresAt: at(120) }, NOW);
      await s.createSession({ idHash: 'sess2', operatorTokenHash: 'op-unknown', expiresAt: at(120) }, NOW);
      await s.createSession({ idHash: 'sess3', operatorTokenHash: 'op1', expiresAt: at(120) }, NOW);
      await assert.rejects(s.createSession({ idHash: 'sess1', operatorTokenHash: 'op1', expiresAt: at(120) }, NOW), 'an id hash is never reused');
      // used at +30 min with a 60 min idle limit: live, and last seen moves on
      const used = await s.useSession('sess1', at(30), at(-30));
      assert.deepEqual(used, { id_hash: 'sess1', operator_token_hash: 'op1', created_at: NOW, last_seen_at: at(30), expires_at: at(120) });
      assert.equal(await s.useSession('nope', at(30), at(-30)), undefined);
      assert.equal(await s.useSession('sess2', at(30), at(-30)), undefined, 'its operator token is not known');
      // a use with an older clock never moves last_seen_at back
      assert.equal((await s.useSession('sess1', at(20), at(-40)))!.last_seen_at, at(30));
      // idle: last seen at +30, so at +91 with the idle limit at +31 it is over; at +89 it was not
      assert.equal((await s.useSession('sess1', at(89), at(29)))!.last_seen_at, at(89));
      assert.equal(await s.useSession('sess3', at(61), at(1)), undefined, 'idle for an hour');
      // the absolute end holds whatever the use
      for (let m = 90; m < 120; m += 20) assert.ok(await s.useSession('sess1', at(m), at(m - 60)));
      assert.equal(await s.useSession('sess1', at(120), at(60)), undefined, 'past its absolute end');
      // sign out
      await s.createSession({ idHash: 'sess4', operatorTokenHash: 'op1', expiresAt: at(120) }, NOW);
      assert.equal(await s.endSession('sess4'), true);
      assert.equal(await s.endSession('sess4'), false);
      assert.equal(await s.useSession('sess4', at(1), at(-59)), undefined);
      // clean-up deletes exactly the sessions past either end
      await s.createSession({ idHash: 'sess5', operatorTokenHash: 'op1', expiresAt: at(300) }, at(100));
      assert.equal(await s.deleteStaleSessions(at(121), at(61)), 3, 'sess1 (absolute end), sess2 and sess3 (idle)');
      assert.ok(await s.useSession('sess5', at(130), at(70)), 'a live session stays');
      assert.equal(await s.deleteStaleSessions(at(130), at(70)), 0);
    });
  });
}

test('SQLite: an agent\'s writes made without waiting for each other take effect in the order they were made (they may share a commit)', async (t) => {
  const s = await freshStore(BACKENDS[0]!, t);
  await token(s, 'e', LATER);
  await s.enrollAgent('e', agent('a1'), NOW);
  const health = async () => (await s.agentByTokenHash('hash-a1'))!.push_state;
  await Promise.all([s.recordPushHealth('a1', { kind: 'ok' }), s.recordPushHealth('a1', { kind: 'failed', error: 'refused', at: NOW })]);
  assert.equal(await health(), 'failing', 'the failure came last');
  await Promise.all([s.recordPushHealth('a1', { kind: 'failed', error: 'refused', at: NOW }), s.recordPushHealth('a1', { kind: 'ok' })]);
  assert.equal(await health(), 'ok', 'the success came last');
  await Promise.all([
    s.recordPushHealth('a1', { kind: 'failed', error: 'refused', at: NOW }), s.recordHeartbeat('a1', agent('a1'), '127.0.0.2', LATER),
    s.recordPushHealth('a1', { kind: 'failed', error: 'refused again', at: LATER }),
  ]);
  assert.equal(await health(), 'failing', 'the heartbeat from a new address started over, the failure after it counts');
  assert.equal((await s.listAgents())[0]!.push_failures, 1);
});

test('SQLite migration 0004 (soft removal) keeps every agent and command of an existing database', async (t) => {
  const { openSqlite } = await import('../src/common/sqlite.ts');
  const { SERVER_MIGRATIONS } = await import('../src/server/store/sqlite-migrations.ts');
  const path = join(tempDir(t), 'myx.db');
  const old = openSqlite(path, SERVER_MIGRATIONS.filter((m) => m.version <= 3));
  old.exec(`INSERT INTO enrollment_tokens (token_hash, created_at, expires_at) VALUES ('${'ab'.repeat(32)}', '${NOW}', '${LATER}');
    INSERT INTO agents (id, name, token_hash, token, hostname, os, version, mode, enrolled_at) VALUES ('a1', 'web', 'h1', 't1', 'h', 'l', '0', 'web', '${NOW}');
    INSERT INTO runs (id, command, args, target, created_at) VALUES ('r1', 'true', '[]', 'all', '${NOW}');
    INSERT INTO commands (id, run_id, agent_id, command, args, timeout, status, created_at) VALUES ('c1', 'r1', 'a1', 'true', '[]', 5, 'succeeded', '${NOW}');
    INSERT INTO command_output (command_id, "offset", stream, data) VALUES ('c1', 0, 'stdout', 'kept');`);
  old.close();
  const s = new SqliteStore(path);
  t.after(() => s.close());
  assert.deepEqual((await s.getCommands(['c1'])).map((c) => [c.status, c.agent_name]), [['succeeded', 'web']]);
  assert.equal(await allText(s, 'c1'), 'kept');
  assert.deepEqual((await s.listAgents()).map((a) => [a.id, a.removed_at]), [['a1', null]]);
  assert.match((await s.listEnrollmentTokens(5))[0]!.id, /^enr_(ab){12}$/, 'old tokens get an id');
  assert.equal((await s.removeAgent('a1', LATER)).kind, 'removed');
  assert.equal((await s.getCommands(['c1'])).length, 1);
});

test('PostgreSQL migration 0002 (soft removal) keeps every agent, token and command of an existing database', { skip: BACKENDS[1]!.skip }, async (t) => {
  const pg = (await import('pg')).default;
  const { migratePostgres } = await import('../src/server/store/postgres/migrate.ts');
  const { POSTGRES_MIGRATIONS } = await import('../src/server/store/postgres/migrations.ts');
  const { PostgresStore } = await import('../src/server/store/postgres-store.ts');
  const url = await BACKENDS[1]!.fresh(t, { empty: true });
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await migratePostgres(pool, POSTGRES_MIGRATIONS.filter((m) => m.version <= 1));
    await pool.query(`INSERT INTO enrollment_tokens (token_hash, created_at, expires_at) VALUES ('${'ab'.repeat(32)}', '${NOW}', '${LATER}');
      INSERT INTO agents (id, name, token_hash, token, hostname, os, version, mode, enrolled_at) VALUES ('a1', 'web', 'h1', 't1', 'h', 'l', '0', 'web', '${NOW}');
      INSERT INTO runs (id, command, args, target, created_at) VALUES ('r1', 'true', '[]', 'all', '${NOW}');
      INSERT INTO commands (id, run_id, agent_id, command, args, timeout, status, created_at) VALUES ('c1', 'r1', 'a1', 'true', '[]', 5, 'succeeded', '${NOW}');
      INSERT INTO command_output (command_id, "offset", stream, data) VALUES ('c1', 0, 'stdout', 'kept');`);
  } finally {
    await pool.end();
  }
  const s = await PostgresStore.open(url);
  t.after(() => s.close());
  assert.deepEqual((await s.getCommands(['c1'])).map((c) => [c.status, c.agent_name]), [['succeeded', 'web']]);
  assert.equal(await allText(s, 'c1'), 'kept');
  assert.deepEqual((await s.listAgents()).map((a) => [a.id, a.removed_at]), [['a1', null]]);
  assert.match((await s.listEnrollmentTokens(5))[0]!.id, /^enr_(ab){12}$/, 'old tokens get an id, as on SQLite');
  assert.equal((await s.removeAgent('a1', LATER)).kind, 'removed');
  await token(s, 'e2', LATER);
  assert.equal((await s.enrollAgent('e2', agent('a2', 'web'), NOW)).ok, true, 'the removed agent\'s name is free again');
});

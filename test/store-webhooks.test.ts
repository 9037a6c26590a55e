// The webhook part of the Store contract (webhook-store.ts), on every backend: webhooks with their
// secret and a cap, events enqueued by the database from every write that ends a command (a result,
// a cancel, an expiry, a skip, a removal, a command created ended) and from the write that creates a
// run, a run.finished due only once the run's last command ended, and deliveries claimed one
// attempt at a time, recorded only under their claim. test/store-concurrency.test.ts races them.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AuditDraft } from '../src/protocol/audit.ts';
import type { CommandResult } from '../src/protocol/wire.ts';
import type { NewAgent, NewCommand, NewRun, Store } from '../src/server/store/store.ts';
import type { NewWebhook } from '../src/server/store/webhook-store.ts';
import { BACKENDS, freshStore } from './store-backends.ts';

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T02:00:00.000Z';
const at = (s: number) => new Date(Date.parse(NOW) + s * 1000).toISOString();

function agent(id: string): NewAgent {
  return {
    id, name: id, token: `tok-${id}`, tokenHash: `hash-${id}`, hostname: 'h', os: 'linux', version: '0', mode: 'poll',
    web_port: null, fingerprint: null, advertise_address: null, labels: {}, remote_address: '127.0.0.1',
  };
}

async function enroll(s: Store, id: string) {
  await s.createEnrollmentToken({ id: `enr_${id}`, tokenHash: `e-${id}`, expiresAt: LATER }, NOW, 1000);
  assert.equal((await s.enrollAgent(`e-${id}`, agent(id), NOW)).ok, true);
}

const cmd = (id: string, agentId = 'a1', status: NewCommand['status'] = 'queued', expires = LATER): NewCommand => ({
  id, status, agent_id: agentId, command: 'echo', args: [id], timeout: 5, env: null, cwd: null, expires_at: expires,
});

async function run(s: Store, id: string, commands: NewCommand[], limits: Partial<NewRun> = {}) {
  return s.createRun({ id, command: 'echo', args: [], target: 'test', max_concurrency: null, max_errors: null, requested_by: 'alice', ...limits }, commands, NOW);
}

const ok = (status: CommandResult['status'] = 'succeeded'): CommandResult => ({
  status, exit_code: status === 'succeeded' ? 0 : 1, signal: null, stdout: '', stderr: '', stdout_bytes: 0, stderr_bytes: 0,
  stdout_truncated: false, stderr_truncated: false, error: null, started_at: NOW, finished_at: NOW,
});

const hook = (id: string, events: NewWebhook['events']): NewWebhook => ({ id, url: `http://127.0.0.1:9/${id}`, events, secret: `whsec_${id}-secret`, fingerprint: null, created_by: 'alice' });

const audit = (action: AuditDraft['action'], targets: string[]): AuditDraft => ({
  at: NOW, actor_kind: 'operator', actor: 'alice', actor_id: 'op_alice', action, targets, details: {}, source: '127.0.0.1', outcome: 'ok',
});

/** Every delivery of each webhook, as `event subject`, sorted. */
async function enqueued(s: Store, ...webhooks: string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const w of webhooks) out[w] = (await s.listDeliveries(w, 1000)).map((d) => `${d.event} ${d.subject_id}`).sort();
  return out;
}

for (const backend of BACKENDS) {
  describe(`Store, webhooks: ${backend.name}`, { skip: backend.skip }, () => {
    test('webhooks are added up to a cap with their secret, listed oldest first, removed with their deliveries; each change audited', async (t) => {
      const s = await freshStore(backend, t);
      const added = await s.addWebhook(hook('wh1', ['run.finished']), NOW, 2, audit('webhook.add', ['wh1']));
      assert.ok(added.ok);
      assert.deepEqual(added.webhook, { ...hook('wh1', ['run.finished']), created_at: NOW });
      assert.ok((await s.addWebhook(hook('wh2', ['command.finished', 'run.finished']), at(1), 2)).ok);
      assert.deepEqual(await s.addWebhook(hook('wh3', ['run.finished']), at(2), 2), { ok: false, reason: 'too_many' });
      assert.deepEqual((await s.listWebhooks()).map((w) => [w.id, w.events, w.secret]), [
        ['wh1', ['run.finished'], 'whsec_wh1-secret'], ['wh2', ['command.finished', 'run.finished'], 'whsec_wh2-secret']]);
      assert.equal((await s.getWebhook('wh2'))?.url, 'http://127.0.0.1:9/wh2');
      await enroll(s, 'a1');
      await run(s, 'r1', [cmd('c1')]);
      assert.deepEqual(await enqueued(s, 'wh1', 'wh2'), { wh1: ['run.finished r1'], wh2: ['run.finished r1'] });
      assert.deepEqual(await s.removeWebhook('wh2', audit('webhook.remove', ['wh2'])), { undelivered: 1 });
      assert.equal(await s.removeWebhook('wh2'), undefined);
      assert.deepEqual((await s.listWebhooks()).map((w) => w.id), ['wh1']);
      assert.deepEqual(await s.listDeliveries('wh2', 10), []);
      assert.deepEqual((await s.listAudit({ limit: 10 })).map((e) => [e.action, e.targets]), [['webhook.add', ['wh1']], ['webhook.remove', ['wh2']]]);
    });

    test('every write that ends a command enqueues its command.finished, once per webhook that hears it; a run enqueues its run.finished when created', async (t) => {
      const s = await freshStore(backend, t);
      for (const a of ['a1', 'a2', 'a3']) await enroll(s, a);
      await s.addWebhook(hook('all', ['command.finished', 'run.finished']), NOW, 10);
      await s.addWebhook(hook('runs', ['run.finished']), NOW, 10);
      await s.addWebhook(hook('cmds', ['command.finished']), NOW, 10);
      await run(s, 'r-result', [cmd('c-result')]);
      await s.recordResult('c-result', 'a1', ok(), NOW);
      await s.recordResult('c-result', 'a1', ok('failed'), NOW); // a duplicate ends nothing
      await run(s, 'r-cancel', [cmd('c-cancel')]);
      await s.requestCancel('c-cancel', NOW);
      await run(s, 'r-expire', [cmd('c-expire', 'a1', 'queued', at(10))]);
      await s.expireQueued(at(20));
      await run(s, 'r-skip', [cmd('c-fail'), cmd('c-skip', 'a1', 'waiting')], { max_errors: 1 });
      await s.recordResult('c-fail', 'a1', ok('failed'), NOW);
      await s.advanceRun('r-skip', NOW);
      await run(s, 'r-remove', [cmd('c-removed', 'a2')]);
      await s.removeAgent('a2', NOW);
      await run(s, 'r-gone', [cmd('c-gone', 'a2')]); // created cancelled: its agent was removed
      await run(s, 'r-open', [cmd('c-open', 'a3')]); // still queued: nothing for it yet
      const cmds = ['c-cancel', 'c-expire', 'c-fail', 'c-gone', 'c-removed', 'c-result', 'c-skip'].map((c) => `command.finished ${c}`);
      const runs = ['r-cancel', 'r-expire', 'r-gone', 'r-open', 'r-remove', 'r-result', 'r-skip'].map((r) => `run.finished ${r}`);
      assert.deepEqual(await enqueued(s, 'all', 'runs', 'cmds'), { all: [...cmds, ...runs].sort(), runs, cmds });
      const [d] = await s.listDeliveries('cmds', 1000);
      assert.deepEqual([d!.state, d!.attempts, d!.event_id.split('/')[0], d!.history], ['pending', 0, 'command.finished', []]);
      assert.equal(new Set((await s.listDeliveries('all', 1000)).map((x) => x.event_id)).size, 14, 'one id per event');
    });

    test('a run.finished is claimed only once its run\'s last command ended; a claim holds a delivery until it runs out', async (t) => {
      const s = await freshStore(backend, t);
      await enroll(s, 'a1');
      await s.addWebhook(hook('wh', ['command.finished', 'run.finished']), NOW, 10);
      await run(s, 'r1', [cmd('c1'), cmd('c2')]);
      assert.deepEqual(await s.claimDeliveries(at(1), at(61), 10), [], 'nothing ended yet');
      await s.recordResult('c1', 'a1', ok(), NOW);
      const first = await s.claimDeliveries(at(2), at(62), 10);
      assert.deepEqual(first.map((d) => [d.event, d.subject_id, d.state, d.attempts, d.url, d.secret]), [
        ['command.finished', 'c1', 'sending', 1, 'http://127.0.0.1:9/wh', 'whsec_wh-secret']]);
      assert.deepEqual(await s.claimDeliveries(at(3), at(63), 10), [], 'claimed: not claimed again while the claim holds');
      await s.recordResult('c2', 'a1', ok('failed'), NOW);
      const second = await s.claimDeliveries(at(4), at(104), 10);
      assert.deepEqual(second.map((d) => `${d.event} ${d.subject_id}`).sort(), ['command.finished c2', 'run.finished r1'], 'the run ended: its event is due');
      // the first claim ran out (its replica died): another claim takes it over, and the old claim can record nothing
      const taken = await s.claimDeliveries(at(70), at(130), 10);
      assert.deepEqual(taken.map((d) => [d.subject_id, d.attempts]), [['c1', 2]]);
      const attempt = { at: at(71), status: 200, error: null, duration_ms: 5 };
      assert.equal(await s.recordAttempt(first[0]!.id, first[0]!.claim, { ok: true, attempt }), false, 'the old claim records nothing');
      assert.equal(await s.recordAttempt(taken[0]!.id, taken[0]!.claim, { ok: true, attempt }), true);
      assert.equal(await s.recordAttempt(taken[0]!.id, taken[0]!.claim, { ok: true, attempt }), false, 'a claim records once');
      const [c1] = (await s.listDeliveries('wh', 10)).filter((d) => d.subject_id === 'c1');
      assert.deepEqual([c1!.state, c1!.attempts, c1!.last_status, c1!.delivered_at, c1!.history], ['delivered', 2, 200, at(71), [attempt]]);
    });

    test('a failed attempt is retried when its time comes, and after the last one the delivery has failed; the history keeps each attempt', async (t) => {
      const s = await freshStore(backend, t);
      await enroll(s, 'a1');
      await s.addWebhook(hook('wh', ['command.finished']), NOW, 10);
      await run(s, 'r1', [cmd('c1')]);
      await s.recordResult('c1', 'a1', ok(), NOW);
      const fail = (n: number) => ({ at: at(n), status: 500, error: 'HTTP 500', duration_ms: 3 });
      const [d1] = await s.claimDeliveries(at(1), at(61), 10);
      assert.equal(await s.recordAttempt(d1!.id, d1!.claim, { ok: false, attempt: fail(1), retryAt: at(11) }), true);
      let [d] = await s.listDeliveries('wh', 1);
      assert.deepEqual([d!.state, d!.next_attempt_at, d!.last_status, d!.last_error], ['pending', at(11), 500, 'HTTP 500']);
      assert.deepEqual(await s.claimDeliveries(at(10), at(70), 10), [], 'not before its time');
      const [d2] = await s.claimDeliveries(at(11), at(71), 10);
      assert.equal(d2!.attempts, 2);
      await s.recordAttempt(d2!.id, d2!.claim, { ok: false, attempt: { ...fail(12), status: null, error: 'timed out' }, retryAt: null });
      [d] = await s.listDeliveries('wh', 1);
      assert.deepEqual([d!.state, d!.attempts, d!.last_status, d!.last_error, d!.next_attempt_at], ['failed', 2, null, 'timed out', null]);
      assert.deepEqual(d!.history.map((h) => [h.status, h.error]), [[500, 'HTTP 500'], [null, 'timed out']]);
      assert.deepEqual(await s.claimDeliveries(at(1000), at(1060), 10), [], 'a failed delivery is not tried again');
    });

    test('deliveries that are over are pruned once old; pending ones stay whatever their age', async (t) => {
      const s = await freshStore(backend, t);
      await enroll(s, 'a1');
      await s.addWebhook(hook('wh', ['command.finished', 'run.finished']), NOW, 10);
      await run(s, 'r1', [cmd('c1'), cmd('c2')]);
      await s.recordResult('c1', 'a1', ok(), NOW);
      const [d] = await s.claimDeliveries(at(1), at(61), 1);
      await s.recordAttempt(d!.id, d!.claim, { ok: true, attempt: { at: at(1), status: 200, error: null, duration_ms: 1 } });
      const created = (await s.listDeliveries('wh', 10)).map((x) => x.created_at).sort();
      assert.equal(await s.pruneDeliveries(created[0]!, 100), 0, 'none created before the first');
      const future = '9999-01-01T00:00:00.000Z';
      assert.equal(await s.pruneDeliveries(future, 100), 1, 'the delivered one');
      assert.deepEqual((await s.listDeliveries('wh', 10)).map((x) => `${x.event} ${x.state}`), ['run.finished pending']);
    });
  });
}

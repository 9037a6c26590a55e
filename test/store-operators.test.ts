// The people part of the Store contract (operator-store.ts), on every backend: operators and their
// tokens, the first start's admin, audit entries appended with the writes they record (and only
// when the write took effect), a scoped operator's view of runs and commands, and `audit verify`
// finding an entry edited, deleted or moved by hand in the database.

import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import pg from 'pg';
import type { AuditDraft } from '../src/protocol/audit.ts';
import { checkChain, verifyAudit } from '../src/server/audit-verify.ts';
import type { NewAgent, NewCommand, Store } from '../src/server/store/store.ts';
import { BACKENDS, freshStore, type Backend } from './store-backends.ts';

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T02:00:00.000Z';

function agent(id: string, labels: Record<string, string> = {}): NewAgent {
  return {
    id, name: id, token: `tok-${id}`, tokenHash: `hash-${id}`, hostname: 'h', os: 'linux', version: '0', mode: 'poll',
    web_port: null, fingerprint: null, advertise_address: null, labels, remote_address: '127.0.0.1',
  };
}

function entry(action: AuditDraft['action'], targets: string[] = [], details: Record<string, unknown> = {}): AuditDraft {
  return { at: NOW, actor_kind: 'operator', actor: 'alice', actor_id: 'op_alice', action, targets, details, source: '127.0.0.1', outcome: 'ok' };
}

async function enroll(s: Store, id: string, labels: Record<string, string> = {}) {
  await s.createEnrollmentToken({ id: `enr_${id}`, tokenHash: `e-${id}`, expiresAt: LATER }, NOW, 1000);
  assert.equal((await s.enrollAgent(`e-${id}`, agent(id, labels), NOW)).ok, true);
}

const cmd = (id: string, agentId: string): NewCommand => ({
  id, status: 'queued', agent_id: agentId, command: 'echo', args: [id], timeout: 5, env: null, cwd: null, expires_at: LATER,
});

/** Runs SQL on the backend's database directly, as someone with access to it would. */
async function tamper(backend: Backend, db: string, sql: string[]): Promise<void> {
  if (backend.name === 'sqlite') {
    const raw = new DatabaseSync(db);
    try {
      for (const q of sql) raw.exec(q);
    } finally {
      raw.close();
    }
    return;
  }
  const pool = new pg.Pool({ connectionString: db, max: 1 });
  try {
    for (const q of sql) await pool.query(q);
  } finally {
    await pool.end();
  }
}

for (const backend of BACKENDS) {
  describe(`Store operators and audit: ${backend.name}`, { skip: backend.skip }, () => {
    test('operators: one per name, found by their token; removal and rotation end their tokens and sessions', async (t) => {
      const s = await freshStore(backend, t);
      assert.equal((await s.addOperator({ id: 'op_a', name: 'alice', role: 'operator', scope: { env: 'staging' } }, 'h-a', NOW)).ok, true);
      assert.deepEqual(await s.addOperator({ id: 'op_a2', name: 'alice', role: 'viewer', scope: {} }, 'h-a2', NOW), { ok: false, reason: 'name_taken' });
      await s.addOperator({ id: 'op_b', name: 'bob', role: 'admin', scope: {} }, 'h-b', NOW);
      const alice = (await s.operatorByTokenHash('h-a', NOW))!;
      assert.deepEqual([alice.name, alice.role, alice.scope, alice.last_used_at], ['alice', 'operator', { env: 'staging' }, NOW], 'a use is recorded');
      assert.equal(await s.operatorByTokenHash('h-a2', NOW), undefined, 'the refused one left no token');
      assert.deepEqual((await s.listOperators()).map((o) => o.name), ['alice', 'bob']);
      // a use within the minute does not write; one after it does
      assert.equal((await s.operatorByTokenHash('h-a', '2026-01-01T00:00:30.000Z'))!.last_used_at, NOW);
      assert.equal((await s.operatorByTokenHash('h-a', '2026-01-01T00:01:30.000Z'))!.last_used_at, '2026-01-01T00:01:30.000Z');

      await s.createSession({ idHash: 's1', operatorTokenHash: 'h-a', expiresAt: LATER }, NOW);
      const rotated = await s.rotateOperator('alice', 'h-a-new', NOW);
      assert.deepEqual([rotated.kind, rotated.kind === 'rotated' && rotated.sessions], ['rotated', 1]);
      assert.equal(await s.operatorByTokenHash('h-a', NOW), undefined, 'the old token no longer works');
      assert.equal(await s.useSession('s1', NOW, NOW), undefined, 'nor a session made with it');
      assert.equal((await s.operatorByTokenHash('h-a-new', NOW))?.id, 'op_a', 'the same operator');

      await s.createSession({ idHash: 's2', operatorTokenHash: 'h-a-new', expiresAt: LATER }, NOW);
      const removed = await s.removeOperator('alice');
      assert.deepEqual([removed.kind, removed.kind === 'removed' && removed.sessions], ['removed', 1]);
      assert.equal(await s.operatorByTokenHash('h-a-new', NOW), undefined);
      assert.equal(await s.useSession('s2', NOW, '2025-01-01T00:00:00.000Z'), undefined);
      assert.equal((await s.removeOperator('alice')).kind, 'not_found');
      assert.equal((await s.rotateOperator('alice', 'x', NOW)).kind, 'not_found');
      assert.equal((await s.removeOperator('bob')).kind, 'last_admin', 'the last admin stays');
      assert.equal((await s.addOperator({ id: 'op_c', name: 'alice', role: 'viewer', scope: {} }, 'h-c', NOW)).ok, true, 'the name is free again');
    });

    test('the first start\'s admin: created on an empty store, a replica\'s token added to it, a token it no longer knows not brought back', async (t) => {
      const s = await freshStore(backend, t);
      assert.equal(await s.bootstrapAdmin('op_1', 'first', NOW, false), 'created');
      assert.equal(await s.bootstrapAdmin('op_2', 'first', NOW, false), 'known', 'a restart');
      assert.equal(await s.bootstrapAdmin('op_3', 'replica', NOW, true), 'added', 'a replica with an empty data dir');
      assert.deepEqual((await s.listOperators()).map((o) => [o.name, o.role]), [['admin', 'admin']]);
      assert.equal((await s.operatorByTokenHash('replica', NOW))?.name, 'admin');
      await s.rotateOperator('admin', 'rotated', NOW);
      assert.equal(await s.bootstrapAdmin('op_4', 'first', NOW, false), 'refused', 'a token file rotated away stays invalid');
      assert.equal(await s.operatorByTokenHash('first', NOW), undefined);
      const audit = await s.listAudit({ limit: 10 });
      assert.deepEqual(audit.map((e) => [e.action, e.actor_kind, e.actor]), [['operator.bootstrap', 'system', 'control-plane'], ['operator.bootstrap', 'system', 'control-plane']]);
    });

    test('the two first starts of replicas on a new database make one admin', async (t) => {
      const db = await backend.fresh(t);
      const [a, b] = await Promise.all([backend.open(t, db), backend.openParallel(t, db)]);
      const got = await Promise.all([a.bootstrapAdmin('op_a', 'ta', NOW, true), b.bootstrapAdmin('op_b', 'tb', NOW, true)]);
      assert.deepEqual(got.sort(), ['added', 'created']);
      assert.equal((await a.listOperators()).length, 1);
    });

    test('each write that takes an audit entry appends it in its own transaction, only when it took effect, chained to the one before', async (t) => {
      const s = await freshStore(backend, t);
      await s.addOperator({ id: 'op_alice', name: 'alice', role: 'admin', scope: {} }, 'h-alice', NOW, entry('operator.add', ['alice']));
      assert.deepEqual(await s.addOperator({ id: 'op_x', name: 'alice', role: 'admin', scope: {} }, 'h-x', NOW, entry('operator.add', ['again'])), { ok: false, reason: 'name_taken' });
      await s.createEnrollmentToken({ id: 'enr_1', tokenHash: 'e1', expiresAt: LATER }, NOW, 1000, entry('enrollment_token.create', ['enr_1']));
      assert.deepEqual(await s.createEnrollmentToken({ id: 'enr_2', tokenHash: 'e2', expiresAt: LATER }, NOW, 1, entry('enrollment_token.create', ['enr_2'])), { ok: false, reason: 'too_many' });
      await s.enrollAgent('e1', agent('a1'), NOW, { ...entry('agent.enroll', ['a1']), actor_kind: 'agent', actor: 'a1', actor_id: 'a1' });
      assert.equal((await s.enrollAgent('e1', agent('a2'), NOW, entry('agent.enroll', ['a2']))).ok, false);
      await s.createEnrollmentToken({ id: 'enr_3', tokenHash: 'e3', expiresAt: LATER }, NOW, 1000);
      await s.revokeEnrollmentToken('enr_3', NOW, entry('enrollment_token.revoke', ['enr_3']));
      assert.equal((await s.revokeEnrollmentToken('nope', NOW, entry('enrollment_token.revoke', ['nope']))).kind, 'not_found');
      await s.setOperatorLabels('a1', { env: 'prod' }, entry('agent.labels', ['a1']));
      await s.createRun({ id: 'r1', command: 'echo', args: [], target: 'all', max_concurrency: null, max_errors: null, requested_by: 'alice' },
        [cmd('c1', 'a1'), cmd('c2', 'a1')], NOW, entry('run.create', ['r1']));
      await s.requestCancel('c1', NOW, entry('command.cancel', ['c1']));
      assert.equal((await s.requestCancel('nope', NOW, entry('command.cancel', ['nope']))).kind, 'not_found');
      await s.createSession({ idHash: 'sess', operatorTokenHash: 'h-alice', expiresAt: LATER }, NOW, entry('session.sign_in'));
      assert.equal(await s.endSession('sess', entry('session.sign_out')), true);
      assert.equal(await s.endSession('sess', entry('session.sign_out')), false);
      await s.removeAgent('a1', NOW, entry('agent.remove', ['a1']));
      assert.equal((await s.removeAgent('a1', NOW, entry('agent.remove', ['again']))).kind, 'not_found');
      await s.rotateOperator('alice', 'h-alice-2', NOW, entry('operator.rotate', ['alice']));
      await s.addOperator({ id: 'op_bob', name: 'bob', role: 'viewer', scope: {} }, 'h-bob', NOW);
      await s.removeOperator('bob', entry('operator.remove', ['bob']));
      assert.equal((await s.removeOperator('alice', entry('operator.remove', ['alice']))).kind, 'last_admin');

      const log = await s.listAudit({ limit: 100 });
      assert.deepEqual(log.map((e) => [e.seq, e.action, e.targets]), [
        [1, 'operator.add', ['alice']], [2, 'enrollment_token.create', ['enr_1']], [3, 'agent.enroll', ['a1']],
        [4, 'enrollment_token.revoke', ['enr_3']], [5, 'agent.labels', ['a1']], [6, 'run.create', ['r1']], [7, 'command.cancel', ['c1']],
        [8, 'session.sign_in', []], [9, 'session.sign_out', []], [10, 'agent.remove', ['a1']], [11, 'operator.rotate', ['alice']],
        [12, 'operator.remove', ['bob']],
      ], 'one entry per action that took effect, none for those that did not');
      assert.equal(log[3]!.details.outcome, 'revoked', 'how a revoke came out');
      assert.equal(log[6]!.details.outcome, 'cancelled', 'how a cancel came out');
      assert.deepEqual(checkChain(log, await s.auditHead()), []);
      assert.equal((await s.getRun('r1'))!.requested_by, 'alice');
      assert.deepEqual((await s.commandsOfRun('r1')).map((c) => c.requested_by), ['alice', 'alice']);
      // the filters
      assert.deepEqual((await s.listAudit({ limit: 100, action: 'agent.enroll' })).map((e) => e.seq), [3]);
      assert.deepEqual((await s.listAudit({ limit: 100, operator: 'a1' })).map((e) => e.seq), [], 'an agent is not an operator');
      assert.deepEqual((await s.listAudit({ limit: 2, after: 10 })).map((e) => e.seq), [11, 12]);
      assert.equal((await s.listAudit({ limit: 100, operator: 'alice', since: LATER })).length, 0);
    });

    test('a scoped view: runs with commands of some agents, counted over those; their commands only', async (t) => {
      const s = await freshStore(backend, t);
      for (const id of ['stage-1', 'stage-2', 'prod-1']) await enroll(s, id);
      const run = (id: string, agents: string[]) => s.createRun(
        { id, command: 'echo', args: [], target: `agents ${agents.join(',')}`, max_concurrency: null, max_errors: null, requested_by: 'alice' },
        agents.map((a) => cmd(`${id}-${a}`, a)), NOW);
      await run('r-mixed', ['stage-1', 'prod-1', 'stage-2']);
      await run('r-prod', ['prod-1']);
      await s.requestCancel('r-mixed-prod-1', NOW);
      const staging = ['stage-1', 'stage-2'];
      assert.deepEqual((await s.listRuns(10, staging)).map((r) => [r.id, r.total, r.counts, r.done]), [['r-mixed', 2, { queued: 2 }, false]]);
      assert.equal(await s.getRun('r-prod', staging), undefined, 'no command in scope: not found');
      assert.deepEqual([(await s.getRun('r-mixed'))!.total, (await s.getRun('r-mixed', staging))!.total], [3, 2]);
      assert.deepEqual((await s.listRuns(10)).length, 2, 'unscoped: all');
      assert.deepEqual((await s.listCommands({ agentIds: staging })).map((c) => c.agent_id).sort(), staging);
      assert.deepEqual((await s.listCommands({ agentIds: [] })).length, 0);
    });

    test('audit verify finds an entry edited, deleted or moved in the database by hand, and says which', async (t) => {
      const db = await backend.fresh(t);
      const s = await backend.open(t, db);
      for (let i = 1; i <= 12; i++) await s.appendAudit(entry('command.cancel', [`cmd_${i}`], { i }));
      assert.deepEqual(await verifyAudit(s), { ok: true, entries: 12, head: await s.auditHead(), problems: [] });
      const problems = async () => (await verifyAudit(s)).problems.map((p) => [p.seq, p.kind]);

      // edited: the target of entry 3 changed
      await tamper(backend, db, [`UPDATE audit_log SET targets = '["cmd_other"]' WHERE seq = 3`]);
      assert.deepEqual(await problems(), [[3, 'edited']]);
      // edited, its hash recomputed to match: the next entry no longer follows it
      await tamper(backend, db, [`UPDATE audit_log SET hash = '${'ab'.repeat(32)}' WHERE seq = 3`]);
      assert.deepEqual(await problems(), [[3, 'edited'], [4, 'broken_link']]);

      // deleted: entry 6
      await tamper(backend, db, ['DELETE FROM audit_log WHERE seq = 6']);
      assert.deepEqual((await problems()).slice(2), [[6, 'missing']]);
      // reordered: 8 and 9 swap places
      await tamper(backend, db, ['UPDATE audit_log SET seq = -1 WHERE seq = 8', 'UPDATE audit_log SET seq = 8 WHERE seq = 9', 'UPDATE audit_log SET seq = 9 WHERE seq = -1']);
      const moved = (await problems()).slice(3);
      assert.deepEqual(moved.filter(([seq]) => seq === 8 || seq === 9), [[8, 'reordered'], [9, 'reordered']]);
      // the last entry deleted: only the chain head tells
      await tamper(backend, db, ['DELETE FROM audit_log WHERE seq = 12']);
      const res = await verifyAudit(s);
      assert.equal(res.ok, false);
      assert.deepEqual(res.problems.at(-1)!.kind, 'head');
      assert.match(res.problems.at(-1)!.message, /entries 12 to 12 are missing at the end/);
      assert.deepEqual(res.problems.map((p) => p.message).filter((m) => /entry 6 is missing/.test(m)).length, 1);
    });
  });
}

test('SQLite migration 0008: the operator tokens of a database from before operators belong to the admin "admin"; old runs have no requester', async (t) => {
  const { openSqlite } = await import('../src/common/sqlite.ts');
  const { SERVER_MIGRATIONS } = await import('../src/server/store/sqlite-migrations.ts');
  const { SqliteStore } = await import('../src/server/store/sqlite-store.ts');
  const { tempDir } = await import('./helpers.ts');
  const path = `${tempDir(t)}/myx.db`;
  const old = openSqlite(path, SERVER_MIGRATIONS.filter((m) => m.version <= 7));
  old.exec(`INSERT INTO operator_tokens (token_hash, name, created_at) VALUES ('t-first', 'initial', '${NOW}'), ('t-replica', 'initial', '${LATER}');
    INSERT INTO runs (id, command, args, target, created_at) VALUES ('r1', 'true', '[]', 'all', '${NOW}');`);
  old.close();
  const s = new SqliteStore(path);
  t.after(() => s.close());
  await oldDatabaseMigrated(s);
});

test('PostgreSQL migration 0006: the same', { skip: BACKENDS[1]!.skip }, async (t) => {
  const { migratePostgres } = await import('../src/server/store/postgres/migrate.ts');
  const { POSTGRES_MIGRATIONS } = await import('../src/server/store/postgres/migrations.ts');
  const { PostgresStore } = await import('../src/server/store/postgres-store.ts');
  const url = await BACKENDS[1]!.fresh(t, { empty: true });
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await migratePostgres(pool, POSTGRES_MIGRATIONS.filter((m) => m.version <= 5));
    await pool.query(`INSERT INTO operator_tokens (token_hash, name, created_at) VALUES ('t-first', 'initial', '${NOW}'), ('t-replica', 'initial', '${LATER}');
      INSERT INTO runs (id, command, args, target, created_at) VALUES ('r1', 'true', '[]', 'all', '${NOW}');`);
  } finally {
    await pool.end();
  }
  const s = await PostgresStore.open(url);
  t.after(() => s.close());
  await oldDatabaseMigrated(s);
});

async function oldDatabaseMigrated(s: Store): Promise<void> {
  assert.deepEqual((await s.listOperators()).map((o) => [o.name, o.role, o.scope, o.created_at]), [['admin', 'admin', {}, NOW]]);
  for (const token of ['t-first', 't-replica']) assert.equal((await s.operatorByTokenHash(token, LATER))?.name, 'admin', token);
  assert.equal((await s.getRun('r1'))!.requested_by, null);
  assert.equal(await s.bootstrapAdmin('op_new', 't-first', LATER, false), 'known', 'the data dir\'s token file is known: nothing to create');
  assert.equal((await s.listAudit({ limit: 10 })).length, 0, 'the log starts empty');
}

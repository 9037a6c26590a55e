// Moving a control plane from SQLite to PostgreSQL (`myx store copy`) keeps agents, tokens and
// history: every record reads back the same through the other backend, and a real control plane
// restarted on the copy keeps its agents working without re-enrolling.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { copyStore } from '../src/server/store/copy/store-copy.ts';
import { PostgresStore } from '../src/server/store/postgres-store.ts';
import { SqliteStore } from '../src/server/store/sqlite-store.ts';
import type { AuditDraft } from '../src/protocol/audit.ts';
import type { Store } from '../src/server/store/store.ts';
import { enrollAgent, freePort, runBin, startAgent, startServer, tempDir, type TestServer } from './helpers.ts';
import { postgresServer, postgresSkip } from './postgres-server.ts';

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T02:00:00.000Z';
const odd = 'nul\u0000 tab\t é 😀';

/** Everything the Store interface shows, for comparing two stores. */
async function everything(s: Store) {
  const commands = await s.listCommands({ limit: 1000 });
  return plain({
    agents: await s.listAgents(), removed: await s.listAgents('removed'), tokens: await s.listEnrollmentTokens(100),
    operator: await s.operatorByTokenHash('op-hash', NOW), operators: await s.listOperators(), // (a use first: it moves last_used_at) session: await s.useSession('session-hash', NOW, NOW),
    runs: await s.listRuns(100), commands,
    output: await Promise.all(commands.map(async (c) => ({
      state: await s.outputState(c.id),
      chunks: (await s.readOutput(c.id, 'all', 0, 1 << 30)).map((k) => ({ ...k, data: Buffer.from(k.data).toString('base64') })),
    }))),
    identity: await s.clusterFingerprint(),
    audit: await s.listAudit({ limit: 100 }), auditHead: await s.auditHead(),
    webhooks: await s.listWebhooks(),
    deliveries: await Promise.all((await s.listWebhooks()).map((w) => s.listDeliveries(w.id, 100))),
  });
}

/** Records as plain data (SQLite hands out rows without a prototype). */
const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('myx store copy', { skip: postgresSkip() }, () => {
  test('SQLite to PostgreSQL and back: every record reads the same (text with NUL, flags, order, removed agents, the certificate)', async (t) => {
    const dir = tempDir(t);
    const sqlite = new SqliteStore(join(dir, 'a.db'));
    const by = (action: AuditDraft['action']): AuditDraft => ({
      at: NOW, actor_kind: 'operator', actor: 'alice', actor_id: 'op_alice', action, targets: [odd], details: { note: odd }, source: '127.0.0.1', outcome: 'ok',
    });
    await sqlite.addOperator({ id: 'op_alice', name: 'alice', role: 'operator', scope: { env: odd } }, 'op-hash', NOW, by('operator.add'));
    await sqlite.createSession({ idHash: 'session-hash', operatorTokenHash: 'op-hash', expiresAt: LATER }, NOW, by('session.sign_in'));
    await sqlite.recordClusterFingerprint('AB:CD', NOW);
    // a webhook with a secret, and deliveries: one delivered after a failed attempt, one waiting for its run
    await sqlite.addWebhook({ id: 'whk_1', url: 'https://hooks.example/é 😀', events: ['command.finished', 'run.finished'], secret: 'whsec_copied-secret', fingerprint: 'AB:CD', created_by: 'alice' }, NOW, 10, by('webhook.add'));
    for (const id of ['a1', 'a2']) {
      await sqlite.createEnrollmentToken({ id: `enr_${id}`, tokenHash: `e-${id}`, expiresAt: LATER }, NOW, 100);
      await sqlite.enrollAgent(`e-${id}`, {
        id, name: id, token: `tok-${id}`, tokenHash: `hash-${id}`, hostname: odd, os: 'linux', version: '1', mode: 'web', web_port: 8443,
        fingerprint: 'FF:00', advertise_address: null, labels: { k: odd }, remote_address: '127.0.0.1',
      }, NOW);
    }
    await sqlite.createEnrollmentToken({ id: 'enr_unused', tokenHash: 'e-unused', expiresAt: LATER }, NOW, 100);
    await sqlite.recordPushHealth('a1', { kind: 'failed', error: odd, at: NOW });
    const cmd = (id: string, agent_id = 'a1') => ({ id, status: 'queued' as const, agent_id, command: 'echo', args: [odd], timeout: 5, env: { K: 'v' }, cwd: null, expires_at: LATER });
    await sqlite.createRun({ id: 'r1', command: 'echo', args: [odd], target: odd, max_concurrency: 2, max_errors: null, requested_by: 'alice' },
      [cmd('c3'), cmd('c1'), cmd('c2'), cmd('c9', 'a2')], NOW, by('run.create'));
    await sqlite.claimForPush('c3', NOW, LATER);
    await sqlite.markStarted('c3', 'a1', NOW);
    await sqlite.appendOutput('c3', 'a1', { chunks: [{ offset: 0, stream: 'stdout', data: odd }], pieces: [], totals: { stdout: 20, stderr: 0 } }, { head_bytes: 1000, tail_bytes: 10 });
    // raw bytes that are not UTF-8, and a tail past a gap
    await sqlite.appendOutput('c3', 'a1', { chunks: [], pieces: [{ stream: 'stderr', offset: 0, at: 30, data: Buffer.from([0xff, 0, 0xc3]) },
      { stream: 'stderr', offset: 2000, at: 2100, data: Buffer.from('end'), tail: true }] }, { head_bytes: 1000, tail_bytes: 10 });
    await sqlite.recordResult('c3', 'a1', {
      status: 'failed', exit_code: 1, signal: null, stdout: odd, stderr: 'e', stdout_bytes: 9, stderr_bytes: 1, stdout_truncated: true,
      stderr_truncated: false, error: odd, started_at: NOW, finished_at: NOW,
    }, NOW);
    await sqlite.removeAgent('a2', NOW);
    const [sent] = await sqlite.claimDeliveries(NOW, LATER, 1);
    await sqlite.recordAttempt(sent!.id, sent!.claim, { ok: false, attempt: { at: NOW, status: 500, error: 'tab\t é 😀', duration_ms: 3 }, retryAt: LATER });
    const before = await everything(sqlite);
    assert.deepEqual(before.deliveries[0]!.map((d) => [d.event, d.state, d.attempts]).sort(), [
      ['command.finished', 'pending', 0], ['command.finished', 'pending', 1], ['run.finished', 'pending', 0]]);
    await sqlite.close();

    const url = await (await postgresServer()).createDatabase({ empty: true });
    const counts = await copyStore({ kind: 'sqlite', path: join(dir, 'a.db') }, { kind: 'postgres', url, display: 'pg' });
    assert.deepEqual(counts, {
      operators: 1, operator_tokens: 1, enrollment_tokens: 3, agents: 2, runs: 1, commands: 4, output_chunks: 3, cluster_identity: 1, console_sessions: 1,
      audit_log: 4, audit_head: 1, webhooks: 1, webhook_deliveries: 3,
    });
    await copyStore({ kind: 'postgres', url, display: 'pg' }, { kind: 'sqlite', path: join(dir, 'b.db') });

    const pgStore = await PostgresStore.open(url);
    t.after(() => pgStore.close());
    const back = new SqliteStore(join(dir, 'b.db'));
    t.after(() => back.close());
    assert.deepEqual(await everything(pgStore), before);
    assert.deepEqual(await everything(back), before);
    for (const s of [pgStore, back]) {
      // the audit chain goes on from where it was: the next entry links to the copied head
      const next = await s.appendAudit(by('command.cancel'));
      assert.deepEqual([next.seq, next.prev_hash], [5, before.auditHead!.hash]);
      // the copy enqueued nothing of its own, and its deliveries go on where they were
      assert.equal((await s.listDeliveries('whk_1', 100)).length, 3);
      // creation order survives the copy: of commands created at the same time, the first created is handed out first
      assert.deepEqual((await s.claimForAgent('a1', NOW, LATER, 10)).commands.map((c) => c.id), ['c1', 'c2']);
    }
  });

  test('a control plane moved from SQLite to PostgreSQL keeps its agents working and its history, without re-enrolling', async (t) => {
    const dir = tempDir(t);
    const listen = ['--listen', `127.0.0.1:${await freePort()}`, '--heartbeat-interval', '1'];
    let server: TestServer = await startServer(dir, listen);
    t.after(() => server.proc.kill());
    const [web, poll] = await Promise.all([
      enrollAgent(server, dir, 'web-1').then((c) => startAgent(c)),
      enrollAgent(server, dir, 'poll-1', ['--no-web']).then((c) => startAgent(c, [])),
    ]);
    t.after(() => Promise.all([web.proc.kill(), poll.proc.kill()]));
    const before = await server.myx(['run', '--all', '--json', '--', 'echo', 'on sqlite']);
    assert.equal(before.code, 0, before.stderr);
    const history = (JSON.parse(before.stdout) as CommandRecord[]).map((c) => c.id).sort();
    const agentsBefore = JSON.parse((await server.myx(['agents', '--json'])).stdout) as { id: string; name: string }[];
    await server.proc.kill(); // stop the control plane, then copy

    const url = await (await postgresServer()).createDatabase({ empty: true });
    const copy = await runBin('myx', ['store', 'copy', '--from', server.dataDir], { MYX_DATABASE_URL: url });
    assert.equal(copy.code, 0, copy.stderr);
    assert.match(copy.stdout, /2 agents, 2 enrollment tokens, 1 operator tokens, 1 runs, 2 commands, \d+ output chunks, the certificate fingerprint agents pinned/);
    const again = await runBin('myx', ['store', 'copy', '--from', server.dataDir], { MYX_DATABASE_URL: url });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /is not empty .*pass --force to replace what it holds/);

    server = await startServer(dir, [...listen, '--store', url]); // the same data dir: the same certificate and operator token
    const agentsAfter = JSON.parse((await server.myx(['agents', '--json'])).stdout) as { id: string; name: string }[];
    assert.deepEqual(agentsAfter.map((a) => [a.id, a.name]), agentsBefore.map((a) => [a.id, a.name]));
    const kept = JSON.parse((await server.myx(['commands', '--json'])).stdout) as CommandRecord[];
    assert.deepEqual(kept.map((c) => c.id).sort(), history);
    assert.deepEqual(kept.map((c) => c.stdout), ['on sqlite\n', 'on sqlite\n']);
    const after = await server.myx(['run', '--all', '--json', '--', 'echo', 'on postgres']);
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual((JSON.parse(after.stdout) as CommandRecord[]).map((c) => [c.agent_name, c.status, c.stdout, c.delivery]).sort(),
      [['poll-1', 'succeeded', 'on postgres\n', 'poll'], ['web-1', 'succeeded', 'on postgres\n', 'push']]);

    await server.proc.kill();
    const forced = await runBin('myx', ['store', 'copy', '--from', server.dataDir, '--to', url, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
  });
});

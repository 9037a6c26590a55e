// The audit log on a real control plane: every kind of action leaves one entry (who, what, its
// targets, the source address, when, and the outcome: ok or the error code), failed
// authentications one per episode of an address, not one per request; `myx audit` filters them
// and exports JSON lines; `myx audit verify` finds an entry edited, deleted or moved in the
// database by hand (SQLite and PostgreSQL), says which, and exits 1.

import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createLogger } from '../src/common/logger.ts';
import { AUDIT_ACTIONS } from '../src/protocol/audit.ts';
import { auditAuthFailures } from '../src/server/audit.ts';
import type { ServerContext } from '../src/server/context.ts';
import { SqliteStore } from '../src/server/store/sqlite-store.ts';
import type { AuditEntry } from '../src/protocol/wire.ts';
import { eventually, startServer, tempDir, type TestServer } from './helpers.ts';
import { postgresServer, postgresSkip } from './postgres-server.ts';
import { closePool, send } from './raw-http.ts';
import { STAGING, startTeamFleet, type TeamFleet } from './team-fleet.ts';

const entriesOf = (jsonLines: string) => jsonLines.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);

describe('the audit log', () => {
  const dir = tempDir();
  let f: TeamFleet;
  const audit = async (args: string[] = []) => {
    const r = await f.server.myx(['audit', '--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return entriesOf(r.stdout);
  };

  before(async () => {
    f = await startTeamFleet(dir);
  });
  after(async () => {
    closePool();
    await f?.server.proc.kill();
  });

  test('every kind of action leaves an entry: who, what, targets, source, time and outcome', async () => {
    const [admin, op, opStage, viewer] = ['admin', 'op-all', 'op-stage', 'view-all'].map((n) => f.callers.find((c) => c.name === n)!) as [typeof f.admin, typeof f.admin, typeof f.admin, typeof f.admin];
    const started = new Date().toISOString();
    const agentId = await f.agent('web-1', STAGING); // agent.enroll (and enrollment_token.create)
    await f.agent('prod-1', { env: 'prod' });
    const run = await f.call(op, 'POST', '/api/runs', { targets: { agents: ['web-1'] }, command: 'systemctl', args: ['restart', 'nginx'], env: { SECRET: 'hunter2' } });
    assert.equal(run.status, 201);
    assert.equal((await f.call(viewer, 'POST', '/api/runs', { targets: { all: true }, command: 'rm', args: ['-rf', '/'] })).status, 403);
    assert.equal((await f.call(opStage, 'POST', '/api/runs', { targets: { labels: { env: 'prod' } }, command: 'reboot' })).status, 403);
    assert.equal((await f.call(op, 'POST', `/api/commands/${run.body.commands[0].id}/cancel`)).status, 200);
    assert.equal((await f.call(admin, 'POST', '/api/agents/web-1/labels', { set: { tier: 'front' } })).status, 200);
    assert.equal((await f.call(admin, 'POST', '/api/agents/upgrade', { targets: { agents: ['web-1'] } })).status, 201);
    const spare = await f.call(admin, 'POST', '/api/enrollment-tokens', { ttl_seconds: 60 });
    assert.equal((await f.call(admin, 'DELETE', `/api/enrollment-tokens/${spare.body.id}`)).status, 200);
    assert.equal((await f.call(admin, 'DELETE', '/api/agents/prod-1')).status, 200);
    assert.equal((await f.server.myx(['operators', 'add', 'temp', '--role', 'viewer'])).code, 0);
    assert.equal((await f.server.myx(['operators', 'rotate', 'temp'])).code, 0);
    assert.equal((await f.server.myx(['operators', 'remove', 'temp'])).code, 0);
    const hook = await f.server.myx(['webhooks', 'add', 'http://127.0.0.1:9/audit?token=in-the-query', '--events', 'run.finished', '--json']);
    assert.equal(hook.code, 0, hook.stderr);
    const { webhook, secret } = JSON.parse(hook.stdout) as { webhook: { id: string }; secret: string };
    assert.equal((await f.server.myx(['webhooks', 'remove', webhook.id])).code, 0);
    const signIn = await send(`${f.server.url}/api/session`, { json: { token: viewer.token } });
    const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
    const out = await send(`${f.server.url}/api/session`, { method: 'DELETE', headers: { cookie, 'x-myx-csrf': signIn.body.csrf_token } });
    assert.equal(out.body.signed_out, true);

    const log = await audit(['--since', started]);
    const find = (action: string, outcome = 'ok') => {
      const e = log.find((x) => x.action === action && x.outcome === outcome);
      assert.ok(e, `an entry ${action} ${outcome} in ${JSON.stringify(log.map((x) => [x.action, x.outcome]))}`);
      assert.ok(e.at >= started && Date.parse(e.at) <= Date.now(), `${action}: its time`);
      return e;
    };
    const enrolled = find('agent.enroll');
    assert.deepEqual([enrolled.actor_kind, enrolled.actor, enrolled.actor_id, enrolled.source], ['agent', 'web-1', agentId, '127.0.0.1']);
    const ran = find('run.create');
    assert.deepEqual([ran.actor_kind, ran.actor, ran.source, ran.targets], ['operator', 'op-all', '127.0.0.1', [run.body.run.id, 'web-1']]);
    assert.deepEqual([ran.details.command, ran.details.args, ran.details.env_keys], ['systemctl', ['restart', 'nginx'], ['SECRET']]);
    assert.ok(!JSON.stringify(log).includes('hunter2'), 'environment values are not recorded, only their names');
    // refused by role before its body was read: the route and who asked
    const forbidden = find('run.create', 'ROLE_FORBIDDEN');
    assert.deepEqual([forbidden.actor, forbidden.details], ['view-all', { request: 'POST /api/runs' }]);
    // refused after it was read: what was asked for too
    const outOfScope = find('run.create', 'TARGET_OUT_OF_SCOPE');
    assert.deepEqual([outOfScope.actor, outOfScope.details.command, outOfScope.details.targets], ['op-stage', 'reboot', { labels: { env: 'prod' } }]);
    assert.deepEqual(find('command.cancel').targets, [run.body.commands[0].id, 'web-1']);
    assert.deepEqual(find('agent.labels').details.operator_labels, { tier: 'front' });
    assert.equal(find('agents.upgrade').details.version, '9.9.9');
    assert.deepEqual(find('enrollment_token.revoke').targets, [spare.body.id]);
    assert.ok(log.filter((e) => e.action === 'enrollment_token.create').length >= 3);
    assert.equal(find('agent.remove').targets[0], 'prod-1');
    for (const action of ['operator.add', 'operator.rotate', 'operator.remove']) assert.deepEqual([find(action).actor, find(action).targets], ['admin', ['temp']]);
    const added = find('webhook.add');
    assert.deepEqual([added.actor, added.targets, added.details], ['admin', [webhook.id], { url: 'http://127.0.0.1:9', events: ['run.finished'], pinned: false, secret: 'generated' }]);
    assert.deepEqual(find('webhook.remove').targets, [webhook.id]);
    assert.ok(!JSON.stringify(log).includes(secret) && !JSON.stringify(log).includes('in-the-query'), 'neither the secret nor the URL\'s query');
    assert.equal(find('session.sign_in').actor, 'view-all');
    assert.equal(find('session.sign_out').actor, 'view-all');
    const bootstrap = (await audit(['--since', '1d', '--action', 'operator.bootstrap']))[0]!;
    assert.deepEqual([bootstrap.actor_kind, bootstrap.actor, bootstrap.seq], ['system', 'control-plane', 1], 'the first start made the first admin');
    // every action kind but the failed authentications (next test) is here
    const kinds = new Set((await audit(['--since', '1d'])).map((e) => e.action));
    assert.deepEqual(AUDIT_ACTIONS.filter((a) => !kinds.has(a)), ['auth.failed']);
  });

  test('failed authentications are recorded once per episode of an address (when it starts, when it is blocked), not per request', async () => {
    const from = '127.0.0.77';
    for (let i = 0; i < 30; i++) {
      const r = await send(`${f.server.url}/api/agents`, { headers: { authorization: `Bearer myxo_wrong${i}` }, from });
      assert.equal(r.status, i < 20 ? 401 : 429);
    }
    const failed = await eventually(async () => {
      const got = (await audit(['--since', '1h', '--action', 'auth.failed'])).filter((e) => e.source === from);
      return got.length >= 2 ? got : undefined;
    }, 10_000, 'both entries');
    assert.deepEqual(failed.map((e) => [e.actor_kind, e.details.episode, e.outcome, e.targets]), [
      ['anonymous', 'started', 'OPERATOR_TOKEN_INVALID', ['/api/agents']], ['anonymous', 'blocked', 'AUTH_RATE_LIMITED', ['/api/agents']],
    ]);
  });

  test('myx audit filters by operator, action and time, prints a table, and exports JSON lines; viewers and operators may not read it', async () => {
    const byOp = await audit(['--since', '1h', '--operator', 'op-all']);
    assert.ok(byOp.length >= 2 && byOp.every((e) => e.actor === 'op-all' && e.actor_kind === 'operator'));
    assert.ok((await audit(['--since', '1h', '--action', 'command.cancel'])).every((e) => e.action === 'command.cancel'));
    assert.deepEqual(await audit(['--since', new Date(Date.now() + 60_000).toISOString()]), []);
    const table = await f.server.myx(['audit', '--operator', 'op-all']);
    assert.match(table.stdout, /^SEQ +TIME +ACTOR +ACTION +OUTCOME +FROM +TARGETS +DETAILS$/m);
    assert.match(table.stdout, /^\d+ +\S+ \S+ +op-all +run\.create +ok +127\.0\.0\.1 +run_\S+,web-1 +\{/m);
    const lines = (await f.server.myx(['audit', '--json'])).stdout.trimEnd().split('\n');
    for (const line of lines) {
      const e = JSON.parse(line) as AuditEntry;
      assert.deepEqual(Object.keys(e).sort(), ['action', 'actor', 'actor_id', 'actor_kind', 'at', 'details', 'hash', 'outcome', 'prev_hash', 'seq', 'source', 'targets']);
    }
    const viewer = f.callers.find((c) => c.name === 'view-all')!;
    assert.equal((await f.call(viewer, 'GET', '/api/audit')).body.error.code, 'ROLE_FORBIDDEN');
  });
});

test('a slow trickle of failed authentications from one address (an agent with a stale token) is one episode, not one entry per refill of its budget', async (t) => {
  const store = new SqliteStore(join(tempDir(t), 'myx.db'));
  t.after(() => store.close());
  const report = auditAuthFailures({ store, log: createLogger({ name: 'test', level: 'error' }) } as unknown as ServerContext);
  const started = { phase: 'started' as const, code: 'AGENT_TOKEN_INVALID', route: '/api/agents/heartbeat', method: 'POST' };
  // the limiter starts a new episode each time an address's budget is whole again (every 20 s for one failure per heartbeat)
  for (let i = 0; i < 5; i++) report({ ...started, address: '::ffff:10.0.0.5' });
  report({ ...started, address: '10.0.0.6' });
  report({ ...started, phase: 'blocked', address: '10.0.0.5' });
  // appends are serialized: once this one is in, every report's entry is in too
  const marker = await store.appendAudit({ ...(await store.listAudit({ limit: 1 }))[0]!, details: { marker: true } }); // (an entry's seq and hashes are not the draft's)
  const entries = (await store.listAudit({ limit: 100 })).filter((e) => e.seq < marker.seq);
  assert.deepEqual(entries.map((e) => [e.source, e.details.episode]).sort(), [['10.0.0.5', 'blocked'], ['10.0.0.5', 'started'], ['10.0.0.6', 'started']]);
});

/** Runs SQL on a control plane's database behind its back. */
type Tamper = (sql: string[]) => Promise<void>;

for (const backend of ['sqlite', 'postgres'] as const) {
  test(`myx audit verify (${backend}): an entry edited, one deleted and two swapped in the database are found, by seq; exit 1`, { skip: backend === 'postgres' && postgresSkip() }, async (t) => {
    const dir = tempDir(t);
    const url = backend === 'postgres' ? await (await postgresServer()).createDatabase() : undefined;
    const server: TestServer = await startServer(dir, url ? ['--store', url] : []);
    t.after(() => server.proc.kill());
    for (let i = 0; i < 8; i++) assert.equal((await server.myx(['operators', 'add', `person-${i}`, '--role', 'viewer'])).code, 0);
    const ok = await server.myx(['audit', 'verify']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^audit log intact: 9 entries; head: seq 9, hash [0-9a-f]{64}$/m);
    const tamper: Tamper = url
      ? async (sql) => {
        const pool = new pg.Pool({ connectionString: url, max: 1 });
        try {
          for (const q of sql) await pool.query(q);
        } finally {
          await pool.end();
        }
      }
      : async (sql) => {
        const db = new DatabaseSync(join(server.dataDir, 'myx.db'));
        try {
          db.exec('PRAGMA busy_timeout = 5000');
          for (const q of sql) db.exec(q);
        } finally {
          db.close();
        }
      };
    await tamper([
      `UPDATE audit_log SET details = '{"role":"admin","scope":{}}' WHERE seq = 3`, // person-1 made an admin, after the fact
      'DELETE FROM audit_log WHERE seq = 5',
      'UPDATE audit_log SET seq = -1 WHERE seq = 7', 'UPDATE audit_log SET seq = 7 WHERE seq = 8', 'UPDATE audit_log SET seq = 8 WHERE seq = -1',
    ]);
    const bad = await server.myx(['audit', 'verify']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^audit log NOT intact \(8 entries read\):$/m);
    assert.match(bad.stdout, /^ {2}seq 3: edited: entry 3 was changed after it was written/m);
    assert.match(bad.stdout, /^ {2}seq 5: missing: entry 5 is missing \(deleted\)$/m);
    assert.match(bad.stdout, /^ {2}seq 7: reordered: entry 7 is out of order: it was written right after the entry now at seq 8$/m);
    assert.match(bad.stdout, /^ {2}seq 8: reordered: entry 8 is out of order: it was written right after the entry now at seq 6$/m);
    const json = JSON.parse((await server.myx(['audit', 'verify', '--json'])).stdout) as { ok: boolean; problems: { seq: number; kind: string }[] };
    assert.equal(json.ok, false);
    assert.deepEqual(json.problems.map((p) => [p.seq, p.kind]).slice(0, 4), [[3, 'edited'], [5, 'missing'], [7, 'reordered'], [8, 'reordered']]);
  });
}

// One suite for the Store interface, run against every backend (SQLite today; PostgreSQL joins
// this list when it lands). Each test gets its own fresh database.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SqliteStore } from '../src/server/store/sqlite-store.ts';
import type { NewAgent, Store } from '../src/server/store/store.ts';
import type { CommandResult } from '../src/protocol/wire.ts';
import { tempDir } from './helpers.ts';

interface Backend {
  name: string;
  open: (t: { after: (fn: () => void) => void }) => Promise<Store>;
}

const backends: Backend[] = [
  { name: 'sqlite', open: async (t) => new SqliteStore(join(tempDir(t), 'myx.db')) },
];

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T02:00:00.000Z';

function agent(id: string, name = id): NewAgent {
  return {
    id, name, token: `tok-${id}`, tokenHash: `hash-${id}`, hostname: 'h', os: 'linux', version: '0', mode: 'web',
    web_port: 8443, fingerprint: null, advertise_address: null, labels: { env: 'test' }, remote_address: '127.0.0.1',
  };
}

const result: CommandResult = {
  status: 'succeeded', exit_code: 0, signal: null, stdout: 'hi\n', stderr: '', stdout_bytes: 3, stderr_bytes: 0,
  stdout_truncated: false, stderr_truncated: false, error: null, started_at: NOW, finished_at: NOW,
};

for (const backend of backends) {
  describe(`Store: ${backend.name}`, () => {
    test('an enrollment token works once, and not after it expires', async (t) => {
      const s = await backend.open(t);
      t.after(() => s.close());
      await s.createEnrollmentToken('e1', '2026-01-01T01:00:00.000Z', NOW);
      assert.deepEqual(await s.enrollAgent('nope', agent('a0'), NOW), { ok: false, reason: 'unknown' });
      const ok = await s.enrollAgent('e1', agent('a1'), NOW);
      assert.equal(ok.ok, true);
      assert.deepEqual(await s.enrollAgent('e1', agent('a2'), NOW), { ok: false, reason: 'used' });
      await s.createEnrollmentToken('e2', '2026-01-01T01:00:00.000Z', NOW);
      assert.deepEqual(await s.enrollAgent('e2', agent('a3'), LATER), { ok: false, reason: 'expired' });
      await s.createEnrollmentToken('e3', LATER, NOW);
      assert.deepEqual(await s.enrollAgent('e3', agent('a4', 'a1'), NOW), { ok: false, reason: 'name_taken' });
      assert.equal((await s.agentByTokenHash('hash-a1'))?.labels.env, 'test');
    });

    test('commands go queued -> dispatched -> final, results are idempotent', async (t) => {
      const s = await backend.open(t);
      t.after(() => s.close());
      await s.createEnrollmentToken('e', LATER, NOW);
      await s.enrollAgent('e', agent('a1'), NOW);
      const [c] = await s.enqueue([{ id: 'c1', agent_id: 'a1', command: 'echo', args: ['hi'], timeout: 5, env: null, cwd: null }], NOW);
      assert.equal(c!.status, 'queued');
      assert.equal(c!.agent_name, 'a1');
      await s.recordPushFailure('c1', 'connection refused');
      assert.equal((await s.getCommands(['c1']))[0]!.last_push_error, 'connection refused');
      await s.markDispatched('c1', 'push', NOW);
      const d = (await s.getCommands(['c1']))[0]!;
      assert.deepEqual([d.status, d.delivery, d.last_push_error], ['dispatched', 'push', null]);
      assert.equal((await s.recordResult('c1', 'other', result, NOW)).kind, 'not_yours');
      assert.equal((await s.recordResult('nope', 'a1', result, NOW)).kind, 'not_found');
      const first = await s.recordResult('c1', 'a1', result, NOW);
      assert.equal(first.kind, 'recorded');
      const again = await s.recordResult('c1', 'a1', { ...result, status: 'failed', stdout: 'other' }, NOW);
      assert.equal(again.kind, 'duplicate');
      const final = (await s.getCommands(['c1']))[0]!;
      assert.deepEqual([final.status, final.stdout, final.exit_code], ['succeeded', 'hi\n', 0]);
    });

    test('a push answer that arrives after the result still records the delivery', async (t) => {
      const s = await backend.open(t);
      t.after(() => s.close());
      await s.createEnrollmentToken('e', LATER, NOW);
      await s.enrollAgent('e', agent('a1'), NOW);
      await s.enqueue([{ id: 'c1', agent_id: 'a1', command: 'true', args: [], timeout: 5, env: null, cwd: null }], NOW);
      await s.recordResult('c1', 'a1', result, NOW);
      await s.markDispatched('c1', 'push', NOW);
      const c = (await s.getCommands(['c1']))[0]!;
      assert.deepEqual([c.status, c.delivery], ['succeeded', 'push']);
    });

    test('heartbeats update what the agent says about itself', async (t) => {
      const s = await backend.open(t);
      t.after(() => s.close());
      await s.createEnrollmentToken('e', LATER, NOW);
      await s.enrollAgent('e', agent('a1'), NOW);
      const row = await s.recordHeartbeat('a1', { ...agent('a1'), mode: 'poll', web_port: null, fingerprint: 'AB' }, '127.0.0.9', LATER);
      assert.deepEqual([row.mode, row.web_port, row.fingerprint, row.remote_address, row.last_heartbeat_at], ['poll', null, 'AB', '127.0.0.9', LATER]);
      assert.equal((await s.listAgents()).length, 1);
      assert.equal(await s.removeAgent('a1'), true);
      assert.equal((await s.listAgents()).length, 0);
    });
  });
}

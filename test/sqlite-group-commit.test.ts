// GroupCommit (src/common/sqlite.ts): writes of one loop turn committed together, each undone alone
// when it throws, and none reported done before its COMMIT.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { GroupCommit, openSqlite } from '../src/common/sqlite.ts';
import { tempDir } from './helpers.ts';

function open() {
  const db = openSqlite(join(tempDir(), 'g.db'), [{
    version: 1, name: 'tables',
    sql: `CREATE TABLE parent (id TEXT PRIMARY KEY);
      CREATE TABLE t (id TEXT PRIMARY KEY, parent TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);`,
  }]);
  const ids = () => (db.prepare('SELECT id FROM t ORDER BY id').all() as { id: string }[]).map((r) => r.id);
  return { db, ids, group: new GroupCommit(db) };
}

test('writes issued together commit together; one that throws is undone alone and only its caller hears why', async () => {
  const { db, ids, group } = open();
  const insert = db.prepare('INSERT INTO t (id) VALUES (?)');
  const outcomes = await Promise.allSettled([
    // told once the group has committed (no transaction open any more)
    group.run(() => insert.run('a')).then(() => assert.equal(db.isTransaction, false)),
    group.run(() => {
      insert.run('b');
      throw new Error('changed its mind after writing');
    }),
    group.run(() => insert.run('a')), // a constraint error: this statement only
    group.run(() => insert.run('c')),
  ]);
  assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled']);
  assert.match(String((outcomes[1] as PromiseRejectedResult).reason), /changed its mind/);
  assert.match(String((outcomes[2] as PromiseRejectedResult).reason), /UNIQUE/);
  assert.deepEqual(ids(), ['a', 'c']);
  assert.equal(db.isTransaction, false);
});

test('a failed COMMIT fails every write of the group, tells each it was undone, and none is kept', async () => {
  const { db, ids, group } = open();
  const insert = db.prepare('INSERT INTO t (id, parent) VALUES (?, ?)');
  // the deferred foreign key fails only at COMMIT, after both writes ran
  const undone: string[] = [];
  const outcomes = await Promise.allSettled([
    group.run(() => insert.run('x', null), () => undone.push('x')), group.run(() => insert.run('y', 'missing'), () => undone.push('y')),
  ]);
  assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected']);
  assert.deepEqual(undone, ['x', 'y'], 'each write hears that it was taken back');
  assert.match(String((outcomes[0] as PromiseRejectedResult).reason), /FOREIGN KEY/);
  assert.deepEqual(ids(), []);
  assert.equal(db.isTransaction, false);
  // the next group commits as usual
  await group.run(() => insert.run('z', null));
  assert.deepEqual(ids(), ['z']);
});

// Opening an embedded SQLite database the same way everywhere: file 0600 from the start, WAL,
// and numbered migrations applied once, in order, each in its own transaction.

import { closeSync, openSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /**
   * The migration rebuilds a table that others reference (create, copy, drop, rename: SQLite's way
   * to drop a constraint). Foreign keys are off while it runs, or dropping the old table would
   * cascade to the rows that reference it; they are checked before it commits. @default false
   */
  rebuildsTables?: boolean;
}

export function openSqlite(path: string, migrations: Migration[]): DatabaseSync {
  closeSync(openSync(path, 'a', 0o600)); // create with the right mode before SQLite does
  const db = new DatabaseSync(path);
  try {
    // The busy timeout first: switching to WAL needs a lock that another process opening the
    // same new file may hold for a moment. WAL + NORMAL survives a killed process (what we
    // promise); FULL would also survive power loss.
    db.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
    migrate(db, migrations);
  } catch (err) {
    db.close(); // e.g. a full disk: the caller may try again later
    throw err;
  }
  return db;
}

/** Each migration is applied under BEGIN IMMEDIATE, after checking there that no other process applied it. */
function migrate(db: DatabaseSync, migrations: Migration[]): void {
  const applied = () => new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  transaction(db, () => db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)'));
  if (migrations.every((m) => applied().has(m.version))) return;
  for (const { version, name, sql, rebuildsTables } of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied().has(version)) continue;
    if (rebuildsTables) db.exec('PRAGMA foreign_keys = OFF'); // a no-op inside a transaction: set before it
    try {
      transaction(db, () => {
        if (applied().has(version)) return;
        db.exec(sql);
        if (rebuildsTables && db.prepare('PRAGMA foreign_key_check').all().length > 0) {
          throw new Error(`migration ${name} would leave rows pointing at nothing; nothing was changed`);
        }
        db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(version, new Date().toISOString());
      });
    } finally {
      if (rebuildsTables) db.exec('PRAGMA foreign_keys = ON');
    }
  }
}

/** Runs `fn` inside BEGIN IMMEDIATE ... COMMIT, rolling back if it throws. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const out = fn();
    db.exec('COMMIT');
    return out;
  } catch (err) {
    // SQLite may have rolled back already (disk full, I/O error): a second ROLLBACK would hide why.
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

interface Pending {
  fn: () => unknown;
  undone: (() => void) | undefined;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Writes that arrive in one turn of the event loop, committed together: one BEGIN IMMEDIATE ...
 * COMMIT for the group instead of one each. A commit appends every page it changed to the WAL, and
 * the writes of a fan-out (a claim, a result per command) change the same few index pages, so most
 * of a lone commit's cost is shared. Each write runs in its own savepoint: one that throws is undone
 * alone and only its caller gets the error. Callers hear back only after the COMMIT, so nothing is
 * reported done before it is durable; when BEGIN or COMMIT fails, every caller of the group gets the
 * error and nothing of the group was written.
 */
export class GroupCommit {
  readonly #db: DatabaseSync;
  readonly #savepoint: StatementSync;
  readonly #release: StatementSync;
  readonly #rollbackTo: StatementSync;
  #queue: Pending[] = [];

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#savepoint = db.prepare('SAVEPOINT grouped');
    this.#release = db.prepare('RELEASE grouped');
    this.#rollbackTo = db.prepare('ROLLBACK TO grouped');
  }

  /**
   * Runs `fn` (synchronous statements, no transaction of its own) in the next group; resolves once
   * that committed. `undone` is called, at once, when a COMMIT that failed took back what `fn` did
   * (for a copy in memory that `fn` updated along with its write).
   */
  run<T>(fn: () => T, undone?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // setImmediate: after the loop has read every socket that was ready, so their writes group
      if (this.#queue.length === 0) setImmediate(() => this.#flush());
      this.#queue.push({ fn, undone, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  #flush(): void {
    const group = this.#queue;
    this.#queue = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      transaction(this.#db, () => {
        for (const { fn } of group) {
          this.#savepoint.run();
          try {
            outcomes.push({ ok: true, value: fn() });
          } catch (err) {
            this.#rollbackTo.run();
            outcomes.push({ ok: false, err });
          }
          this.#release.run();
        }
      });
    } catch (err) {
      for (const { undone } of group) undone?.();
      for (const { reject } of group) reject(err);
      return;
    }
    group.forEach(({ resolve, reject }, i) => {
      const o = outcomes[i]!;
      if (o.ok) resolve(o.value);
      else reject(o.err);
    });
  }
}

// An SQLite file as one side of `myx store copy` (copy-tables.ts): opened and migrated like the
// server opens it, read in one read transaction, written in one write transaction.

import type { DatabaseSync } from 'node:sqlite';
import { openSqlite } from '../../../common/sqlite.ts';
import { SERVER_MIGRATIONS } from '../sqlite-migrations.ts';
import { COPY_TABLES, quoted, type CopyEnd, type CopyRow, type CopyTable } from './copy-tables.ts';

const BATCH = 1000;

export class SqliteEnd implements CopyEnd {
  readonly display: string;
  readonly #db: DatabaseSync;

  constructor(path: string) {
    this.display = path;
    this.#db = openSqlite(path, SERVER_MIGRATIONS);
  }

  async *read(table: CopyTable): AsyncIterable<CopyRow[]> {
    const select = this.#db.prepare(`SELECT rowid AS _rowid, ${table.columns.map(quoted).join(', ')} FROM ${table.name} WHERE rowid > ? ORDER BY rowid LIMIT ?`);
    for (let after = Number.MIN_SAFE_INTEGER; ;) {
      const rows = select.all(after, table.batch ?? BATCH) as Record<string, unknown>[];
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!._rowid as number;
      yield rows.map((r) => {
        const out: CopyRow = {};
        for (const c of table.columns) out[c] = table.flags?.includes(c) ? r[c] === 1 : (r[c] as CopyRow[string]);
        return out;
      });
    }
  }

  async countRows(): Promise<number> {
    return COPY_TABLES.reduce((n, t) => n + (this.#db.prepare(`SELECT COUNT(*) AS n FROM ${t.name}`).get() as { n: number }).n, 0);
  }

  async snapshot<T>(fn: () => Promise<T>): Promise<T> {
    this.#db.exec('BEGIN'); // deferred: a read transaction, one snapshot of the WAL
    try {
      return await fn();
    } finally {
      this.#db.exec('COMMIT');
    }
  }

  async writeAll(fn: Parameters<CopyEnd['writeAll']>[0]): Promise<void> {
    // One write transaction held across the awaits of an async source: only this copy uses the connection.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      await fn({
        clear: async () => {
          for (const t of [...COPY_TABLES].reverse()) this.#db.exec(`DELETE FROM ${t.name}`);
        },
        insert: async (table, rows) => {
          const insert = this.#db.prepare(`INSERT INTO ${table.name} (${table.columns.map(quoted).join(', ')}) VALUES (${table.columns.map(() => '?').join(', ')})`);
          for (const r of rows) insert.run(...table.columns.map((c) => (typeof r[c] === 'boolean' ? (r[c] ? 1 : 0) : r[c] as string | number | null)));
        },
      });
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

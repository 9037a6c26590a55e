// A PostgreSQL database as one side of `myx store copy` (copy-tables.ts): migrated like the server
// does it, read in one REPEATABLE READ snapshot, written in one transaction.

import type pg from 'pg';
import { migratePostgres } from '../postgres/migrate.ts';
import { createPool } from '../postgres/pool.ts';
import { textRow } from '../postgres/rows.ts';
import { COPY_TABLES, quoted, type CopyEnd, type CopyRow, type CopyTable } from './copy-tables.ts';

const BATCH = 1000;
/** Keyset order per table: commands in creation order (seq), the others by primary key. */
const ORDER: Record<string, string[]> = {
  operators: ['id'], operator_tokens: ['token_hash'], enrollment_tokens: ['token_hash'], agents: ['id'], runs: ['id'], commands: ['seq'],
  output_chunks: ['command_id', 'stream', 'offset'], cluster_identity: ['id'], console_sessions: ['id_hash'],
  audit_log: ['seq'], audit_head: ['id'], webhooks: ['id'], webhook_deliveries: ['id'],
};

export class PostgresEnd implements CopyEnd {
  readonly display: string;
  readonly #pool: pg.Pool;
  #client: pg.PoolClient | undefined;

  private constructor(pool: pg.Pool, display: string) {
    this.#pool = pool;
    this.display = display;
  }

  static async open(url: string, display: string): Promise<PostgresEnd> {
    const pool = createPool(url, { max: 1 });
    try {
      await migratePostgres(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresEnd(pool, display);
  }

  async *read(table: CopyTable): AsyncIterable<CopyRow[]> {
    const key = ORDER[table.name]!;
    const db = this.#client ?? this.#pool;
    let last: unknown[] | undefined;
    for (;;) {
      const after = last ? `WHERE (${key.map(quoted).join(', ')}) > (${key.map((_, i) => `$${i + 2}`).join(', ')})` : '';
      const r = await db.query(
        `SELECT ${[...new Set([...table.columns, ...key])].map(quoted).join(', ')} FROM ${table.name} ${after}
         ORDER BY ${key.map(quoted).join(', ')} LIMIT $1`, [table.batch ?? BATCH, ...(last ?? [])]);
      if (r.rows.length === 0) return;
      const lastRow = r.rows[r.rows.length - 1] as Record<string, unknown>;
      last = key.map((k) => lastRow[k]);
      yield r.rows.map((row) => {
        const blobs = Object.fromEntries((table.blobs ?? []).map((c) => [c, (row as Record<string, unknown>)[c]]));
        const t = { ...textRow(row), ...blobs };
        return Object.fromEntries(table.columns.map((c) => [c, t[c] as CopyRow[string]]));
      });
    }
  }

  async countRows(): Promise<number> {
    const r = await this.#pool.query<{ n: number }>(`SELECT ${COPY_TABLES.map((t) => `(SELECT COUNT(*) FROM ${t.name})`).join(' + ')} AS n`);
    return Number(r.rows[0]!.n);
  }

  async snapshot<T>(fn: () => Promise<T>): Promise<T> {
    this.#client = await this.#pool.connect();
    try {
      await this.#client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const out = await fn();
      await this.#client.query('COMMIT');
      return out;
    } finally {
      this.#client.release();
      this.#client = undefined;
    }
  }

  async writeAll(fn: Parameters<CopyEnd['writeAll']>[0]): Promise<void> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await fn({
        clear: async () => {
          for (const t of [...COPY_TABLES].reverse()) await client.query(`DELETE FROM ${t.name}`);
        },
        insert: async (table, rows) => {
          // In the given order, so commands.seq follows the source's creation order.
          const per = Math.max(1, Math.floor(30_000 / table.columns.length));
          for (let i = 0; i < rows.length; i += per) {
            const chunk = rows.slice(i, i + per);
            const params: unknown[] = [];
            const values = chunk.map((r) => `(${table.columns.map((c) => {
              const v = r[c] ?? null;
              params.push(table.bytes?.includes(c) && typeof v === 'string' ? Buffer.from(v, 'utf8') : v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.length) : v);
              return `$${params.length}`;
            }).join(', ')})`);
            await client.query(`INSERT INTO ${table.name} (${table.columns.map(quoted).join(', ')}) VALUES ${values.join(', ')}`, params);
          }
        },
      });
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

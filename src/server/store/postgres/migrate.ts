// Applies the numbered migrations once, in order, each in its own transaction. Replicas starting
// together take turns on an advisory lock, so each migration runs exactly once.

import type pg from 'pg';
import type { Migration } from '../../../common/sqlite.ts';
import { POSTGRES_MIGRATIONS } from './migrations.ts';

/** Advisory lock key of myx's migrations ('myx' in ASCII); scoped to the database. */
const MIGRATION_LOCK = 0x6d7978;

export async function migratePostgres(pool: pg.Pool, migrations: Migration[] = POSTGRES_MIGRATIONS): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)');
      const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
        if (applied.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } catch (err) {
    broken = err as Error; // the session may still hold the lock: do not hand this connection out again
    throw err;
  } finally {
    client.release(broken);
  }
}

// Connections to PostgreSQL: one pool per store, numbers as numbers, and transactions that give
// their connection back whatever happens. Queries take the connection as an argument (Db).

import pg from 'pg';

/** What SQL functions run on: the pool (one statement) or a client inside a transaction. */
export type Db = pg.Pool | pg.PoolClient;

const INT8 = 20;

/** bigint columns hold counts and offsets below 2^53 (the schemas cap them): numbers, like SQLite's. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PoolOptions {
  /** Connections per store (per replica). @default 10 */
  max?: number;
  /** Told about a connection that broke while idle (the pool replaces it); never throws. */
  onIdleError?: (err: Error) => void;
}

export function createPool(url: string, opts: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url, max: opts.max ?? 10, types, application_name: 'myx server',
    // An unreachable database fails a request after this long instead of holding it forever.
    connectionTimeoutMillis: 10_000,
    // A peer that vanished (replica host, NAT, failover) is noticed on idle connections too.
    keepAlive: true,
  });
  // An idle connection that breaks (server restart, network) emits 'error'; unhandled, it would end the process.
  pool.on('error', (err) => opts.onIdleError?.(err));
  return pool;
}

/** Runs `fn` between BEGIN and COMMIT on one connection, rolling back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
}

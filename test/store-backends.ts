// The store backends the shared suites loop over (test/store.test.ts, store-concurrency.test.ts),
// each with a fresh database per test. PostgreSQL runs on a private server (postgres-server.ts)
// and is skipped with a loud reason where it is not installed.

import { join } from 'node:path';
import { POSTGRES_CAPABILITIES, PostgresStore } from '../src/server/store/postgres-store.ts';
import { SQLITE_CAPABILITIES, SqliteStore } from '../src/server/store/sqlite-store.ts';
import type { Store, StoreCapabilities } from '../src/server/store/store.ts';
import { tempDir } from './helpers.ts';
import { postgresServer, postgresSkip } from './postgres-server.ts';
import { sqliteStoreInWorker } from './store-worker.ts';

type T = { after: (fn: () => void | Promise<void>) => void };

export interface Backend {
  name: string;
  capabilities: StoreCapabilities;
  /** Why this backend's tests are skipped here, or false. */
  skip: string | false;
  /** A new database of this test's own: migrated, or `empty` (not even migrated). */
  fresh: (t: T, opts?: { empty?: boolean }) => Promise<string>;
  /** An instance on `db` in this thread, closed after the test. */
  open: (t: T, db: string) => Promise<Store>;
  /** An instance on `db` that runs at the same time as this thread's (SQLite: in a worker thread). */
  openParallel: (t: T, db: string) => Promise<Store>;
}

const closing = async (t: T, store: Promise<Store>) => {
  const s = await store;
  t.after(() => s.close());
  return s;
};

export const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    capabilities: SQLITE_CAPABILITIES,
    skip: false,
    fresh: async (t) => join(tempDir(t), 'myx.db'),
    open: (t, db) => closing(t, Promise.resolve().then(() => new SqliteStore(db))),
    openParallel: (t, db) => closing(t, sqliteStoreInWorker(db)),
  },
  {
    name: 'postgres',
    capabilities: POSTGRES_CAPABILITIES,
    skip: postgresSkip(),
    fresh: async (_t, opts) => (await postgresServer()).createDatabase(opts),
    open: (t, db) => closing(t, PostgresStore.open(db)),
    openParallel: (t, db) => closing(t, PostgresStore.open(db)),
  },
];

/** A fresh database and an instance on it: what most tests need. */
export async function freshStore(backend: Backend, t: T): Promise<Store> {
  return backend.open(t, await backend.fresh(t));
}

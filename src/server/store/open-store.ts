// The one place the control plane chooses its store backend, from the compiled options.

import type { Logger } from '../../common/logger.ts';
import type { StoreTarget } from '../options.ts';
import { PostgresStore } from './postgres-store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { Store } from './store.ts';

export class StoreOpenError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
}

export async function openStore(target: StoreTarget, log: Logger): Promise<Store> {
  const onListenerError = (err: unknown) => log.error({ err }, 'a store event listener failed');
  switch (target.kind) {
    case 'sqlite':
      return new SqliteStore(target.path, { onListenerError });
    case 'postgres':
      try {
        return await PostgresStore.open(target.url, {
          onIdleError: (err) => log.warn({ database: target.display, error: err.message }, 'an idle PostgreSQL connection broke; the pool opens a new one'),
          onLost: (err) => log.warn({ database: target.display, error: err.message },
            'lost the PostgreSQL session that hears other replicas\' writes and holds the sweeper lock; reconnecting'),
          onRestored: () => log.info({ database: target.display }, 'the PostgreSQL session is back: waiting clients re-read what they wait for'),
          onListenerError,
        });
      } catch (err) {
        // pg's messages name the host and user, never the password; the URL we show is redacted.
        throw new StoreOpenError(`cannot open the PostgreSQL store at ${target.display}: ${(err as Error).message}`);
      }
    default: {
      const _exhaustive: never = target;
      throw new Error(`unknown store ${JSON.stringify(_exhaustive)}`);
    }
  }
}

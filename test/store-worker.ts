// A SqliteStore in a worker thread, driven by messages. node:sqlite is synchronous, so two
// instances on one thread only take turns; in a worker the second one really runs at the same
// time as the first, as a second process on the same file would.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { SQLITE_CAPABILITIES } from '../src/server/store/sqlite-store.ts';
import type { Store } from '../src/server/store/store.ts';

/** One call, or (`batch`) the same method once per argument list, back to back inside the worker. */
interface Call { id: number; method: string; args: unknown[]; batch?: unknown[][] }
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };

if (!isMainThread && (workerData as { storeWorker?: boolean } | undefined)?.storeWorker) {
  const { SqliteStore } = await import('../src/server/store/sqlite-store.ts');
  let store: Store | undefined;
  let failed: string | undefined;
  try {
    store = new SqliteStore((workerData as { path: string }).path);
  } catch (err) {
    failed = (err as Error).message;
  }
  parentPort!.postMessage({ id: 0, ...(failed === undefined ? { ok: true, value: null } : { ok: false, message: failed }) });
  parentPort!.on('message', async ({ id, method, args, batch }: Call) => {
    const fn = (a: unknown[]) => (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!(...a);
    let reply: Reply;
    try {
      const value = batch ? [] as unknown[] : await fn(args);
      for (const a of batch ?? []) (value as unknown[]).push(await fn(a));
      reply = { id, ok: true, value };
    } catch (err) {
      reply = { id, ok: false, message: (err as Error).message };
    }
    parentPort!.postMessage(reply);
  });
}

const BATCH = 'callEach';

/**
 * `store[method]` once per argument list, in order. A worker store runs them back to back inside
 * its thread, without a message round trip between them, so they overlap the other instance's
 * calls as densely as two processes would; any other store just runs them one by one.
 */
export async function callEach<R>(store: Store, method: keyof Store, argsList: unknown[][]): Promise<R[]> {
  const batch = (store as unknown as Record<string, unknown>)[BATCH] as ((m: string, a: unknown[][]) => Promise<R[]>) | undefined;
  if (batch) return batch(method, argsList);
  const out: R[] = [];
  for (const a of argsList) out.push(await (store[method] as (...x: unknown[]) => Promise<R>)(...a));
  return out;
}

/** Opens a SqliteStore on `path` in a new worker thread; resolves once it is open (migrated). */
export async function sqliteStoreInWorker(path: string): Promise<Store> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { storeWorker: true, path } });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 1;
  worker.on('message', (r: Reply) => {
    const p = pending.get(r.id)!;
    pending.delete(r.id);
    if (r.ok) p.resolve(r.value);
    else p.reject(new Error(r.message));
  });
  worker.on('error', (err) => { for (const p of pending.values()) p.reject(err); });
  const call = (method: string, args: unknown[], batch?: unknown[][]) => new Promise<unknown>((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, method, args, batch });
  });
  const opened = new Promise<unknown>((resolve, reject) => pending.set(0, { resolve, reject }));
  try {
    await opened;
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  return new Proxy({} as Store, {
    get(_, method: string) {
      if (method === 'capabilities') return SQLITE_CAPABILITIES;
      if (method === 'then') return undefined; // not a promise
      if (method === 'close') return async () => { await call('close', []); await worker.terminate(); };
      if (method === BATCH) return (name: string, argsList: unknown[][]) => call(name, [], argsList);
      return (...args: unknown[]) => call(method, args);
    },
  });
}

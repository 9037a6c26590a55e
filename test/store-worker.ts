// A SqliteStore in a worker thread, driven by messages. node:sqlite is synchronous, so two
// instances on one thread only take turns; in a worker the second one really runs at the same
// time as the first, as a second process on the same file would.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Store } from '../src/server/store/store.ts';

interface Call { id: number; method: string; args: unknown[] }
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
  parentPort!.on('message', async ({ id, method, args }: Call) => {
    let reply: Reply;
    try {
      reply = { id, ok: true, value: await (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!(...args) };
    } catch (err) {
      reply = { id, ok: false, message: (err as Error).message };
    }
    parentPort!.postMessage(reply);
  });
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
  const call = (method: string, args: unknown[]) => new Promise<unknown>((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, method, args });
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
      if (method === 'capabilities') return { singleWriter: true, supportsSkipLocked: false, supportsListenNotify: false };
      if (method === 'then') return undefined; // not a promise
      if (method === 'close') return async () => { await call('close', []); await worker.terminate(); };
      return (...args: unknown[]) => call(method, args);
    },
  });
}

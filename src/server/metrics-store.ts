// Store latency by operation: the store as the control plane uses it, each method timed into
// `myx_store_operation_seconds{op}`, op being the method's name (a fixed set: the Store
// interface's methods, and only those called appear). Nothing else changes: the same calls, the
// same results and errors. Timed until the call's promise settles: SQLite's work is synchronous but
// some of it runs after an internal await (reading back what a write changed), so the call alone
// would miss it. Costs two clock readings and one more promise per call.

import { Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../common/metrics.ts';
import type { Store } from './store/store.ts';

/** Not operations on the data: timing them says nothing (they are passed through). */
const UNTIMED = new Set(['subscribe', 'close']);

export function timeStore(store: Store, registry: Registry): Store {
  const histogram = new Histogram({
    name: 'myx_store_operation_seconds',
    help: 'Store operations by name (claimForAgent, recordResult, createRun, ...): from the call to its result (on SQLite about as long as the event loop is busy with it).',
    labelNames: ['op'], buckets: LATENCY_BUCKETS, registers: [registry],
  });
  const timed = Object.create(store) as Record<string, unknown>;
  for (const name of methodNames(store)) {
    const method = (store as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!;
    if (UNTIMED.has(name)) {
      timed[name] = method.bind(store); // methods read the store's private fields: always called on the store itself
      continue;
    }
    let child: { observe(v: number): void } | undefined;
    const done = (started: number) => (child ??= histogram.labels(name)).observe((performance.now() - started) / 1000);
    timed[name] = function () {
      const started = performance.now();
      const out = method.apply(store, arguments as unknown as unknown[]); // apply(arguments) copies nothing
      return out instanceof Promise ? out.finally(() => done(started)) : (done(started), out);
    };
  }
  return timed as unknown as Store;
}

/** Every method of the store's class and its parents. */
function methodNames(store: Store): string[] {
  const names = new Set<string>();
  for (let proto = Object.getPrototypeOf(store) as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (d && typeof d.value === 'function' && name !== 'constructor') names.add(name);
    }
  }
  return [...names];
}

// How the SDK keeps at something while the control plane is away (restarting, failing over, a cut
// connection): back off from 250 ms to 5 s between tries, give up only on an answer that says the
// call itself is wrong (a 4xx: a bad token, an unknown id), or when the caller's signal aborts.

import { setTimeout as sleep } from 'node:timers/promises';
import { MyxError } from './errors.ts';

/** What AbortSignal offers that the SDK uses (so its types need neither the DOM's nor Node's). */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

const MAX_BACKOFF_MS = 5000;

/** The delay before the next try after `previous` ms (0 for the first). */
export function nextBackoff(previous: number): number {
  return Math.min(MAX_BACKOFF_MS, Math.max(250, previous * 2));
}

/** Throws MyxError ABORTED when the signal has aborted. */
export function checkAborted(signal: AbortSignalLike | undefined): void {
  if (signal?.aborted) throw new MyxError(0, 'ABORTED', 'stopped by its AbortSignal', false);
}

/** Waits `ms`, or less when the signal aborts (then throws ABORTED). */
export async function pause(ms: number, signal: AbortSignalLike | undefined): Promise<void> {
  checkAborted(signal);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await sleep(ms, undefined, { signal: stop.signal });
  } catch {
    // aborted: said below
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  checkAborted(signal);
}

/** A failure worth trying again later (the control plane did not answer, or answered 5xx, 408, 429), as a MyxError; others are thrown. */
export function transient(err: unknown): MyxError {
  const e = MyxError.from(err);
  if (e.code === 'ABORTED' || !e.retryable) throw e;
  return e;
}

/** `call` until it succeeds, backing off while it fails transiently; `onRetry` hears each such failure. */
export async function untilDone<T>(call: () => Promise<T>, signal: AbortSignalLike | undefined, onRetry: (err: MyxError) => void = () => {}): Promise<T> {
  let backoff = 0;
  for (;;) {
    checkAborted(signal);
    try {
      return await call();
    } catch (err) {
      onRetry(transient(err));
      backoff = nextBackoff(backoff);
      await pause(backoff, signal);
    }
  }
}

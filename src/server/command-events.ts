// What waits inside the control plane (long polls, /api/commands/wait, the SSE stream) waits on
// the store's event feed: every write publishes its own events (store-events.ts), heard by every
// replica on the database, so a wait on one replica ends on a write on another. Nothing here is
// told by callers; this only turns the feed into wake-ups per command and per agent.

import { EventEmitter } from 'node:events';
import { isFinal } from '../protocol/command-status.ts';
import type { StoreEvent } from './store/store-events.ts';
import type { Store } from './store/store.ts';

/** Emitted when events may have been missed: everyone re-reads what they wait for. */
const RESYNC = 'resync';
/** Emitted with the id of every command that ended: what follows many commands listens once, not once per command. */
const ANY_FINAL = 'final';
/** Past this many commands a subscription hears ANY_FINAL and picks its own (20,000 listeners for a 10,000-agent run otherwise). */
const PER_ID_FINALS = 64;

/** What tells a wait that its connection is over (agent-delivery.ts Receiver): calls `fn` once, or no longer after null. */
export interface GoneNotice {
  onGone(fn: (() => void) | null): void;
}

export class CommandEvents {
  readonly #emitter = new EventEmitter();
  readonly #unsubscribe: () => void;

  constructor(store: Store) {
    this.#emitter.setMaxListeners(0);
    this.#unsubscribe = store.subscribe((e) => this.#heard(e));
  }

  close(): void {
    this.#unsubscribe();
  }

  #heard(e: StoreEvent): void {
    switch (e.kind) {
      case 'command':
        if (isFinal(e.status)) {
          this.#emitter.emit(`final:${e.id}`);
          this.#emitter.emit(ANY_FINAL, e.id);
        } else {
          this.#emitter.emit(`status:${e.id}`);
          if (e.status === 'queued') this.#emitter.emit(`agent:${e.agent_id}`);
        }
        return;
      case 'output':
        this.#emitter.emit(`output:${e.command_id}`);
        return;
      case 'agent':
        this.#emitter.emit(`agent:${e.agent_id}`);
        return;
      case 'cancel':
        this.#emitter.emit(`agent:${e.agent_id}`);
        return;
      case 'resync':
        this.#emitter.emit(RESYNC);
        return;
      default: {
        const _exhaustive: never = e;
        throw new Error(`unknown store event ${JSON.stringify(_exhaustive)}`);
      }
    }
  }

  /**
   * Resolves when every one of `ids` has finished, or after `ms`, or on `signal`. Subscribes
   * before reading the store (`stillOpen` says which are not final yet), so nothing falls between,
   * and reads it again when the feed says events may have been missed.
   */
  async waitAll(ids: string[], ms: number, stillOpen: () => Promise<string[]>, signal?: AbortSignal): Promise<void> {
    const open = new Set(ids);
    let wake: () => void = () => {};
    const changed = () => wake();
    const off = this.subscribe(ids, null, (id) => {
      open.delete(id);
      if (open.size === 0) wake();
    }, changed);
    const deadline = Date.now() + ms;
    try {
      for (;;) {
        const woken = new Promise<void>((r) => (wake = r));
        const still = new Set(await stillOpen());
        for (const id of [...open]) if (!still.has(id)) open.delete(id);
        const left = deadline - Date.now();
        if (open.size === 0 || left <= 0 || signal?.aborted) return;
        await Promise.race([woken, pause(left, signal)]);
        if (open.size === 0 || Date.now() >= deadline || signal?.aborted) return;
      }
    } finally {
      off();
    }
  }

  /**
   * Resolves when something may wait for this agent now, or after `ms`, or when `gone` says the
   * connection is over. Held once per long poll (10,000 at a time), so it holds little: one
   * closure, its timer and two listeners.
   */
  waitForAgent(agentId: string, ms: number, gone?: GoneNotice): Promise<void> {
    const event = `agent:${agentId}`;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#emitter.off(event, done);
        this.#emitter.off(RESYNC, done);
        gone?.onGone(null);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#emitter.on(event, done);
      this.#emitter.on(RESYNC, done);
      gone?.onGone(done);
    });
  }

  /**
   * Subscribes to the output (unless `onOutput` is null) and final notices of `ids`, to
   * `onResync` (events may have been missed: read the store again) and, when given, to `onStatus`
   * (a status change that is not final); returns the unsubscribe function.
   */
  subscribe(
    ids: string[], onOutput: ((id: string) => void) | null, onFinal: (id: string) => void, onResync: () => void, onStatus?: (id: string) => void,
  ): () => void {
    const offs: (() => void)[] = [];
    const on = (event: string, fn: (...args: string[]) => void) => {
      this.#emitter.on(event, fn);
      offs.push(() => this.#emitter.off(event, fn));
    };
    const perId = ids.length <= PER_ID_FINALS;
    for (const id of ids) {
      if (onOutput) on(`output:${id}`, () => onOutput(id));
      if (perId) on(`final:${id}`, () => onFinal(id));
      if (onStatus) on(`status:${id}`, () => onStatus(id));
    }
    if (!perId) {
      const mine = new Set(ids);
      on(ANY_FINAL, (id) => {
        if (mine.has(id)) onFinal(id);
      });
    }
    on(RESYNC, onResync);
    return () => offs.forEach((off) => off());
  }
}

/** Resolves after `ms`, or at once on `signal`. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

// In-process notices between the control plane's parts: a command finished, a command printed
// output, an agent has something new waiting (wake its long poll). With several replicas on
// PostgreSQL these will be fed by LISTEN/NOTIFY as well.

import { EventEmitter } from 'node:events';
import type { OutputChunk } from '../protocol/wire.ts';

export class CommandEvents {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  finished(commandId: string): void {
    this.#emitter.emit(`final:${commandId}`);
  }

  output(commandId: string, chunks: OutputChunk[]): void {
    if (chunks.length > 0) this.#emitter.emit(`output:${commandId}`, chunks);
  }

  /** Something new for this agent (a command queued, a cancel asked for, a lease returned). */
  wakeAgent(agentId: string): void {
    this.#emitter.emit(`agent:${agentId}`);
  }

  /**
   * Resolves when every one of `ids` has finished, or after `ms`, or on `signal`. Subscribe
   * before reading the store: `stillOpen` is called once subscribed, so nothing falls between.
   */
  async waitAll(ids: string[], ms: number, stillOpen: () => Promise<string[]>, signal?: AbortSignal): Promise<void> {
    const open = new Set(ids);
    let wake: () => void = () => {};
    const allDone = new Promise<void>((r) => (wake = r));
    const off = this.subscribe(ids, () => {}, (id) => {
      open.delete(id);
      if (open.size === 0) wake();
    });
    try {
      const still = new Set(await stillOpen());
      for (const id of [...open]) if (!still.has(id)) open.delete(id);
      if (open.size === 0) return;
      await Promise.race([allDone, this.#waitFor([], ms, signal)]);
    } finally {
      off();
    }
  }

  waitForAgent(agentId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return this.#waitFor([`agent:${agentId}`], ms, signal);
  }

  /** Subscribes to output and final notices of `ids`; returns the unsubscribe function. */
  subscribe(ids: string[], onOutput: (id: string, chunks: OutputChunk[]) => void, onFinal: (id: string) => void): () => void {
    const offs: (() => void)[] = [];
    for (const id of ids) {
      const out = (chunks: OutputChunk[]) => onOutput(id, chunks);
      const fin = () => onFinal(id);
      this.#emitter.on(`output:${id}`, out);
      this.#emitter.on(`final:${id}`, fin);
      offs.push(() => {
        this.#emitter.off(`output:${id}`, out);
        this.#emitter.off(`final:${id}`, fin);
      });
    }
    return () => offs.forEach((off) => off());
  }

  #waitFor(events: string[], ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const e of events) this.#emitter.off(e, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      for (const e of events) this.#emitter.on(e, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

// In-process notice that a command reached a final state, so waiting operators are answered at
// once instead of polling the store. (Replicas on PostgreSQL will feed this from LISTEN/NOTIFY.)

import { EventEmitter } from 'node:events';

export class CommandEvents {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  finished(commandId: string): void {
    this.#emitter.emit(commandId);
  }

  /** Resolves when any of `ids` finishes or after `ms`; whichever is first. */
  waitAny(ids: string[], ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const id of ids) this.#emitter.off(id, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      for (const id of ids) this.#emitter.on(id, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

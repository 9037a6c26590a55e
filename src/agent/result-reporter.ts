// Sends spooled results to the control plane until each is acknowledged. Results are in the
// journal before the first try, so a restart of either side loses nothing: the spool is re-read
// at start and retried with backoff while the control plane is unreachable.

import type { Logger } from '../common/logger.ts';
import { RequestFailedError } from '../common/json-client.ts';
import type { ControlClient } from './control-client.ts';
import type { Journal } from './journal.ts';

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export class ResultReporter {
  readonly #journal: Journal;
  readonly #client: ControlClient;
  readonly #log: Logger;
  readonly #pending = new Set<string>();
  #backoffMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing = false;
  #closed = false;

  constructor(journal: Journal, client: ControlClient, log: Logger) {
    this.#journal = journal;
    this.#client = client;
    this.#log = log;
  }

  /** Picks up what an earlier run left in the spool. */
  start(): void {
    for (const id of this.#journal.unreported()) this.#pending.add(id);
    this.#kick();
  }

  /** A result was just written to the journal: send it now. */
  enqueue(commandId: string): void {
    this.#pending.add(commandId);
    this.#kick();
  }

  get backlog(): number {
    return this.#pending.size;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #kick(): void {
    if (this.#closed || this.#flushing || this.#timer) return;
    void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      for (const id of [...this.#pending]) {
        if (this.#closed) return;
        const entry = this.#journal.get(id);
        if (!entry?.result || entry.reported_at) {
          this.#pending.delete(id);
          continue;
        }
        try {
          await this.#client.sendResult(id, entry.result);
          this.#journal.markReported(id, new Date().toISOString());
          this.#pending.delete(id);
          this.#backoffMs = 0;
        } catch (err) {
          if (err instanceof RequestFailedError && !err.retryable && err.status !== 401) {
            // The control plane will never take it (command unknown there): keep it out of the loop.
            this.#log.error({ command_id: id, code: err.code }, `control plane refused the result: ${err.message}`);
            this.#journal.markReported(id, new Date().toISOString());
            this.#pending.delete(id);
            continue;
          }
          this.#backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.#backoffMs * 2));
          this.#log.warn({ command_id: id, backlog: this.#pending.size, retry_in_ms: this.#backoffMs }, `result not delivered yet: ${(err as Error).message}`);
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.#kick();
          }, this.#backoffMs);
          return;
        }
      }
    } finally {
      this.#flushing = false;
    }
    if (this.#pending.size > 0) this.#kick();
  }
}

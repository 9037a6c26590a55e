// Sends spooled results to the control plane until each is acknowledged. Results are in the
// journal before the first try, so a restart of either side loses nothing: the spool is re-read
// at start and retried with backoff while the control plane is unreachable.
//
// A result the journal could not take (disk full, read-only) is held in memory instead: it is
// sent and retried all the same (lost only if the agent stops before it is acknowledged), and
// spooled, with its acknowledgement, once the journal is writable again.

import type { Logger } from '../common/logger.ts';
import { RequestFailedError } from '../common/json-client.ts';
import type { CommandResult } from '../protocol/wire.ts';
import { agentRemoved, REMOVED_RETRY_MS, type ControlClient } from './control-client.ts';
import { unlessUnwritable } from './journal-health.ts';
import type { Journal } from './journal.ts';

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export class ResultReporter {
  readonly #journal: Journal;
  readonly #client: ControlClient;
  readonly #log: Logger;
  readonly #pending = new Set<string>();
  /** Results the journal could not take yet. */
  readonly #held = new Map<string, CommandResult>();
  /** Acknowledged by the control plane, but the journal could not record that yet. */
  readonly #acked = new Set<string>();
  #backoffMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing = false;
  #closed = false;

  constructor(journal: Journal, client: ControlClient, log: Logger) {
    this.#journal = journal;
    this.#client = client;
    this.#log = log;
  }

  /** Picks up what an earlier run left in the spool (later, if the journal cannot be read yet). */
  start(): void {
    this.#loadSpool();
    this.#kick();
  }

  /** A result was just written to the journal: send it now. */
  enqueue(commandId: string): void {
    this.#pending.add(commandId);
    this.#kick();
  }

  /** A result the journal could not take: keep it here, send it now. */
  hold(commandId: string, result: CommandResult): void {
    this.#held.set(commandId, result);
    this.enqueue(commandId);
  }

  /** The held result of a command, if the journal could not take it yet. */
  heldResult(commandId: string): CommandResult | undefined {
    return this.#held.get(commandId);
  }

  get heldCount(): number {
    return this.#held.size;
  }

  /** The journal is writable again: spool what is held, record what was acknowledged meanwhile. */
  catchUp(): void {
    const done = unlessUnwritable(() => {
      for (const [id, result] of this.#held) {
        this.#journal.finish(id, result);
        this.#held.delete(id);
      }
      for (const id of this.#acked) {
        this.#journal.markReported(id, new Date().toISOString());
        this.#acked.delete(id);
      }
      return true;
    });
    if (!done) return; // full again already: the next recovery goes on from here
    this.#loadSpool();
    this.#kick();
  }

  get backlog(): number {
    return this.#pending.size;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #loadSpool(): void {
    unlessUnwritable(() => {
      for (const id of this.#journal.unreported()) if (!this.#acked.has(id)) this.#pending.add(id);
    });
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
        let result: CommandResult | null;
        try {
          result = this.#resultOf(id);
        } catch (err) {
          this.#retryLater(id, err as Error); // the journal cannot be read just now
          return;
        }
        if (!result) {
          this.#pending.delete(id);
          continue;
        }
        try {
          await this.#client.sendResult(id, result);
          this.#acknowledged(id);
          this.#backoffMs = 0;
        } catch (err) {
          if (agentRemoved(err)) {
            // Kept in the spool: only a restored control plane could take it, and the heartbeat says, once, why not.
            this.#retryLater(id, err as Error, REMOVED_RETRY_MS);
            return;
          }
          if (err instanceof RequestFailedError && !err.retryable && err.status !== 401) {
            // The control plane will never take it (command unknown there): keep it out of the loop.
            this.#log.error({ command_id: id, code: err.code }, `control plane refused the result: ${err.message}`);
            this.#acknowledged(id);
            continue;
          }
          this.#retryLater(id, err as Error);
          return;
        }
      }
    } finally {
      this.#flushing = false;
    }
    if (this.#pending.size > 0) this.#kick();
  }

  /** What to send for `id`: the held result, else the spooled one unless already reported. */
  #resultOf(id: string): CommandResult | null {
    const held = this.#held.get(id);
    if (held) return held;
    if (this.#acked.has(id)) return null;
    const entry = this.#journal.get(id);
    return entry?.result && !entry.reported_at ? entry.result : null;
  }

  #acknowledged(id: string): void {
    this.#pending.delete(id);
    if (this.#held.has(id)) {
      this.#acked.add(id); // recorded when the held result is spooled
      return;
    }
    const recorded = unlessUnwritable(() => {
      this.#journal.markReported(id, new Date().toISOString());
      return true;
    });
    if (!recorded) this.#acked.add(id);
  }

  /** `removedWait`: the agent was removed; wait that long, quietly (the heartbeat has said why). */
  #retryLater(id: string, err: Error, removedWait?: number): void {
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.#backoffMs * 2));
    const wait = removedWait ?? this.#backoffMs;
    this.#log[removedWait ? 'debug' : 'warn']({ command_id: id, backlog: this.#pending.size, retry_in_ms: wait }, `result not delivered yet: ${err.message}`);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick();
    }, wait);
  }
}

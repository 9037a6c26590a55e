// This replica in the store's replica registry: it says it is alive every heartbeat interval (with
// its public URL, and whether it sweeps), reads which replicas are alive, and leaves when it stops.
// Agents hear the live replicas' URLs in every heartbeat answer (control_plane_urls), operators in
// `myx replicas`.

import type { Logger } from '../common/logger.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import type { ReplicaRow } from './store/cluster-store.ts';
import type { Store } from './store/store.ts';
import { newId } from './secrets.ts';

export interface PresenceOptions {
  publicUrl: () => string;
  /** How often it says it is alive. */
  intervalMs: number;
  /** A replica not heard from for this long is left out (and its row removed much later). */
  expireAfterMs: number;
  /** Whether this replica sweeps now. */
  sweeping: () => boolean;
}

export class ReplicaPresence {
  readonly id = newId('rpl');
  readonly #store: Store;
  readonly #log: Logger;
  readonly #opts: PresenceOptions;
  readonly #startedAt = new Date().toISOString();
  #urls: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(store: Store, log: Logger, opts: PresenceOptions) {
    this.#store = store;
    this.#log = log;
    this.#opts = opts;
  }

  /** Registers this replica (it fails when the store does) and keeps it registered. */
  async start(): Promise<void> {
    await this.#tick();
    this.#timer = setInterval(() => void this.#tick().catch((err: unknown) => this.#log.warn({ err }, 'could not renew this replica in the replica registry')), this.#opts.intervalMs);
  }

  /** The public URLs of the live replicas (this one's at least), as of the last renewal. */
  urls(): string[] {
    return this.#urls.length > 0 ? this.#urls : [this.#opts.publicUrl()];
  }

  /** The live replicas, read now. */
  async list(): Promise<ReplicaRow[]> {
    return this.#store.listReplicas(this.#since());
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#store.removeReplica(this.id).catch(() => {}); // it expires anyway
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const now = new Date();
      await this.#store.recordReplica({
        id: this.id, public_url: this.#opts.publicUrl(), version: MYX_VERSION, started_at: this.#startedAt,
        last_seen_at: now.toISOString(), sweeper: this.#opts.sweeping(),
      });
      this.#urls = [...new Set((await this.list()).map((r) => r.public_url))];
      if (this.#opts.sweeping()) await this.#store.forgetReplicas(new Date(now.getTime() - 10 * this.#opts.expireAfterMs).toISOString());
    } finally {
      this.#busy = false;
    }
  }

  #since(): string {
    return new Date(Date.now() - this.#opts.expireAfterMs).toISOString();
  }
}

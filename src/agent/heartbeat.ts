// The agent's link to the control plane: a heartbeat every few seconds carrying its mode, port,
// certificate fingerprint and version (the control plane's auto-detect reads these). Its reply
// carries queued commands and cancels too, so even a web-mode agent whose pushes fail gets its work.
//
// Connection states: connecting ──ok──▶ connected ──failure──▶ disconnected ──ok──▶ connected
// Each change is logged once, not every beat.

import type { Logger } from '../common/logger.ts';
import type { Delivery, HeartbeatRequest } from '../protocol/wire.ts';
import type { ControlClient } from './control-client.ts';

export type LinkState = 'connecting' | 'connected' | 'disconnected';

export class Heartbeat {
  readonly #client: ControlClient;
  readonly #log: Logger;
  readonly #facts: () => HeartbeatRequest;
  readonly #onDelivery: (d: Delivery) => void;
  #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #state: LinkState = 'connecting';
  #stopped = false;

  constructor(client: ControlClient, log: Logger, facts: () => HeartbeatRequest, onDelivery: (d: Delivery) => void, intervalSeconds: number) {
    this.#client = client;
    this.#log = log;
    this.#facts = facts;
    this.#onDelivery = onDelivery;
    this.#intervalMs = intervalSeconds * 1000;
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Beats once now (so the control plane learns about a restart at once), then on the interval. */
  start(): void {
    void this.#beat();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #beat(): Promise<void> {
    try {
      const res = await this.#client.heartbeat(this.#facts());
      this.#intervalMs = res.heartbeat_interval_seconds * 1000;
      this.#enter('connected');
      this.#onDelivery(res);
    } catch (err) {
      this.#enter('disconnected', (err as Error).message);
    }
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#beat(), this.#intervalMs);
  }

  #enter(next: LinkState, reason?: string): void {
    if (next === this.#state) return;
    const prev = this.#state;
    this.#state = next;
    switch (next) {
      case 'connected':
        this.#log.info({ link: next }, prev === 'connecting' ? 'connected to the control plane' : 'reconnected to the control plane');
        break;
      case 'disconnected':
        this.#log.warn({ link: next }, `cannot reach the control plane, will keep trying: ${reason}`);
        break;
      case 'connecting':
        break;
      default: {
        const _exhaustive: never = next;
        return _exhaustive;
      }
    }
  }
}

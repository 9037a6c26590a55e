// Poll mode's delivery path: a long poll held open by the control plane (about 25 s) and answered
// as soon as something is queued for this agent, so poll mode is near-real-time. Errors back off
// from 0.5 s to 30 s; the heartbeat reports the link state.

import type { Logger } from '../common/logger.ts';
import type { Delivery } from '../protocol/wire.ts';
import { agentRemoved, REMOVED_RETRY_MS, type ControlClient } from './control-client.ts';

const WAIT_SECONDS = 25;
const MAX_BACKOFF_MS = 30_000;

export class Poller {
  readonly #client: ControlClient;
  readonly #log: Logger;
  readonly #onDelivery: (d: Delivery) => void;
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(client: ControlClient, log: Logger, onDelivery: (d: Delivery) => void) {
    this.#client = client;
    this.#log = log;
    this.#onDelivery = onDelivery;
  }

  start(): void {
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  async #loop(): Promise<void> {
    let backoff = 0;
    while (!this.#stopped) {
      try {
        this.#onDelivery(await this.#client.poll(WAIT_SECONDS));
        backoff = 0;
      } catch (err) {
        if (this.#stopped) return;
        // jitter, so a fleet does not come back in lockstep after a control plane restart
        backoff = Math.min(MAX_BACKOFF_MS, Math.max(500, backoff * 2)) * (0.75 + Math.random() * 0.5);
        // removed: the heartbeat says so, once; polling slows down with it
        const wait = agentRemoved(err) ? REMOVED_RETRY_MS : backoff;
        this.#log.debug({ retry_in_ms: wait }, `poll failed: ${(err as Error).message}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.#wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    }
  }
}

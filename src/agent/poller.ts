// Poll mode's delivery path: a long poll held open by the control plane and answered as soon as
// something is queued for this agent, so poll mode is near-real-time. The heartbeat goes between
// polls, over the same connection: each poll waits at most until the next beat is due, so an idle
// agent holds one connection to the control plane instead of two (one for the poll, one for the
// heartbeat), which is most of what a held agent costs the control plane. Poll errors back off
// from 0.5 s to 30 s, but never past the next heartbeat, which reports the link state.

import type { Logger } from '../common/logger.ts';
import type { Delivery } from '../protocol/wire.ts';
import { agentRemoved, REMOVED_RETRY_MS, type ControlClient } from './control-client.ts';

/** The longest a poll is held (the control plane holds one 30 s at most). */
const MAX_WAIT_SECONDS = 25;
/** The shortest poll asked for: a beat due sooner is sent first. */
const MIN_WAIT_SECONDS = 0.1;
const MAX_BACKOFF_MS = 30_000;

/** What the poller needs of the heartbeat: when the next beat is due, and the beat itself (never throws). */
export interface PollerHeartbeat {
  readonly dueInMs: number;
  beat(): Promise<void>;
}

export class Poller {
  readonly #client: ControlClient;
  readonly #log: Logger;
  readonly #heartbeat: PollerHeartbeat;
  readonly #onDelivery: (d: Delivery) => void;
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(client: ControlClient, log: Logger, heartbeat: PollerHeartbeat, onDelivery: (d: Delivery) => void) {
    this.#client = client;
    this.#log = log;
    this.#heartbeat = heartbeat;
    this.#onDelivery = onDelivery;
  }

  /** Beats at once (the control plane learns about a restart), then polls and beats in turn. */
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
      if (this.#heartbeat.dueInMs === 0) {
        await this.#heartbeat.beat();
        if (this.#stopped) return;
      }
      const wait = Math.min(MAX_WAIT_SECONDS, Math.max(MIN_WAIT_SECONDS, Math.round(this.#heartbeat.dueInMs) / 1000));
      try {
        this.#onDelivery(await this.#client.poll(wait));
        backoff = 0;
      } catch (err) {
        if (this.#stopped) return;
        // jitter, so a fleet does not come back in lockstep after a control plane restart
        backoff = Math.min(MAX_BACKOFF_MS, Math.max(500, backoff * 2)) * (0.75 + Math.random() * 0.5);
        // removed: the heartbeat says so, once; polling slows down with it
        const pause = agentRemoved(err) ? REMOVED_RETRY_MS : backoff;
        this.#log.debug({ retry_in_ms: pause }, `poll failed: ${(err as Error).message}`);
        await this.#sleep(Math.min(pause, this.#heartbeat.dueInMs));
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

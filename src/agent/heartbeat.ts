// The agent's link to the control plane: a heartbeat every few seconds carrying its mode, port,
// certificate fingerprint and version (the control plane's auto-detect reads these). Its reply
// carries queued commands and cancels too, so even a web-mode agent whose pushes fail gets its work.
//
// Connection states: connecting ──ok──▶ connected ──failure──▶ disconnected ──ok──▶ connected
//                    any ──AGENT_REMOVED──▶ removed ──ok──▶ connected
// Each change is logged once, not every beat. `removed` is left only by a heartbeat that works
// (a failure to connect meanwhile does not make it `disconnected`, so it is said once); while
// removed, the agent beats every REMOVED_RETRY_MS instead of every few seconds.
//
// A web-mode agent beats on its own timer (`start`). A poll-mode agent's poller beats between its
// long polls instead (`beat` when `dueInMs` is 0), so both go over one connection.

import type { Logger } from '../common/logger.ts';
import type { Delivery, HeartbeatRequest, HeartbeatResponse } from '../protocol/wire.ts';
import { agentRemoved, REMOVED_RETRY_MS, type ControlClient } from './control-client.ts';

export type LinkState = 'connecting' | 'connected' | 'disconnected' | 'removed';

export class Heartbeat {
  readonly #client: ControlClient;
  readonly #log: Logger;
  readonly #facts: () => HeartbeatRequest;
  readonly #onDelivery: (d: Delivery) => void;
  readonly #onRemoved: () => void;
  readonly #onBeat: (res: HeartbeatResponse) => void;
  #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** When the next beat is due (epoch ms): at once when started. */
  #dueAt = 0;
  #state: LinkState = 'connecting';
  #stopped = false;

  /**
   * `onRemoved`: called once each time the control plane starts saying this agent was removed.
   * `onBeat`: after each heartbeat that went through, with its answer, before its delivery is
   * handled (an upgraded agent confirms its new version there; the replicas' URLs are learned).
   */
  constructor(
    client: ControlClient, log: Logger, facts: () => HeartbeatRequest, onDelivery: (d: Delivery) => void, intervalSeconds: number,
    onRemoved: () => void = () => {}, onBeat: (res: HeartbeatResponse) => void = () => {},
  ) {
    this.#client = client;
    this.#log = log;
    this.#facts = facts;
    this.#onDelivery = onDelivery;
    this.#onRemoved = onRemoved;
    this.#onBeat = onBeat;
    this.#intervalMs = intervalSeconds * 1000;
  }

  get state(): LinkState {
    return this.#state;
  }

  /** ms until the next beat is due; 0 when it is. */
  get dueInMs(): number {
    return Math.max(0, this.#dueAt - Date.now());
  }

  /** Beats once now (so the control plane learns about a restart at once), then on the interval. */
  start(): void {
    const tick = async () => {
      await this.beat();
      if (!this.#stopped) this.#timer = setTimeout(() => void tick(), this.dueInMs);
    };
    void tick();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** One heartbeat; the next is due an interval later (or REMOVED_RETRY_MS while removed). Never throws. */
  async beat(): Promise<void> {
    try {
      const res = await this.#client.heartbeat(this.#facts());
      this.#intervalMs = toldInterval(res.heartbeat_interval_seconds, this.#intervalMs);
      this.#enter('connected');
      this.#onBeat(res);
      this.#onDelivery(res);
    } catch (err) {
      if (agentRemoved(err)) this.#enter('removed');
      else if (this.#state !== 'removed') this.#enter('disconnected', (err as Error).message);
    }
    this.#dueAt = Date.now() + (this.#state === 'removed' ? REMOVED_RETRY_MS : this.#intervalMs);
  }

  #enter(next: LinkState, reason?: string): void {
    if (next === this.#state) return;
    const prev = this.#state;
    this.#state = next;
    switch (next) {
      case 'connected':
        this.#log.info({ link: next }, prev === 'connecting' ? 'connected to the control plane'
          : prev === 'removed' ? 'the control plane accepts this agent again' : 'reconnected to the control plane');
        break;
      case 'disconnected':
        this.#log.warn({ link: next }, `cannot reach the control plane, will keep trying: ${reason}`);
        break;
      case 'removed':
        this.#log.error(
          { link: next, retry_in_ms: REMOVED_RETRY_MS },
          `this agent was removed from the control plane (\`myx agents remove\`) and its token no longer works: it stops its running commands `
          + `and asks again every ${REMOVED_RETRY_MS / 60_000} minutes. To bring this host back, enroll it again with a new token `
          + `(\`myx token create\` on the control plane, then \`myx-agent enroll\` here)`,
        );
        this.#onRemoved();
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

/** The longest interval an agent takes from the control plane: it still says it is alive every 10 minutes. */
const MAX_INTERVAL_MS = 600_000;

/** The interval the control plane told (seconds), within 100 ms and MAX_INTERVAL_MS; `fallback` (ms) when it makes no sense. */
function toldInterval(seconds: unknown, fallback: number): number {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return fallback;
  return Math.min(Math.max(seconds * 1000, 100), MAX_INTERVAL_MS);
}

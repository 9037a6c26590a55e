// How often agents heartbeat: the configured interval, stretched as the fleet grows so that the
// whole fleet's heartbeats stay under a rate the control plane serves with room to spare (the
// mechanism of Nomad's max_heartbeats_per_second). Agents take the interval from every heartbeat
// answer. An agent is offline after missing three heartbeats, so the offline limit stretches with
// the interval; when the interval shrinks again, the limit keeps the longer one until every agent
// has had time to beat on the new one.

export interface PacingOptions {
  /** The configured interval (`--heartbeat-interval`): the shortest handed out. */
  baseSeconds: number;
  /** The configured offline limit: the shortest used. */
  offlineAfterSeconds: number;
  /** The fleet's heartbeats per second this control plane aims to stay under (`--max-heartbeat-rate`). */
  maxPerSecond: number;
}

export class HeartbeatPacing {
  readonly #o: PacingOptions;
  #interval: number;
  /** A longer interval handed out before, and until when agents may still be beating on it. */
  #previous = { seconds: 0, until: 0 };

  constructor(o: PacingOptions) {
    this.#o = o;
    this.#interval = o.baseSeconds;
  }

  /** Follows the fleet's size (enrolled agents, on every replica). */
  fleetIs(agents: number, now = Date.now()): void {
    const next = Math.max(this.#o.baseSeconds, Math.ceil((agents / this.#o.maxPerSecond) * 10) / 10); // up to a tenth of a second
    if (next < this.#interval) this.#previous = { seconds: this.#interval, until: now + this.#interval * 1000 };
    this.#interval = next;
  }

  /** The interval agents are told to heartbeat at, in seconds. */
  get intervalSeconds(): number {
    return this.#interval;
  }

  /** How long since its last heartbeat an agent still counts as online. */
  offlineAfterMs(now = Date.now()): number {
    const longest = now < this.#previous.until ? Math.max(this.#interval, this.#previous.seconds) : this.#interval;
    return Math.max(this.#o.offlineAfterSeconds, 3 * longest) * 1000;
  }
}

// Failed authentications are rate limited per source address: each address may fail a burst of
// times, then once per second. An address over its budget gets 429 without its credentials being
// looked at, so a flood of bad tokens costs almost nothing and other addresses are not slowed.

export interface AuthLimiterOptions {
  /** Failures an address may make at once. @default 20 */
  burst?: number;
  /** Failures per second an address earns back. @default 1 */
  refillPerSecond?: number;
  /** Addresses tracked at most; the quietest are forgotten first. @default 10000 */
  maxAddresses?: number;
}

interface Bucket {
  tokens: number;
  at: number;
  /** true once the block of this episode was reported. */
  reported: boolean;
}

export class AuthLimiter {
  readonly #burst: number;
  readonly #refill: number;
  readonly #max: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(opts: AuthLimiterOptions = {}) {
    this.#burst = opts.burst ?? 20;
    this.#refill = opts.refillPerSecond ?? 1;
    this.#max = opts.maxAddresses ?? 10_000;
  }

  /** Seconds until `address` may try again, or 0 when it may now. */
  retryAfter(address: string, now = Date.now()): number {
    const b = this.#current(address, now);
    if (!b || b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - b.tokens) / this.#refill));
  }

  /**
   * Counts one failure. Says when it is worth reporting, once per episode (from an address's first
   * failure until its budget is whole again): `started` for the first failure of an episode,
   * `blocked` for the one that used up the budget; null otherwise.
   */
  fail(address: string, now = Date.now()): 'started' | 'blocked' | null {
    const current = this.#current(address, now);
    const b = current ?? { tokens: this.#burst, at: now, reported: false };
    b.tokens = Math.max(0, b.tokens - 1);
    this.#buckets.delete(address); // re-insert: the map's order is least recently failed first
    this.#buckets.set(address, b);
    if (this.#buckets.size > this.#max) this.#buckets.delete(this.#buckets.keys().next().value!);
    if (b.tokens >= 1) {
      b.reported = false;
      return current ? null : 'started';
    }
    if (b.reported) return null;
    b.reported = true;
    return 'blocked';
  }

  #current(address: string, now: number): Bucket | undefined {
    const b = this.#buckets.get(address);
    if (!b) return undefined;
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#refill);
    b.at = now;
    if (b.tokens >= this.#burst) {
      this.#buckets.delete(address);
      return undefined;
    }
    return b;
  }
}

// A replica's own connection to PostgreSQL, outside the pool: it LISTENs for the store's events
// and holds the sweeper's advisory lock. Both belong to the session, so both end with it: when the
// replica dies its lock is free for another, and when the connection is lost this one reconnects,
// listens again and tells its listeners (`resync`) that events may have been missed meanwhile.

import pg from 'pg';
import { decodeEvent, type EventHub } from '../store-events.ts';
import { EVENTS_CHANNEL } from './events-sql.ts';

/** Advisory lock key of the sweeper ('myxs'); scoped to the database, so clusters on other databases do not meet. */
const SWEEPER_LOCK = 0x6d797873;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5000;

export interface SessionOptions {
  /** Told when the session connection is lost (it reconnects by itself); never throws. */
  onLost?: (err: Error) => void;
  /** Told when it is back. */
  onRestored?: () => void;
}

export class PostgresSession {
  readonly #url: string;
  readonly #hub: EventHub;
  readonly #opts: SessionOptions;
  #client: pg.Client | undefined;
  #holdsLock = false;
  #closed = false;
  #retryMs = RECONNECT_MIN_MS;
  #retryTimer: NodeJS.Timeout | undefined;

  private constructor(url: string, hub: EventHub, opts: SessionOptions) {
    this.#url = url;
    this.#hub = hub;
    this.#opts = opts;
  }

  /** Connects and listens; fails when the database cannot be reached now. */
  static async open(url: string, hub: EventHub, opts: SessionOptions = {}): Promise<PostgresSession> {
    const session = new PostgresSession(url, hub, opts);
    session.#client = await session.#connect();
    return session;
  }

  /** See ClusterStore.holdSweeperLock. */
  async holdSweeperLock(): Promise<boolean> {
    const client = this.#client;
    if (!client) return false;
    try {
      if (this.#holdsLock) {
        await client.query('SELECT 1'); // still ours only while this session lives
        return true;
      }
      const r = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1) AS got', [SWEEPER_LOCK]);
      this.#holdsLock = r.rows[0]!.got;
      return this.#holdsLock;
    } catch {
      return false; // the 'error' handler starts over
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = undefined;
    this.#holdsLock = false;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#url, application_name: 'myx server (events, sweeper)', connectionTimeoutMillis: 10_000, keepAlive: true,
    });
    client.on('notification', (msg) => {
      if (msg.channel !== EVENTS_CHANNEL || !msg.payload) return;
      const event = decodeEvent(msg.payload);
      if (event) this.#hub.publish([event]);
    });
    let lost = false;
    const onLost = (err: Error) => {
      if (lost) return;
      lost = true;
      if (this.#client === client) this.#client = undefined;
      this.#holdsLock = false;
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#opts.onLost?.(err);
      this.#reconnectLater();
    };
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('the connection to PostgreSQL ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (err) {
      lost = true;
      await client.end().catch(() => {});
      throw err;
    }
    return client;
  }

  #reconnectLater(): void {
    this.#retryTimer = setTimeout(async () => {
      try {
        const client = await this.#connect();
        if (this.#closed) {
          await client.end().catch(() => {});
          return;
        }
        this.#client = client;
        this.#retryMs = RECONNECT_MIN_MS;
        this.#opts.onRestored?.();
        this.#hub.publish([{ kind: 'resync' }]);
      } catch {
        this.#retryMs = Math.min(RECONNECT_MAX_MS, this.#retryMs * 2);
        if (!this.#closed) this.#reconnectLater();
      }
    }, this.#retryMs);
    this.#retryTimer.unref();
  }
}

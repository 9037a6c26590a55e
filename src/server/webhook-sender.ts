// Sends webhook deliveries, on every replica: claims the due ones from the store (one attempt at a
// time per delivery, whichever replica claims it), POSTs each signed event, and records what came
// of it: delivered (2xx), or retried after the next back-off, or failed once the back-offs are
// used up. Nothing here is on the path of a run: the events were enqueued by the store's writes,
// and sending is bounded in time (a timeout per attempt) and in number (attempts at once), so a
// slow or dead receiver costs a few sockets, never a command's progress.

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from '../common/logger.ts';
import { PinnedPool } from '../common/pinned-pool.ts';
import { TLS_OPTIONS } from '../common/tls-policy.ts';
import { signWebhook } from '../common/webhook-signature.ts';
import { isFinal } from '../protocol/command-status.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import { WEBHOOK_HEADERS } from '../protocol/webhooks.ts';
import type { WebhookAttempt, WebhookEvent } from '../protocol/wire.ts';
import type { Store } from './store/store.ts';
import type { ClaimedDelivery } from './store/webhook-store.ts';
import { webhookEvent } from './webhook-events.ts';

export interface WebhookSendOptions {
  /** Seconds to wait after each failed attempt before the next; their number bounds the retries. */
  retrySeconds: number[];
  /** How long a receiver has to answer an attempt. */
  timeoutMs: number;
  /** Attempts in flight at once, per replica. */
  concurrency: number;
}

/** A claim lasts the attempt's timeout and this much more: only a replica that died leaves one to run out. */
const CLAIM_MARGIN_MS = 30_000;
/** How often due deliveries are looked for (retries come due by time, not by an event). */
const TICK_MS = 1000;
/** Bytes of an answer read (and dropped) at most: only its status matters. */
const ANSWER_MAX = 64 * 1024;

export class WebhookSender {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #o: WebhookSendOptions;
  readonly #pools = new Map<string, PinnedPool>();
  readonly #inFlight = new Set<AbortController>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: () => void = () => {};
  #ticking = false;
  #again = false;
  #stopped = false;
  #soon: NodeJS.Timeout | undefined;

  constructor(store: Store, log: Logger, o: WebhookSendOptions) {
    this.#store = store;
    this.#log = log;
    this.#o = o;
  }

  start(): void {
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    // a command that ended may have enqueued an event: look a moment later (a burst of ends is one look)
    this.#unsubscribe = this.#store.subscribe((e) => {
      if (e.kind === 'command' && isFinal(e.status) && !this.#soon) this.#soon = setTimeout(() => ((this.#soon = undefined), this.#tick()), 50);
    });
  }

  /** Stops claiming; attempts on their way are cut off (their claims run out, and another replica, or this one restarted, tries again). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#soon);
    this.#unsubscribe();
    for (const c of this.#inFlight) c.abort();
    for (const p of this.#pools.values()) p.destroy();
  }

  #tick(): void {
    if (this.#stopped) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = true;
    void this.#claim()
      .catch((err: unknown) => this.#log.error({ err }, 'webhook deliveries could not be claimed; trying again in a second'))
      .finally(() => {
        this.#ticking = false;
        if (this.#again) {
          this.#again = false;
          this.#tick();
        }
      });
  }

  async #claim(): Promise<void> {
    const room = this.#o.concurrency - this.#inFlight.size;
    if (room <= 0) return;
    const now = Date.now();
    const claimed = await this.#store.claimDeliveries(new Date(now).toISOString(), new Date(now + this.#o.timeoutMs + CLAIM_MARGIN_MS).toISOString(), room);
    for (const d of claimed) {
      const abort = new AbortController();
      this.#inFlight.add(abort);
      void this.#deliver(d, abort.signal)
        .catch((err: unknown) => {
          if (!this.#stopped) this.#log.error({ err, delivery: d.id }, 'a webhook delivery failed unexpectedly; it is tried again once its claim runs out');
        })
        .finally(() => {
          this.#inFlight.delete(abort);
          this.#tick();
        });
    }
  }

  async #deliver(d: ClaimedDelivery, signal: AbortSignal): Promise<void> {
    const event = await webhookEvent(this.#store, d);
    const started = Date.now();
    const attempt = event === null
      ? { status: null, error: `its ${d.event === 'run.finished' ? 'run' : 'command'} ${d.subject_id} is gone` }
      : await this.#post(d, event, signal);
    if (signal.aborted) return; // stopping: the claim runs out and the attempt is made again
    const done: WebhookAttempt = { at: new Date().toISOString(), ...attempt, duration_ms: Date.now() - started };
    const where = { webhook: d.webhook_id, delivery: d.id, event: d.event, event_id: d.event_id, to: origin(d.url), attempt: d.attempts };
    if (done.error === null) {
      this.#log.debug({ ...where, status: done.status }, 'webhook delivered');
      await this.#store.recordAttempt(d.id, d.claim, { ok: true, attempt: done });
      return;
    }
    const backoff = event === null ? undefined : this.#o.retrySeconds[d.attempts - 1];
    const retryAt = backoff === undefined ? null : new Date(Date.now() + backoff * 1000).toISOString();
    this.#log.warn({ ...where, status: done.status, error: done.error, retry_at: retryAt },
      retryAt ? 'webhook attempt failed; it is tried again later' : 'webhook delivery failed: no attempts left');
    await this.#store.recordAttempt(d.id, d.claim, { ok: false, attempt: done, retryAt });
  }

  /** One POST of the signed event; `error` null for a 2xx. */
  #post(d: ClaimedDelivery, event: WebhookEvent, signal: AbortSignal): Promise<{ status: number | null; error: string | null }> {
    const body = JSON.stringify(event);
    const headers = {
      'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': `myx-webhooks/${MYX_VERSION}`,
      [WEBHOOK_HEADERS.signature]: signWebhook(d.secret, body, Math.floor(Date.now() / 1000)),
      [WEBHOOK_HEADERS.eventId]: d.event_id, [WEBHOOK_HEADERS.event]: d.event, [WEBHOOK_HEADERS.delivery]: d.id, [WEBHOOK_HEADERS.attempt]: String(d.attempts),
    };
    const url = new URL(d.url);
    return new Promise((resolve) => {
      let settled = false;
      const settle = (status: number | null, error: string | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve({ status, error });
      };
      const onAnswer = (res: IncomingMessage) => {
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > ANSWER_MAX) res.destroy();
        });
        res.on('end', () => settle(res.statusCode!, ok(res.statusCode!) ? null : `HTTP ${res.statusCode}${res.statusCode! >= 300 && res.statusCode! < 400 ? ' (redirects are not followed)' : ''}`));
        res.on('error', () => settle(res.statusCode!, ok(res.statusCode!) ? null : `HTTP ${res.statusCode}`));
        res.on('close', () => settle(res.statusCode!, ok(res.statusCode!) ? null : `HTTP ${res.statusCode}`));
      };
      const options = { method: 'POST', headers, signal };
      const req = url.protocol === 'http:'
        ? httpRequest(url, options, onAnswer)
        : httpsRequest(url, { ...options, ...(d.fingerprint ? { agent: this.#pool(d.fingerprint) } : { ...TLS_OPTIONS, agent: false }) }, onAnswer);
      const timer = setTimeout(() => {
        settle(null, `no answer within ${Math.round(this.#o.timeoutMs / 1000)} s`);
        req.destroy();
      }, this.#o.timeoutMs);
      const onAbort = () => settle(null, 'the control plane stopped');
      signal.addEventListener('abort', onAbort);
      req.on('error', (err) => settle(null, describeError(err, url)));
      req.end(body);
    });
  }

  /** Connections to a pinned receiver are checked against its fingerprint before anything is written on them. */
  #pool(fingerprint: string): PinnedPool {
    let pool = this.#pools.get(fingerprint);
    if (!pool) this.#pools.set(fingerprint, (pool = new PinnedPool({ fingerprint, connections: 2, connectTimeoutMs: this.#o.timeoutMs })));
    return pool;
  }
}

const ok = (status: number) => status >= 200 && status < 300;

/** scheme://host:port only: a webhook URL's path or query may hold a token, and logs never show one. */
export function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(not a URL)';
  }
}

function describeError(err: Error, url: URL): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const host = url.host;
  const reasons: Record<string, string> = {
    ECONNREFUSED: `connection refused by ${host}`,
    ENOTFOUND: `cannot resolve ${host}`,
    ECONNRESET: `connection to ${host} was reset`,
    EHOSTUNREACH: `no route to ${host}`,
    ETIMEDOUT: `timed out connecting to ${host}`,
    CERT_PIN_MISMATCH: err.message,
  };
  return reasons[code] ?? (code.startsWith('ERR_TLS') || /certificate|SSL|TLS/i.test(err.message) ? `TLS with ${host} failed: ${err.message}` : `${code || 'error'}: ${err.message}`);
}

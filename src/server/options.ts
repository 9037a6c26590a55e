// The control plane's options: what `myx server` flags say, checked and completed once at start,
// then passed down as one compiled object.

import { hostname } from 'node:os';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseMetricsListen, type LoopbackAddress } from '../common/loopback-address.ts';
import { OUTPUT_CAP_DEFAULT, OUTPUT_CAP_MIN, outputKeep } from '../protocol/limits.ts';
import type { OutputKeep } from '../protocol/wire.ts';

export interface ServerOptions {
  /** Where the database, certificate and operator token live. @default ./myx-data */
  dataDir?: string;
  /** HOST:PORT to listen on. @default 0.0.0.0:8000 */
  listen?: string;
  /** User-supplied certificate and key (PEM); both or neither. */
  tlsCert?: string;
  tlsKey?: string;
  /** The URL agents should use, printed in join lines. @default https://<hostname>:<port> */
  publicUrl?: string;
  /** Seconds between agent heartbeats. @default 5 */
  heartbeatIntervalSeconds?: number;
  /** An agent is offline after this many seconds without a heartbeat. @default 3 heartbeats */
  offlineAfterSeconds?: number;
  /** The fleet's heartbeats per second to stay under: past it, agents are told a longer interval. */
  maxHeartbeatRate?: number;
  /** Milliseconds a push may take before it counts as failed. @default 10000 */
  pushTimeoutMs?: number;
  /** Seconds a delivered command may wait for its agent to start it before it is queued again. @default 30 */
  leaseSeconds?: number;
  /**
   * Where state lives: a PostgreSQL URL (`postgres://user@host:5432/db`) for replicas sharing one
   * database. `sqlite` or unset: SQLite in the data dir. @default SQLite
   */
  store?: string;
  /** @default info */
  logLevel?: string;
  /** The folder of the release to hand out (myx-agent, SHA256SUMS); null: none. @default null */
  releaseDir?: string | null;
  /** Bytes of each stream of a command kept (past it, its head and last bytes). @default OUTPUT_CAP_DEFAULT (64 MiB) */
  outputCapBytes?: number;
  /** Finished commands' output is dropped after this many seconds (the records stay). @default 30 days */
  outputRetentionSeconds?: number;
  /** The oldest finished commands' output is dropped while all kept output is over this. @default 10 GiB */
  outputRetentionBytes?: number;
  /**
   * Seconds between a failed webhook attempt and the next, in order; their number bounds the
   * retries (one attempt more than back-offs). @default WEBHOOK_RETRY_DEFAULT_SECONDS (10 s, 1 min, 5 min, 30 min, 2 h, 6 h)
   */
  webhookRetrySeconds?: number[];
  /** Milliseconds a webhook receiver has to answer an attempt. @default 10000 */
  webhookTimeoutMs?: number;
  /**
   * A loopback HOST:PORT where plain-HTTP GET /metrics answers without credentials, for a scraper
   * on this host (the HTTPS API's /metrics, for a viewer, is there either way). @default none
   */
  metricsListen?: string;
}

/** Back-offs between webhook attempts unless told otherwise: 7 attempts over about 8.5 hours. */
/**
 * The fleet's heartbeats per second a control plane aims to stay under: up to 1,000 agents beat
 * every 5 s (the default interval); 10,000 every 50 s.
 */
export const DEFAULT_MAX_HEARTBEAT_RATE = 200;
export const WEBHOOK_RETRY_DEFAULT_SECONDS = [10, 60, 300, 1800, 7200, 21600];
/** Webhooks a control plane takes, at most. */
export const WEBHOOKS_MAX = 100;

/** Retention of complete output unless told otherwise. */
export const OUTPUT_RETENTION_DEFAULT_SECONDS = 30 * 86400;
export const OUTPUT_RETENTION_DEFAULT_BYTES = 10 * 1024 ** 3;

/** The store to open; `display` is the URL with its password hidden (what logs and errors show). */
export type StoreTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; display: string };

export interface CompiledServerOptions {
  dataDir: string;
  host: string;
  port: number;
  tls: { certPath: string; keyPath: string; userSupplied: boolean };
  publicUrl: string | undefined;
  heartbeatIntervalSeconds: number;
  offlineAfterSeconds: number;
  maxHeartbeatRate: number;
  pushTimeoutMs: number;
  leaseSeconds: number;
  logLevel: string;
  store: StoreTarget;
  releaseDir: string | null;
  output: { capBytes: number; keep: OutputKeep; retentionSeconds: number; retentionBytes: number };
  /** Webhook deliveries: back-offs, the timeout of an attempt, attempts at once per replica, webhooks at most. */
  webhooks: { retrySeconds: number[]; timeoutMs: number; concurrency: number; max: number };
  metricsListen: LoopbackAddress | null;
  paths: { database: string; operatorToken: string; serverInfo: string };
}

export class OptionsError extends Error {
  readonly code = 'INVALID_OPTION';
}

export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value.trim()) ?? /^()()(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new OptionsError(`${what} must be HOST:PORT (for example 0.0.0.0:8000), got "${value}"`);
  return { host: m[1] || m[2] || '0.0.0.0', port };
}

export function compileServerOptions(o: ServerOptions): CompiledServerOptions {
  const dataDir = resolve(o.dataDir ?? 'myx-data');
  const { host, port } = parseHostPort(o.listen ?? '0.0.0.0:8000', '--listen');
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new OptionsError('--tls-cert and --tls-key go together');
  const heartbeat = o.heartbeatIntervalSeconds ?? 5;
  if (!(heartbeat > 0)) throw new OptionsError('heartbeat interval must be positive');
  if (o.maxHeartbeatRate !== undefined && !(o.maxHeartbeatRate > 0)) throw new OptionsError('--max-heartbeat-rate must be positive');
  if (o.publicUrl !== undefined && !/^https:\/\/[^/\s]+\/?$/.test(o.publicUrl)) {
    throw new OptionsError(`--public-url must look like https://HOST:PORT, got "${o.publicUrl}"`);
  }
  const database = join(dataDir, 'myx.db');
  return {
    dataDir,
    host,
    port,
    tls: o.tlsCert && o.tlsKey
      ? { certPath: resolve(o.tlsCert), keyPath: resolve(o.tlsKey), userSupplied: true }
      : { certPath: join(dataDir, 'tls', 'server.crt'), keyPath: join(dataDir, 'tls', 'server.key'), userSupplied: false },
    publicUrl: o.publicUrl?.replace(/\/$/, ''),
    heartbeatIntervalSeconds: heartbeat,
    offlineAfterSeconds: o.offlineAfterSeconds ?? heartbeat * 3,
    maxHeartbeatRate: o.maxHeartbeatRate ?? DEFAULT_MAX_HEARTBEAT_RATE,
    pushTimeoutMs: o.pushTimeoutMs ?? 10_000,
    leaseSeconds: o.leaseSeconds ?? 30,
    logLevel: o.logLevel ?? 'info',
    store: compileStore(o.store, database),
    releaseDir: o.releaseDir ? resolve(o.releaseDir) : null,
    output: compileOutput(o),
    webhooks: compileWebhooks(o),
    metricsListen: o.metricsListen ? parseMetricsListen(o.metricsListen, '--metrics-listen') : null,
    paths: {
      database,
      operatorToken: join(dataDir, 'operator.token'),
      serverInfo: join(dataDir, 'server.json'),
    },
  };
}

function compileOutput(o: ServerOptions): CompiledServerOptions['output'] {
  const cap = o.outputCapBytes ?? OUTPUT_CAP_DEFAULT;
  if (!Number.isSafeInteger(cap) || cap < OUTPUT_CAP_MIN) throw new OptionsError(`--output-cap must be ${OUTPUT_CAP_MIN / 1024} KiB or more`);
  const seconds = o.outputRetentionSeconds ?? OUTPUT_RETENTION_DEFAULT_SECONDS;
  const bytes = o.outputRetentionBytes ?? OUTPUT_RETENTION_DEFAULT_BYTES;
  if (!(seconds > 0)) throw new OptionsError('--output-retention must be a positive duration');
  if (!(bytes >= 0)) throw new OptionsError('--output-retention-size must be a size');
  return { capBytes: cap, keep: outputKeep(cap), retentionSeconds: seconds, retentionBytes: bytes };
}

function compileWebhooks(o: ServerOptions): CompiledServerOptions['webhooks'] {
  const retrySeconds = o.webhookRetrySeconds ?? WEBHOOK_RETRY_DEFAULT_SECONDS;
  if (retrySeconds.length > 20 || !retrySeconds.every((s) => Number.isFinite(s) && s > 0 && s <= 7 * 86400)) {
    throw new OptionsError('--webhook-retries takes up to 20 durations of 7 days at most, like 10s,1m,5m');
  }
  const timeoutMs = o.webhookTimeoutMs ?? 10_000;
  if (!(timeoutMs >= 1000 && timeoutMs <= 120_000)) throw new OptionsError('--webhook-timeout must be from 1s to 2m');
  return { retrySeconds, timeoutMs, concurrency: 8, max: WEBHOOKS_MAX };
}

function compileStore(value: string | undefined, sqlitePath: string): StoreTarget {
  if (value === undefined || value === '' || value === 'sqlite') return { kind: 'sqlite', path: sqlitePath };
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch { /* said below, without echoing what may hold a password */ }
  if (!url || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
    throw new OptionsError('--store (or MYX_DATABASE_URL) must be a PostgreSQL URL like postgres://myx@db.example:5432/myx, or sqlite');
  }
  return { kind: 'postgres', url: value, display: redactUrl(url) };
}

/**
 * Where `myx store copy` reads or writes: a PostgreSQL URL, or an SQLite database (a file, or a
 * data dir holding myx.db).
 */
export function copyTarget(value: string, what: string): StoreTarget {
  if (/^postgres(ql)?:/i.test(value)) {
    try {
      return compileStore(value, '');
    } catch {
      throw new OptionsError(`${what} must be a PostgreSQL URL like postgres://myx@db.example:5432/myx, or an SQLite file or data dir`);
    }
  }
  const path = resolve(value);
  return { kind: 'sqlite', path: existsSync(path) && statSync(path).isDirectory() ? join(path, 'myx.db') : path };
}

/** A database URL fit for logs: the password and any password-like parameter replaced by ***. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  for (const key of [...copy.searchParams.keys()]) if (/pass|secret|key/i.test(key)) copy.searchParams.set(key, '***');
  return copy.href.replaceAll('%2A%2A%2A', '***');
}

/** True when a database URL carries a password itself (then it shows in process listings if given as an argument). */
export function urlHasPassword(value: string): boolean {
  try {
    const url = new URL(value);
    return url.password !== '' || [...url.searchParams.keys()].some((k) => /pass/i.test(k));
  } catch {
    return false;
  }
}

/** The URL to print for agents on other hosts. */
export function publicUrlFor(opts: CompiledServerOptions, boundPort: number): string {
  if (opts.publicUrl) return opts.publicUrl;
  const wildcard = opts.host === '0.0.0.0' || opts.host === '::';
  return `https://${wildcard ? hostname() : urlHost(opts.host)}:${boundPort}`;
}

/** The URL a CLI on this host uses. */
export function localUrlFor(opts: CompiledServerOptions, boundPort: number): string {
  const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host === '::' ? '::1' : opts.host;
  return `https://${urlHost(host)}:${boundPort}`;
}

export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

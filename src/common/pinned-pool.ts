// HTTPS connections pinned to one certificate fingerprint: like SSH known_hosts, the peer is
// trusted because its certificate is the one we recorded, not because a CA signed it.
// Built on node:https (cheap to load, so the CLI starts fast); connections are kept alive, and a
// new connection to a peer resumes the TLS session of an earlier one that passed the pin check.

import { Agent, type AgentOptions, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect, createSecureContext, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import { sameFingerprint } from '../protocol/fingerprint.ts';
import { TLS_OPTIONS } from './tls-policy.ts';

export class PinMismatchError extends Error {
  readonly code = 'CERT_PIN_MISMATCH';
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string, host: string) {
    super(`certificate of ${host} does not match the pinned fingerprint (pinned ${expected}, presented ${actual || 'none'})`);
    this.name = 'PinMismatchError';
    this.expected = expected;
    this.actual = actual;
  }
}

export interface PinnedPoolOptions {
  /** The fingerprint the peer's certificate must have (`AB:CD:...`). */
  fingerprint: string;
  /** Connections kept per origin, @default 8 */
  connections?: number;
  /** ms a connection may sit idle before it is closed (below the servers' 65 s), @default 30000 */
  idleTimeoutMs?: number;
  /** ms to establish TCP + TLS, @default 5000 */
  connectTimeoutMs?: number;
  /** A certificate to present to the peer (mutual TLS), PEM. */
  clientCertificate?: { certPem: string; keyPem: string };
}

/** Sessions kept per pool: one per origin (a pool talks to one agent, or to a few replicas). */
const MAX_SESSIONS = 16;

/**
 * A keep-alive connection pool whose every new connection is checked against the pin before the
 * HTTP client may write anything on it: the socket is handed over only after the check passes.
 *
 * A new connection to an origin offers the TLS session of the last connection to it that passed
 * the check (a session ticket). A resumed session shows no certificate, but only the peer that
 * completed that pinned handshake can resume it (TLS 1.3 authenticates a resumption with the
 * session's own secret); a peer that cannot resume gets a full handshake, and the pin check. So a
 * reconnect (after an idle close, or to each of thousands of agents again) skips the certificate
 * signatures and checks on both sides.
 */
export class PinnedPool extends Agent {
  readonly #fingerprint: string;
  readonly #connectTimeoutMs: number;
  readonly #context: SecureContext;
  /** origin -> the session of a connection that passed the pin check; the newest last. */
  readonly #sessions = new Map<string, Buffer>();

  constructor(opts: PinnedPoolOptions) {
    super({
      keepAlive: true,
      maxSockets: opts.connections ?? 8,
      maxFreeSockets: opts.connections ?? 8,
      timeout: opts.idleTimeoutMs ?? 30_000,
      scheduling: 'lifo',
      // sessions are kept here, per origin, only from connections that passed the pin check
      maxCachedSessions: 0,
    } as AgentOptions);
    this.#fingerprint = opts.fingerprint;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.#context = secureContextFor(opts.clientCertificate);
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | undefined {
    const host = `${options.host}:${options.port}`;
    const offered = this.#sessions.get(host);
    // Chain validation is replaced by the pin check; a CA is not part of this trust model.
    const socket: TLSSocket = connect({
      ...(options as ConnectionOptions), secureContext: this.#context, rejectUnauthorized: false, session: offered,
    });
    let settled = false;
    let pinned = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', settle);
      if (err) socket.destroy();
      callback?.(err, socket);
    };
    const timer = setTimeout(() => settle(Object.assign(new Error(`timed out connecting to ${host}`), { code: 'ETIMEDOUT' })), this.#connectTimeoutMs);
    socket.once('error', settle);
    // TLS 1.3 sends tickets after the handshake: keep them only from a connection that is pinned
    socket.on('session', (session: Buffer) => {
      if (pinned) this.#keepSession(host, session);
    });
    socket.once('secureConnect', () => {
      if (offered !== undefined && socket.isSessionReused()) {
        pinned = true;
        settle(null);
        return;
      }
      // the X509Certificate (hashes the DER), not getPeerCertificate (turns every field into JS: ~5x the CPU, per new connection)
      const actual = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      pinned = sameFingerprint(actual, this.#fingerprint);
      if (!pinned) this.#sessions.delete(host);
      settle(pinned ? null : new PinMismatchError(this.#fingerprint, actual, host));
    });
    return undefined;
  }

  #keepSession(host: string, session: Buffer): void {
    this.#sessions.delete(host);
    this.#sessions.set(host, session);
    if (this.#sessions.size > MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
  }
}

/**
 * One TLS context per client identity (and one without), made once: tls.connect would otherwise
 * build one per connection, parsing the certificate and key each time.
 */
const contexts = new WeakMap<object, SecureContext>();
let anonymous: SecureContext | undefined;

function secureContextFor(identity: { certPem: string; keyPem: string } | undefined): SecureContext {
  if (!identity) return (anonymous ??= createSecureContext({ ...TLS_OPTIONS }));
  let ctx = contexts.get(identity);
  if (!ctx) {
    ctx = createSecureContext({ ...TLS_OPTIONS, cert: identity.certPem, key: identity.keyPem });
    contexts.set(identity, ctx);
  }
  return ctx;
}

// HTTPS connections pinned to one certificate fingerprint: like SSH known_hosts, the peer is
// trusted because its certificate is the one we recorded, not because a CA signed it.
// Built on node:https (cheap to load, so the CLI starts fast); connections are kept alive.

import { Agent, type AgentOptions, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
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

/**
 * A keep-alive connection pool whose every new connection is checked against the pin before the
 * HTTP client may write anything on it: the socket is handed over only after the check passes.
 */
export class PinnedPool extends Agent {
  readonly #fingerprint: string;
  readonly #connectTimeoutMs: number;
  readonly #clientCertificate: { cert: string; key: string } | {};

  constructor(opts: PinnedPoolOptions) {
    super({
      keepAlive: true,
      maxSockets: opts.connections ?? 8,
      maxFreeSockets: opts.connections ?? 8,
      timeout: opts.idleTimeoutMs ?? 30_000,
      scheduling: 'lifo',
      // one handshake per connection: a resumed session might not present the certificate
      maxCachedSessions: 0,
    } as AgentOptions);
    this.#fingerprint = opts.fingerprint;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.#clientCertificate = opts.clientCertificate ? { cert: opts.clientCertificate.certPem, key: opts.clientCertificate.keyPem } : {};
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | undefined {
    // Chain validation is replaced by the pin check; a CA is not part of this trust model.
    const socket: TLSSocket = connect({
      ...(options as ConnectionOptions), ...TLS_OPTIONS, ...this.#clientCertificate, rejectUnauthorized: false, session: undefined,
    });
    const host = `${options.host}:${options.port}`;
    let settled = false;
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
    socket.once('secureConnect', () => {
      const actual = socket.getPeerCertificate()?.fingerprint256 ?? '';
      settle(sameFingerprint(actual, this.#fingerprint) ? null : new PinMismatchError(this.#fingerprint, actual, host));
    });
    return undefined;
  }
}

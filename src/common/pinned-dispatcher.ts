// HTTPS connections pinned to one certificate fingerprint: like SSH known_hosts, the peer is
// trusted because its certificate is the one we recorded, not because a CA signed it.

import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { sameFingerprint } from '../protocol/fingerprint.ts';

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

export interface PinnedDispatcherOptions {
  /** The fingerprint the peer's certificate must have (`AB:CD:...`). */
  fingerprint: string;
  /** Connections kept per origin, @default 8 */
  connections?: number;
  /** ms an idle keep-alive connection stays open, @default 30000 */
  keepAliveTimeout?: number;
  /** ms to establish TCP + TLS, @default 5000 */
  connectTimeout?: number;
}

/**
 * An undici Agent whose every new connection is checked against the pin before any request is
 * written on it. Connections are kept alive, so the check (and the handshake) happens once per
 * connection, not per request.
 */
export function createPinnedDispatcher(opts: PinnedDispatcherOptions): Agent {
  const base = buildConnector({
    // Chain validation is replaced by the pin check below; a CA is not part of this trust model.
    rejectUnauthorized: false,
    // A resumed session may skip sending the certificate; every connection shows it afresh.
    maxCachedSessions: 0,
    minVersion: 'TLSv1.2',
    timeout: opts.connectTimeout ?? 5000,
  });
  return new Agent({
    connections: opts.connections ?? 8,
    keepAliveTimeout: opts.keepAliveTimeout ?? 30_000,
    connect(connectOpts, callback) {
      base(connectOpts, (err, socket) => {
        if (err || !socket) return callback(err ?? new Error('no socket'), null);
        const actual = (socket as TLSSocket).getPeerCertificate?.()?.fingerprint256 ?? '';
        if (!sameFingerprint(actual, opts.fingerprint)) {
          socket.destroy();
          return callback(new PinMismatchError(opts.fingerprint, actual, `${connectOpts.hostname}:${connectOpts.port}`), null);
        }
        callback(null, socket);
      });
    },
  });
}

// The one TLS policy of every myx connection, server side and client side: TLS 1.2 at least,
// forward-secret AEAD suites only on TLS 1.2 (TLS 1.3 suites are all AEAD), no renegotiation.

import type { Server as HttpsServer } from 'node:https';
import type { SecureVersion, TLSSocket } from 'node:tls';

export const TLS_MIN_VERSION: SecureVersion = 'TLSv1.2';

/** TLS 1.2 suites: ECDHE key exchange, AES-GCM or ChaCha20-Poly1305. No CBC, no RSA key exchange. */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Options every TLS server and client of myx starts from. */
export const TLS_OPTIONS = { minVersion: TLS_MIN_VERSION, ciphers: TLS12_CIPHERS } as const;

/** Client-initiated renegotiation (TLS 1.2) is refused on every connection the server accepts. */
export function refuseRenegotiation(server: HttpsServer): void {
  server.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
}

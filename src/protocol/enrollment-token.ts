// Enrollment tokens carry the control plane's certificate fingerprint, so an agent can pin the
// control plane from its very first request: `myx1.<secret>.<fingerprint hex>`.

import { compactFingerprint, normalizeFingerprint } from './fingerprint.ts';

const PREFIX = 'myx1';

/** The longest an enrollment token may stay valid (ENROLLMENT_TOKEN_TTL_TOO_LONG beyond it). */
export const MAX_ENROLLMENT_TTL_SECONDS = 7 * 24 * 3600;
/** Unused, unexpired, unrevoked enrollment tokens a control plane keeps at most (ENROLLMENT_TOKENS_TOO_MANY beyond it). */
export const MAX_OUTSTANDING_ENROLLMENT_TOKENS = 1000;
const SECRET = /^[A-Za-z0-9_-]{32,128}$/;

export interface EnrollmentToken {
  /** The part the control plane checks (stored hashed there). */
  secret: string;
  /** The control plane's certificate fingerprint, canonical form. */
  serverFingerprint: string;
}

export function formatEnrollmentToken(secret: string, serverFingerprint: string): string {
  return `${PREFIX}.${secret}.${compactFingerprint(serverFingerprint)}`;
}

export function parseEnrollmentToken(token: string): EnrollmentToken | undefined {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) return undefined;
  const [, secret, fp] = parts as [string, string, string];
  const serverFingerprint = normalizeFingerprint(fp);
  if (!SECRET.test(secret) || serverFingerprint === undefined) return undefined;
  return { secret, serverFingerprint };
}

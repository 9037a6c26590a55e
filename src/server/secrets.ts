// Token generation and hashing for the control plane. Tokens are 256-bit random values with a
// prefix that says what kind they are; only their SHA-256 is used to look them up.

import { createHash, hash, randomBytes } from 'node:crypto';
import { WEBHOOK_SECRET_PREFIX } from '../protocol/webhooks.ts';

export type TokenKind = 'operator' | 'agent' | 'enrollment' | 'session' | 'webhook';
const PREFIX: Record<TokenKind, string> = { operator: 'myxo_', agent: 'myxa_', enrollment: '', session: 'myxs_', webhook: WEBHOOK_SECRET_PREFIX };

export function newToken(kind: TokenKind): string {
  return PREFIX[kind] + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return hash('sha256', token, 'hex'); // one call: every agent request hashes its token
}

export function newId(prefix: 'agt' | 'cmd' | 'run' | 'enr' | 'rpl' | 'op' | 'whk'): string {
  // time-ordered prefix keeps ids roughly sortable; 80 random bits keep them unguessable
  return `${prefix}_${Date.now().toString(36)}${randomBytes(10).toString('hex')}`;
}

export function looksLikeAgentToken(token: string): boolean {
  return token.startsWith(PREFIX.agent);
}

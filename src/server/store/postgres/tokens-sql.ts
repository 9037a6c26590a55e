// SQL for operator tokens and enrollment tokens.

import type { Db } from './pool.ts';

export async function insertOperatorToken(db: Db, tokenHash: string, name: string, now: string): Promise<void> {
  await db.query('INSERT INTO operator_tokens (token_hash, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (token_hash) DO NOTHING', [tokenHash, name, now]);
}

export async function operatorTokenExists(db: Db, tokenHash: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM operator_tokens WHERE token_hash = $1', [tokenHash])).rowCount! > 0;
}

export async function insertEnrollmentToken(db: Db, tokenHash: string, expiresAt: string, now: string): Promise<void> {
  await db.query('INSERT INTO enrollment_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)', [tokenHash, now, expiresAt]);
}

/** Locks the token's row until the transaction ends: enrollments with one token take turns. */
export async function lockEnrollmentToken(db: Db, tokenHash: string): Promise<{ expires_at: string; used_at: string | null } | undefined> {
  const r = await db.query<{ expires_at: string; used_at: string | null }>(
    'SELECT expires_at, used_at FROM enrollment_tokens WHERE token_hash = $1 FOR UPDATE', [tokenHash]);
  return r.rows[0];
}

export async function useEnrollmentToken(db: Db, tokenHash: string, agentId: string, now: string): Promise<void> {
  await db.query('UPDATE enrollment_tokens SET used_at = $2, used_by_agent = $3 WHERE token_hash = $1 AND used_at IS NULL', [tokenHash, now, agentId]);
}

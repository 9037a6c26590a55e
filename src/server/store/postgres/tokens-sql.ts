// SQL for enrollment tokens (operator tokens: operators-sql.ts).

import type { EnrollmentTokenRow, NewEnrollmentToken } from '../store.ts';
import type { Db } from './pool.ts';

const ENROLLMENT_COLUMNS = 'id, created_at, expires_at, used_at, used_by_agent, revoked_at';

/** Advisory lock key ('myxe'): enrollment token creations take turns so the outstanding cap holds. */
const ENROLLMENT_CAP_LOCK = 0x6d797865;

/** Until the transaction ends, no other creation counts or inserts (READ COMMITTED would let two see the same count). */
export async function lockEnrollmentCap(db: Db): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock($1)', [ENROLLMENT_CAP_LOCK]);
}

/** Unused, unrevoked tokens that expire after `now`. */
export async function outstandingEnrollmentTokens(db: Db, now: string): Promise<number> {
  const r = await db.query<{ n: number }>(
    'SELECT COUNT(*)::int AS n FROM enrollment_tokens WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > $1', [now]);
  return r.rows[0]!.n;
}

export async function insertEnrollmentToken(db: Db, t: NewEnrollmentToken, now: string): Promise<void> {
  await db.query('INSERT INTO enrollment_tokens (id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)', [t.id, t.tokenHash, now, t.expiresAt]);
}

export async function listEnrollmentTokens(db: Db, limit: number): Promise<EnrollmentTokenRow[]> {
  const r = await db.query<EnrollmentTokenRow>(`SELECT ${ENROLLMENT_COLUMNS} FROM enrollment_tokens ORDER BY created_at DESC, id DESC LIMIT $1`, [limit]);
  return r.rows;
}

/** Locks the token's row until the transaction ends (revocation against enrollment). */
export async function lockEnrollmentTokenById(db: Db, id: string): Promise<EnrollmentTokenRow | undefined> {
  const r = await db.query<EnrollmentTokenRow>(`SELECT ${ENROLLMENT_COLUMNS} FROM enrollment_tokens WHERE id = $1 FOR UPDATE`, [id]);
  return r.rows[0];
}

export async function revokeEnrollmentToken(db: Db, id: string, now: string): Promise<EnrollmentTokenRow | undefined> {
  const r = await db.query<EnrollmentTokenRow>(
    `UPDATE enrollment_tokens SET revoked_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL RETURNING ${ENROLLMENT_COLUMNS}`, [id, now]);
  return r.rows[0];
}

/** Locks the token's row until the transaction ends: enrollments with one token take turns. */
export async function lockEnrollmentToken(db: Db, tokenHash: string): Promise<{ expires_at: string; used_at: string | null; revoked_at: string | null } | undefined> {
  const r = await db.query<{ expires_at: string; used_at: string | null; revoked_at: string | null }>(
    'SELECT expires_at, used_at, revoked_at FROM enrollment_tokens WHERE token_hash = $1 FOR UPDATE', [tokenHash]);
  return r.rows[0];
}

export async function useEnrollmentToken(db: Db, tokenHash: string, agentId: string, now: string): Promise<void> {
  await db.query('UPDATE enrollment_tokens SET used_at = $2, used_by_agent = $3 WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL',
    [tokenHash, now, agentId]);
}

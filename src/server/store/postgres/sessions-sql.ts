// SQL for web console sessions (each statement alone is the whole operation: no transaction needed).

import type { NewSession, SessionRow } from '../store.ts';
import type { Db } from './pool.ts';

const COLUMNS = 'id_hash, operator_token_hash, created_at, last_seen_at, expires_at';

export async function insertSession(db: Db, s: NewSession, now: string): Promise<void> {
  await db.query(`INSERT INTO console_sessions (${COLUMNS}) VALUES ($1, $2, $3, $3, $4)`, [s.idHash, s.operatorTokenHash, now, s.expiresAt]);
}

/** The row lock of the UPDATE orders it against a concurrent delete: it finds the session whole or not at all. */
export async function useSession(db: Db, idHash: string, now: string, seenAfter: string): Promise<SessionRow | undefined> {
  const r = await db.query<SessionRow>(
    `UPDATE console_sessions s SET last_seen_at = GREATEST(s.last_seen_at, $2)
     WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3
     AND EXISTS (SELECT 1 FROM operator_tokens o WHERE o.token_hash = s.operator_token_hash)
     RETURNING ${COLUMNS}`, [idHash, now, seenAfter]);
  return r.rows[0];
}

export async function deleteSession(db: Db, idHash: string): Promise<boolean> {
  return (await db.query('DELETE FROM console_sessions WHERE id_hash = $1', [idHash])).rowCount! > 0;
}

export async function deleteStaleSessions(db: Db, now: string, seenBefore: string): Promise<number> {
  return (await db.query('DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen_at <= $2', [now, seenBefore])).rowCount!;
}

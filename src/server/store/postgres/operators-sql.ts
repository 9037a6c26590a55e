// SQL for operators and their tokens.

import type { NewOperator } from '../operator-store.ts';
import type { Row } from '../rows.ts';
import type { Db } from './pool.ts';

/** Advisory lock key ('myxo'): changes to the set of operators take turns (one admin per name, the last admin stays). */
const OPERATORS_LOCK = 0x6d79786f;

/** Until the transaction ends, no other operator change runs (READ COMMITTED would let two removals each see another admin). */
export async function lockOperators(db: Db): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock($1)', [OPERATORS_LOCK]);
}

export async function insertOperator(db: Db, op: NewOperator, now: string): Promise<void> {
  await db.query('INSERT INTO operators (id, name, role, scope, created_at) VALUES ($1, $2, $3, $4, $5)', [op.id, op.name, op.role, JSON.stringify(op.scope), now]);
}

export async function insertToken(db: Db, tokenHash: string, operator: { id: string; name: string }, now: string): Promise<void> {
  await db.query('INSERT INTO operator_tokens (token_hash, name, created_at, operator_id) VALUES ($1, $2, $3, $4)', [tokenHash, operator.name, now, operator.id]);
}

export async function tokenKnown(db: Db, tokenHash: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM operator_tokens WHERE token_hash = $1', [tokenHash])).rowCount! > 0;
}

export async function operatorByName(db: Db, name: string): Promise<Row | undefined> {
  return (await db.query('SELECT * FROM operators WHERE name = $1', [name])).rows[0];
}

export async function listOperators(db: Db): Promise<Row[]> {
  return (await db.query('SELECT * FROM operators ORDER BY name')).rows;
}

export async function operatorByTokenHash(db: Db, tokenHash: string): Promise<Row | undefined> {
  return (await db.query('SELECT o.* FROM operator_tokens t JOIN operators o ON o.id = t.operator_id WHERE t.token_hash = $1', [tokenHash])).rows[0];
}

/** Moves last_used_at on when it is older than `staleBefore` (the newest use wins). */
export async function touchOperator(db: Db, id: string, now: string, staleBefore: string): Promise<void> {
  await db.query('UPDATE operators SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)', [id, now, staleBefore]);
}

export async function countOperators(db: Db, role?: 'admin'): Promise<number> {
  const r = await db.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM operators${role ? ' WHERE role = $1' : ''}`, role ? [role] : []);
  return r.rows[0]!.n;
}

/** Ends the operator's console sessions and deletes its tokens; returns how many sessions ended. */
export async function dropCredentials(db: Db, operatorId: string): Promise<number> {
  const ended = await db.query('DELETE FROM console_sessions WHERE operator_token_hash IN (SELECT token_hash FROM operator_tokens WHERE operator_id = $1)', [operatorId]);
  await db.query('DELETE FROM operator_tokens WHERE operator_id = $1', [operatorId]);
  return ended.rowCount!;
}

export async function deleteOperator(db: Db, id: string): Promise<void> {
  await db.query('DELETE FROM operators WHERE id = $1', [id]);
}

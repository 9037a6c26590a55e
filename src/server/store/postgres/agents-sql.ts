// SQL for agents: enrollment's insert, heartbeats, labels, listing and (soft) removal.

import type { AgentFacts, Labels } from '../../../protocol/wire.ts';
import type { Row } from '../rows.ts';
import type { NewAgent } from '../store.ts';
import type { TargetState } from '../new-run.ts';
import type { Db } from './pool.ts';
import { agentEvent } from './events-sql.ts';
import { bytes, textRow } from './rows.ts';

/** The new agent's row, or undefined when an agent that is not removed has its name (then nothing was written). */
export async function insertAgentUnlessNameTaken(db: Db, a: NewAgent, now: string): Promise<Row | undefined> {
  const r = await db.query(
    `INSERT INTO agents (id, name, token_hash, token, hostname, os, version, mode, web_port, fingerprint,
      advertise_address, remote_address, labels, enrolled_at, last_heartbeat_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL)
     ON CONFLICT (name) WHERE removed_at IS NULL DO NOTHING RETURNING *`,
    [a.id, a.name, a.tokenHash, a.token, bytes(a.hostname), bytes(a.os), bytes(a.version), a.mode, a.web_port, bytes(a.fingerprint),
      a.advertise_address, a.remote_address, JSON.stringify(a.labels), now],
  );
  return r.rows[0] ? textRow(r.rows[0]) : undefined;
}

export async function agentByTokenHash(db: Db, tokenHash: string): Promise<Row | undefined> {
  const r = await db.query('SELECT * FROM agents WHERE token_hash = $1', [tokenHash]);
  return r.rows[0] ? textRow(r.rows[0]) : undefined;
}

/** Push health's columns, and when a heartbeat starts it over: the address, port, mode or certificate pushes use changed. */
const PUSH_RESET = ['push_state', 'push_error', 'push_failures', 'push_failed_at'];
const PUSH_TARGET_CHANGED = `(fingerprint IS DISTINCT FROM $7 OR mode IS DISTINCT FROM $5 OR web_port IS DISTINCT FROM $6
  OR COALESCE(advertise_address, remote_address) IS DISTINCT FROM COALESCE($8, $9))`;

/**
 * The name is fixed at enrollment; everything else the agent says about itself is replaced, and
 * push health starts over when where and how pushes go changed (SET reads the row as it was).
 */
export async function updateHeartbeat(db: Db, id: string, f: AgentFacts, remoteAddress: string | null, now: string): Promise<Row | undefined> {
  const r = await db.query(
    `UPDATE agents SET hostname = $2, os = $3, version = $4, mode = $5, web_port = $6, fingerprint = $7,
      advertise_address = $8, remote_address = $9, labels = $10, last_heartbeat_at = $11,
      ${PUSH_RESET.map((c) => `${c} = CASE WHEN ${PUSH_TARGET_CHANGED} THEN ${c === 'push_failures' ? '0' : 'NULL'} ELSE ${c} END`).join(', ')}
     WHERE id = $1 RETURNING *`,
    [id, bytes(f.hostname), bytes(f.os), bytes(f.version), f.mode, f.web_port, bytes(f.fingerprint), f.advertise_address,
      remoteAddress, JSON.stringify(f.labels), now],
  );
  return r.rows[0] ? textRow(r.rows[0]) : undefined;
}

export async function listAgents(db: Db, which: 'active' | 'removed'): Promise<Row[]> {
  const sql = which === 'active'
    ? 'SELECT * FROM agents WHERE removed_at IS NULL ORDER BY name'
    : 'SELECT * FROM agents WHERE removed_at IS NOT NULL ORDER BY removed_at DESC, name';
  return (await db.query(sql)).rows.map(textRow);
}

/** See Store.agentSharingCertificate: `hex` is the canonical fingerprint without colons. */
export async function agentSharingCertificate(db: Db, id: string, hex: string): Promise<string | undefined> {
  const r = await db.query<{ name: string }>(
    `SELECT name FROM agents WHERE removed_at IS NULL AND id <> $1 AND fingerprint IS NOT NULL
       AND replace(replace(upper(btrim(convert_from(fingerprint, 'UTF8'))), 'SHA256:', ''), ':', '') = $2 LIMIT 1`, [id, hex]);
  return r.rows[0]?.name;
}

export async function setOperatorLabels(db: Db, id: string, labels: Labels): Promise<void> {
  await db.query('UPDATE agents SET operator_labels = $2 WHERE id = $1', [id, JSON.stringify(labels)]);
}

export async function pushSucceeded(db: Db, id: string): Promise<void> {
  await db.query(
    `UPDATE agents SET push_state = 'ok', push_error = NULL, push_failures = 0, push_failed_at = NULL
     WHERE id = $1 AND (push_state IS DISTINCT FROM 'ok' OR push_failures <> 0)`, [id]);
}

/** Untried again; the agent hears of it (what waited for it may go now). */
export async function pushReset(db: Db, id: string): Promise<void> {
  await db.query(
    `UPDATE agents SET push_state = NULL, push_error = NULL, push_failures = 0, push_failed_at = NULL WHERE id = $1 RETURNING ${agentEvent('id')}`,
    [id]);
}

export async function pushFailed(db: Db, id: string, error: string, at: string): Promise<void> {
  await db.query(
    `UPDATE agents SET push_state = 'failing', push_error = $2, push_failures = push_failures + 1, push_failed_at = $3 WHERE id = $1`,
    [id, bytes(error), at]);
}

/**
 * Marks the agent removed and empties its token; the row as it was before (token included), or
 * undefined when there is no such agent or it was removed already. The row stays locked until
 * the transaction ends, so a run being created for it waits (lockAgentsForRun).
 */
export async function markRemoved(db: Db, id: string, now: string): Promise<Row | undefined> {
  const r = await db.query(
    `WITH before AS MATERIALIZED (SELECT * FROM agents WHERE id = $1 AND removed_at IS NULL FOR NO KEY UPDATE)
     UPDATE agents a SET removed_at = $2, token = '' FROM before WHERE a.id = before.id RETURNING before.*, ${agentEvent('a.id')}`, [id, now]);
  return r.rows[0] ? textRow(r.rows[0]) : undefined;
}

/**
 * Share-locks the agents a new run targets until the transaction ends and says which are
 * removed: a removal (markRemoved) either commits before, and its agents' commands are created
 * cancelled, or waits until the run is there, and then ends its commands.
 */
export async function lockAgentsForRun(db: Db, ids: string[]): Promise<Map<string, TargetState>> {
  const r = await db.query<{ id: string; name: string; removed_at: string | null }>(
    'SELECT id, name, removed_at FROM agents WHERE id = ANY($1::text[]) ORDER BY id FOR SHARE', [ids]);
  return new Map(r.rows.map((a) => [a.id, { name: a.name, removed: a.removed_at !== null }]));
}

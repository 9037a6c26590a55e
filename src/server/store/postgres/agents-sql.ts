// SQL for agents: enrollment's insert, heartbeats, labels, listing and removal.

import type { AgentFacts, Labels } from '../../../protocol/wire.ts';
import type { Row } from '../rows.ts';
import type { NewAgent } from '../store.ts';
import type { Db } from './pool.ts';
import { bytes, textRow } from './rows.ts';

/** The new agent's row, or undefined when its name is taken (then nothing was written). */
export async function insertAgentUnlessNameTaken(db: Db, a: NewAgent, now: string): Promise<Row | undefined> {
  const r = await db.query(
    `INSERT INTO agents (id, name, token_hash, token, hostname, os, version, mode, web_port, fingerprint,
      advertise_address, remote_address, labels, enrolled_at, last_heartbeat_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
     ON CONFLICT (name) DO NOTHING RETURNING *`,
    [a.id, a.name, a.tokenHash, a.token, bytes(a.hostname), bytes(a.os), bytes(a.version), a.mode, a.web_port, bytes(a.fingerprint),
      a.advertise_address, a.remote_address, JSON.stringify(a.labels), now],
  );
  return r.rows[0] ? textRow(r.rows[0]) : undefined;
}

export async function agentByTokenHash(db: Db, tokenHash: string): Promise<Row | undefined> {
  const r = await db.query('SELECT * FROM agents WHERE token_hash = $1', [tokenHash]);
  return r.rows[0] ? textRow(r.rows[0]) : undefined;
}

/** The name is fixed at enrollment; everything else the agent says about itself is replaced. */
export async function updateHeartbeat(db: Db, id: string, f: AgentFacts, remoteAddress: string | null, now: string): Promise<Row | undefined> {
  const r = await db.query(
    `UPDATE agents SET hostname = $2, os = $3, version = $4, mode = $5, web_port = $6, fingerprint = $7,
      advertise_address = $8, remote_address = $9, labels = $10, last_heartbeat_at = $11 WHERE id = $1 RETURNING *`,
    [id, bytes(f.hostname), bytes(f.os), bytes(f.version), f.mode, f.web_port, bytes(f.fingerprint), f.advertise_address,
      remoteAddress, JSON.stringify(f.labels), now],
  );
  return r.rows[0] ? textRow(r.rows[0]) : undefined;
}

export async function listAgents(db: Db): Promise<Row[]> {
  return (await db.query('SELECT * FROM agents ORDER BY name')).rows.map(textRow);
}

export async function setOperatorLabels(db: Db, id: string, labels: Labels): Promise<void> {
  await db.query('UPDATE agents SET operator_labels = $2 WHERE id = $1', [id, JSON.stringify(labels)]);
}

export async function deleteAgent(db: Db, id: string): Promise<boolean> {
  return (await db.query('DELETE FROM agents WHERE id = $1', [id])).rowCount! > 0;
}

// SQL for live output chunks.

import type { OutputChunk } from '../../../protocol/wire.ts';
import type { Db } from './pool.ts';

/** Locks the command until the transaction ends: appends to one command take turns. */
export async function lockOutputOffset(db: Db, id: string): Promise<{ agent_id: string; output_offset: number } | undefined> {
  const r = await db.query<{ agent_id: string; output_offset: number }>('SELECT agent_id, output_offset FROM commands WHERE id = $1 FOR UPDATE', [id]);
  return r.rows[0];
}

export async function insertChunks(db: Db, id: string, chunks: OutputChunk[]): Promise<void> {
  if (chunks.length === 0) return;
  await db.query(
    `INSERT INTO command_output (command_id, "offset", stream, data)
     SELECT $1, o, s, d FROM unnest($2::bigint[], $3::text[], $4::bytea[]) AS t(o, s, d) ON CONFLICT DO NOTHING`,
    [id, chunks.map((c) => c.offset), chunks.map((c) => c.stream), chunks.map((c) => Buffer.from(c.data, 'utf8'))]);
}

export async function setOutputOffset(db: Db, id: string, offset: number): Promise<void> {
  await db.query('UPDATE commands SET output_offset = $2 WHERE id = $1', [id, offset]);
}

export async function readOutput(db: Db, id: string, fromOffset: number): Promise<OutputChunk[]> {
  const r = await db.query<{ offset: number; stream: OutputChunk['stream']; data: Buffer }>(
    `SELECT "offset", stream, data FROM command_output WHERE command_id = $1 AND "offset" >= $2 ORDER BY "offset"`, [id, fromOffset]);
  return r.rows.map((c) => ({ offset: c.offset, stream: c.stream, data: c.data.toString('utf8') }));
}

// SQL for command output: the command's output state (read under its row lock), its chunks by
// offset in a stream or by position as printed, and retention.

import { FINAL_STATUSES } from '../../../protocol/command-status.ts';
import type { OutputStream } from '../../../protocol/wire.ts';
import { OUTPUT_STATE_COLUMNS } from '../rows.ts';
import type { StoredChunk } from '../output-store.ts';
import type { Db } from './pool.ts';

type Row = Record<string, unknown>;

const STATE = `agent_id, status, ${OUTPUT_STATE_COLUMNS}, (SELECT at + size FROM output_chunks o WHERE o.command_id = c.id ORDER BY at DESC LIMIT 1) AS all_end`;

/** The command's output state; `lock`: locked until the transaction ends (appends to one command take turns). */
export async function outputState(db: Db, id: string, lock = false): Promise<Row | undefined> {
  const r = await db.query(`SELECT ${STATE} FROM commands c WHERE id = $1 ${lock ? 'FOR UPDATE' : ''}`, [id]);
  return r.rows[0] as Row | undefined;
}

export async function insertChunks(db: Db, id: string, rows: StoredChunk[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO output_chunks (command_id, stream, "offset", at, size, data)
     SELECT $1, s, o, a, octet_length(d), d FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bytea[]) AS t(s, o, a, d)`,
    [id, rows.map((r) => r.stream), rows.map((r) => r.offset), rows.map((r) => r.at), rows.map((r) => Buffer.from(r.data.buffer, r.data.byteOffset, r.data.length))]);
}

export async function setOutputState(db: Db, id: string, p: Record<string, number | null>): Promise<void> {
  await db.query(
    `UPDATE commands SET output_offset = $2, output_head_limit = COALESCE(output_head_limit, $3), output_tail_limit = COALESCE(output_tail_limit, $4),
       stdout_head = $5, stdout_tail_from = $6, stdout_end = $7, stdout_seen = $8, stderr_head = $9, stderr_tail_from = $10, stderr_end = $11,
       stderr_seen = $12, output_bytes = output_bytes + $13 WHERE id = $1`,
    [id, p.output_offset, p.head_limit, p.tail_limit, p.stdout_head, p.stdout_tail_from, p.stdout_end, p.stdout_seen,
      p.stderr_head, p.stderr_tail_from, p.stderr_end, p.stderr_seen, p.added]);
}

/** A view's position column and filter: a stream by "offset", or both by at. */
function view(v: OutputStream): { pos: string; filter: string; params: string[] } {
  return v === 'all' ? { pos: 'at', filter: '', params: [] } : { pos: '"offset"', filter: 'AND stream = $2', params: [v] };
}

const CHUNK = 'SELECT stream, "offset", at, data FROM output_chunks WHERE command_id = $1';

/** The last chunk of the view starting at or before `pos`. */
export async function containing(db: Db, id: string, v: OutputStream, pos: number): Promise<StoredChunk | undefined> {
  const { pos: col, filter, params } = view(v);
  const r = await db.query(`${CHUNK} ${filter} AND ${col} <= $${params.length + 2} ORDER BY ${col} DESC LIMIT 1`, [id, ...params, pos]);
  return r.rows[0] as StoredChunk | undefined;
}

/** Where the first chunk of the view at or after `pos` starts, or null. */
export async function firstFrom(db: Db, id: string, v: OutputStream, pos: number): Promise<number | null> {
  const { pos: col, filter, params } = view(v);
  const r = await db.query<{ pos: number | null }>(`SELECT MIN(${col}) AS pos FROM output_chunks WHERE command_id = $1 ${filter} AND ${col} >= $${params.length + 2}`,
    [id, ...params, pos]);
  return r.rows[0]?.pos ?? null;
}

/** The view's chunks starting in [from, to), in order. */
export async function range(db: Db, id: string, v: OutputStream, from: number, to: number): Promise<StoredChunk[]> {
  const { pos: col, filter, params } = view(v);
  const n = params.length + 2;
  const r = await db.query(`${CHUNK} ${filter} AND ${col} >= $${n} AND ${col} < $${n + 1} ORDER BY ${col}`, [id, ...params, from, to]);
  return r.rows as StoredChunk[];
}

export async function keptOutputBytes(db: Db): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT COALESCE(SUM(output_bytes), 0)::bigint AS n FROM commands WHERE output_bytes > 0');
  return Number(r.rows[0]!.n);
}

/** Finished commands that keep output, oldest first, locked; those another sweeper holds are skipped. */
export async function oldestKeptOutput(db: Db, limit: number): Promise<{ id: string; output_bytes: number; finished_at: string }[]> {
  const r = await db.query<{ id: string; output_bytes: number; finished_at: string }>(
    `SELECT id, output_bytes, finished_at FROM commands WHERE output_bytes > 0 AND finished_at IS NOT NULL
       AND status IN (${FINAL_STATUSES.map((s) => `'${s}'`).join(', ')}) ORDER BY finished_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit]);
  return r.rows;
}

/** Deletes the command's chunks and marks its output dropped; false when it was dropped already. */
export async function dropOutput(db: Db, id: string, now: string): Promise<boolean> {
  await db.query('DELETE FROM output_chunks WHERE command_id = $1', [id]);
  const r = await db.query('UPDATE commands SET output_bytes = 0, output_dropped_at = $2 WHERE id = $1 AND output_bytes > 0', [id, now]);
  return (r.rowCount ?? 0) > 0;
}

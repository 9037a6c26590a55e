// SQL for runs: creating one with its commands, counting, and rate control's promote and skip.

import type { CommandStatus } from '../../../protocol/command-status.ts';
import type { Row } from '../rows.ts';
import { updateReturning } from './commands-sql.ts';
import { COMMAND_EVENT } from './events-sql.ts';
import type { CommandRow } from '../new-run.ts';
import type { NewRun } from '../store.ts';
import type { Db } from './pool.ts';
import { bytes, textRow } from './rows.ts';

export interface StatusCount {
  status: CommandStatus;
  n: number;
  last: string | null;
}

export async function insertRun(db: Db, run: NewRun, now: string): Promise<void> {
  await db.query(
    'INSERT INTO runs (id, command, args, target, max_concurrency, max_errors, created_at, requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
    [run.id, run.command, JSON.stringify(run.args), bytes(run.target), run.max_concurrency, run.max_errors, now, run.requested_by],
  );
}

/** One statement for any number of commands (commandRows decided their status), inserted in the given order (seq follows it). Each publishes its `command` event. */
export async function insertCommands(db: Db, run: Pick<NewRun, 'id' | 'requested_by'>, commands: CommandRow[], now: string): Promise<void> {
  if (commands.length === 0) return;
  const col = <T>(f: (c: CommandRow) => T) => commands.map(f);
  await db.query(
    `INSERT INTO commands AS c (id, run_id, agent_id, command, args, timeout, env, cwd, status, created_at, expires_at, finished_at, error,
       upgrade, stdout, requested_by)
     SELECT id, $1, agent_id, command, args, timeout, env, cwd, status, $2, expires_at, finished_at, convert_to(error, 'UTF8'),
       upgrade, convert_to(stdout, 'UTF8'), $16
     FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
       $13::text[], $14::text[], $15::text[])
       WITH ORDINALITY AS t(id, agent_id, command, args, timeout, env, cwd, status, expires_at, finished_at, error, upgrade, stdout, n)
     ORDER BY n
     RETURNING ${COMMAND_EVENT}`,
    [run.id, now, col((c) => c.id), col((c) => c.agent_id), col((c) => c.command), col((c) => JSON.stringify(c.args)),
      col((c) => c.timeout), col((c) => (c.env ? JSON.stringify(c.env) : null)), col((c) => c.cwd),
      col((c) => c.status), col((c) => c.expires_at), col((c) => c.finished_at),
      col((c) => c.error), col((c) => (c.upgrade ? JSON.stringify(c.upgrade) : null)), col((c) => c.stdout ?? ''),
      run.requested_by],
  );
}

export async function runById(db: Db, id: string): Promise<Row | undefined> {
  const r = await db.query('SELECT * FROM runs WHERE id = $1', [id]);
  return r.rows[0] ? textRow(r.rows[0]) : undefined;
}

/** Newest first; with `agentIds`, only runs with commands of those agents. */
export async function listRuns(db: Db, limit: number, agentIds?: string[]): Promise<Row[]> {
  const r = agentIds
    ? await db.query(`SELECT * FROM runs WHERE id IN (SELECT run_id FROM commands WHERE agent_id = ANY($2::text[]))
        ORDER BY created_at DESC, id DESC LIMIT $1`, [limit, agentIds])
    : await db.query('SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT $1', [limit]);
  return r.rows.map(textRow);
}

/** Commands per status (and the last finish) of each run, counted in one statement; with `agentIds`, only those agents' commands. */
export async function statusCounts(db: Db, runIds: string[], agentIds?: string[]): Promise<Map<string, StatusCount[]>> {
  const r = await db.query<StatusCount & { run_id: string }>(
    `SELECT run_id, status, COUNT(*)::int AS n, MAX(finished_at) AS last FROM commands
     WHERE run_id = ANY($1::text[]) AND ($2::text[] IS NULL OR agent_id = ANY($2::text[])) GROUP BY run_id, status`, [runIds, agentIds ?? null]);
  const out = new Map<string, StatusCount[]>(runIds.map((id) => [id, []]));
  for (const { run_id, ...c } of r.rows) out.get(run_id)!.push(c);
  return out;
}

/** Whether any command of the run waits (rate control). None never becomes some: only createRun makes them. */
export async function hasWaiting(db: Db, runId: string): Promise<boolean> {
  const r = await db.query<{ w: boolean }>(`SELECT EXISTS (SELECT 1 FROM commands WHERE run_id = $1 AND status = 'waiting') AS w`, [runId]);
  return r.rows[0]!.w;
}

/** Locks the run until the transaction ends: rate control of one run takes turns. */
export async function lockRun(db: Db, id: string): Promise<{ max_concurrency: number | null; max_errors: number | null } | undefined> {
  const r = await db.query<{ max_concurrency: number | null; max_errors: number | null }>(
    'SELECT max_concurrency, max_errors FROM runs WHERE id = $1 FOR NO KEY UPDATE', [id]);
  return r.rows[0];
}

/** waiting -> queued for up to `limit` of the run's commands, oldest first; exactly the rows it changed. */
export async function promoteWaiting(db: Db, runId: string, limit: number | null): Promise<Row[]> {
  return changeWaiting(db, runId, limit, `status = 'queued'`, []);
}

/** waiting -> skipped for all the run's waiting commands; exactly the rows it changed. */
export async function skipWaiting(db: Db, runId: string, now: string, why: string): Promise<Row[]> {
  return changeWaiting(db, runId, null, `status = 'skipped', finished_at = $3, error = $4`, [now, bytes(why)]);
}

/** The caller holds the run's lock (lockRun), so no other rate control of this run runs meanwhile. */
function changeWaiting(db: Db, runId: string, limit: number | null, set: string, extra: unknown[]): Promise<Row[]> {
  return updateReturning(db, set, `c.status = 'waiting'`, [runId, limit, ...extra],
    `SELECT id FROM commands WHERE run_id = $1 AND status = 'waiting' ORDER BY seq LIMIT $2 FOR UPDATE`);
}

export async function runsWithWaiting(db: Db): Promise<string[]> {
  return (await db.query<{ run_id: string }>(`SELECT DISTINCT run_id FROM commands WHERE status = 'waiting'`)).rows.map((r) => r.run_id);
}

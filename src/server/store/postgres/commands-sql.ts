// SQL for the command lifecycle: claims (push and poll), starts, results, cancels, the sweeps of
// leases and delivery TTLs, and reads. Claims take rows with FOR UPDATE SKIP LOCKED and return
// exactly the rows they changed, so two replicas never hand out the same command.

import { COMMAND_STATUSES, canTransition, type CommandStatus } from '../../../protocol/command-status.ts';
import type { CommandResult } from '../../../protocol/wire.ts';
import { COMMAND_COLUMNS, type Row } from '../rows.ts';
import { REMOVAL_REASONS, type CommandFilter, type CommandState } from '../store.ts';
import { agentEvent, CANCEL_EVENT, COMMAND_EVENT, commandEvent } from './events-sql.ts';
import type { Db } from './pool.ts';
import { bytes, textRow } from './rows.ts';

const SELECT_COMMAND = `SELECT ${COMMAND_COLUMNS} FROM commands c JOIN agents a ON a.id = c.agent_id`;
/**
 * Nothing is handed to an agent while one of its upgrades is handed out or running (as in SQLite):
 * it would refuse it (AGENT_UPGRADING). Two replicas racing a claim against an upgrade's claim may
 * both succeed; the agent then refuses the other command and it goes back to the queue, never lost.
 */
const NOT_UPGRADING = `NOT EXISTS (SELECT 1 FROM commands u WHERE u.agent_id = commands.agent_id AND u.upgrade IS NOT NULL
  AND u.status IN ('dispatched', 'running') AND u.id <> commands.id)`;

/**
 * An UPDATE of `commands c` that returns the changed commands as SELECT_COMMAND would, oldest
 * first, and publishes an event for each (`command`, or `cancel`). `pick` (a SELECT of ids,
 * usually FOR UPDATE [SKIP LOCKED]) runs once, as a materialized CTE, so its LIMIT and locks hold
 * however the planner joins it.
 */
export async function updateReturning(db: Db, set: string, where: string, params: unknown[], pick?: string, event: 'command' | 'cancel' = 'command'): Promise<Row[]> {
  const r = await db.query(
    `${pick ? `WITH picked AS MATERIALIZED (${pick}) ` : ''}UPDATE commands c SET ${set} FROM agents a${pick ? ', picked p' : ''}
     WHERE a.id = c.agent_id${pick ? ' AND c.id = p.id' : ''} AND ${where}
     RETURNING ${COMMAND_COLUMNS}, c.seq, ${event === 'command' ? COMMAND_EVENT : CANCEL_EVENT}`, params);
  return r.rows.sort(oldestFirst).map(textRow);
}

/** Claims hand commands out oldest first, ties in the order they were created. */
function oldestFirst(x: Row, y: Row): number {
  const [a, b] = [x.created_at as string, y.created_at as string];
  return a < b ? -1 : a > b ? 1 : (x.seq as number) - (y.seq as number);
}

export async function claimForPush(db: Db, id: string, now: string, leaseUntil: string, claim: string): Promise<boolean> {
  const r = await db.query(
    `UPDATE commands SET status = 'dispatched', delivery = 'push', dispatched_at = $2, lease_expires_at = $3, claim = $4
     WHERE id = $1 AND status = 'queued' AND ${NOT_UPGRADING} RETURNING ${commandEvent('commands')}`, [id, now, leaseUntil, claim]);
  return r.rowCount! > 0;
}

/** Only the claim named `claim`: after a lease ran out and another claim took the command, this changes nothing. */
export async function releasePush(db: Db, id: string, claim: string, error: string): Promise<void> {
  await db.query(
    `UPDATE commands c SET status = 'queued', delivery = NULL, dispatched_at = NULL, lease_expires_at = NULL, last_push_error = $3
     WHERE id = $1 AND status = 'dispatched' AND delivery = 'push' AND claim = $2 RETURNING ${COMMAND_EVENT}`, [id, claim, bytes(error)]);
}

/** The agent's heartbeat may take the command now: its agent hears of it. */
export async function recordPushFailure(db: Db, id: string, error: string): Promise<void> {
  await db.query(`UPDATE commands c SET last_push_error = $2 WHERE id = $1 RETURNING ${agentEvent('c.agent_id')}`, [id, bytes(error)]);
}

/** See Store.commandsAwaitingPush. */
export async function commandsAwaitingPush(db: Db, createdBefore: string, now: string, limit: number): Promise<Row[]> {
  const r = await db.query(
    `${SELECT_COMMAND} WHERE c.status = 'queued' AND c.created_at < $1 AND c.last_push_error IS NULL
       AND (c.expires_at IS NULL OR c.expires_at > $2) AND a.mode = 'web' AND a.removed_at IS NULL
     ORDER BY c.created_at, c.seq LIMIT $3`, [createdBefore, now, limit]);
  return r.rows.map(textRow);
}

/** Claims the agent's oldest queued, unexpired commands; rows another transaction holds are skipped, not waited for. */
export async function claimForAgent(db: Db, agentId: string, now: string, leaseUntil: string, limit: number, queuedBefore: string | null, claim: string): Promise<Row[]> {
  return updateReturning(db,
    `status = 'dispatched', delivery = 'poll', dispatched_at = $2, lease_expires_at = $3, claim = $6`,
    `c.status = 'queued'`,
    [agentId, now, leaseUntil, limit, queuedBefore, claim],
    `SELECT id FROM commands WHERE agent_id = $1 AND status = 'queued' AND (expires_at IS NULL OR expires_at > $2)
       AND ($5::text IS NULL OR last_push_error IS NOT NULL OR created_at < $5) AND ${NOT_UPGRADING}
     ORDER BY created_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED`);
}

/** queued or dispatched -> running; undefined when the command is not that, or not this agent's. */
export async function markStarted(db: Db, id: string, agentId: string, startedAt: string): Promise<Row | undefined> {
  const [row] = await updateReturning(db,
    `status = 'running', started_at = COALESCE(c.started_at, $3), lease_expires_at = NULL`,
    `c.id = $1 AND c.agent_id = $2 AND c.status IN ('queued', 'dispatched')`, [id, agentId, startedAt]);
  return row;
}

/** Records the result when the command may still move to its status; undefined otherwise. */
export async function recordResult(db: Db, id: string, agentId: string, r: CommandResult, now: string): Promise<Row | undefined> {
  const from = COMMAND_STATUSES.filter((s) => canTransition(s, r.status));
  const [row] = await updateReturning(db,
    `status = $4, exit_code = $5, signal = $6, stdout = $7, stderr = $8, stdout_bytes = $9, stderr_bytes = $10,
     stdout_truncated = $11, stderr_truncated = $12, error = $13, started_at = COALESCE(c.started_at, $14),
     finished_at = $15, lease_expires_at = NULL`,
    `c.id = $1 AND c.agent_id = $2 AND c.status = ANY($3::text[])`,
    [id, agentId, from, r.status, r.exit_code, bytes(r.signal), bytes(r.stdout), bytes(r.stderr), r.stdout_bytes, r.stderr_bytes,
      r.stdout_truncated, r.stderr_truncated, bytes(r.error), r.started_at, r.finished_at || now]);
  return row;
}

/**
 * Ends every unfinished command of the agent `cancelled` with the removal's reason; returns each
 * with the status it had. Rows are locked first, so a claim or result committed meanwhile is
 * seen: a command that became final is left alone, one that was just handed out says so.
 */
export async function cancelForRemoval(db: Db, agentId: string, now: string): Promise<{ id: string; was: CommandStatus }[]> {
  const r = await db.query<{ id: string; was: CommandStatus; seq: number }>(
    `WITH open AS MATERIALIZED (
       SELECT id, status FROM commands WHERE agent_id = $1 AND status IN ('waiting', 'queued', 'dispatched', 'running') ORDER BY seq FOR UPDATE)
     UPDATE commands c SET status = 'cancelled', cancel_requested_at = COALESCE(c.cancel_requested_at, $2), finished_at = $2,
       lease_expires_at = NULL,
       error = convert_to(CASE WHEN open.status IN ('dispatched', 'running') THEN $3 ELSE $4 END, 'UTF8')
     FROM open WHERE c.id = open.id RETURNING c.id, open.status AS was, c.seq, ${COMMAND_EVENT}`,
    [agentId, now, REMOVAL_REASONS.handedOut, REMOVAL_REASONS.notStarted]);
  return r.rows.sort((a, b) => a.seq - b.seq).map(({ id, was }) => ({ id, was }));
}

/** The commands of a hand-out (its claim) that never reached the agent: dispatched (by poll, not started) -> queued. */
export async function releaseHandOut(db: Db, agentId: string, claim: string): Promise<number> {
  const r = await db.query(
    `UPDATE commands c SET status = 'queued', delivery = NULL, dispatched_at = NULL, lease_expires_at = NULL
     WHERE agent_id = $1 AND claim = $2 AND status = 'dispatched' AND delivery = 'poll' RETURNING ${COMMAND_EVENT}`, [agentId, claim]);
  return r.rowCount!;
}

export async function commandOwner(db: Db, id: string): Promise<string | undefined> {
  return (await db.query<{ agent_id: string }>('SELECT agent_id FROM commands WHERE id = $1', [id])).rows[0]?.agent_id;
}

/** Locks the command until the transaction ends (cancel against claims and results). */
export async function lockCommand(db: Db, id: string): Promise<{ status: CommandStatus; agent_id: string } | undefined> {
  const r = await db.query<{ status: CommandStatus; agent_id: string }>('SELECT status, agent_id FROM commands WHERE id = $1 FOR UPDATE', [id]);
  return r.rows[0];
}

export async function cancelQueued(db: Db, id: string, now: string): Promise<Row | undefined> {
  const [row] = await updateReturning(db, `status = 'cancelled', cancel_requested_at = $2, finished_at = $2, error = $3`,
    `c.id = $1 AND c.status IN ('queued', 'waiting')`, [id, now, bytes('cancelled before it was delivered')]);
  return row;
}

export async function requestCancel(db: Db, id: string, now: string): Promise<Row | undefined> {
  const [row] = await updateReturning(db, `cancel_requested_at = COALESCE(c.cancel_requested_at, $2)`,
    `c.id = $1 AND c.status IN ('dispatched', 'running')`, [id, now], undefined, 'cancel');
  return row;
}

export async function pendingCancels(db: Db, agentId: string): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `SELECT id FROM commands WHERE agent_id = $1 AND cancel_requested_at IS NOT NULL AND status IN ('dispatched', 'running') ORDER BY seq`,
    [agentId]);
  return r.rows.map((x) => x.id);
}

/** dispatched -> queued where the lease ran out; a row another sweeper holds is left to it. */
export async function requeueExpiredLeases(db: Db, now: string): Promise<Row[]> {
  return updateReturning(db, `status = 'queued', delivery = NULL, dispatched_at = NULL, lease_expires_at = NULL`,
    `c.status = 'dispatched'`, [now],
    `SELECT id FROM commands WHERE status = 'dispatched' AND lease_expires_at < $1 FOR UPDATE SKIP LOCKED`);
}

/** queued -> expired where the delivery TTL passed; a row another sweeper holds is left to it. */
export async function expireQueued(db: Db, now: string): Promise<Row[]> {
  return updateReturning(db, `status = 'expired', finished_at = $1, error = $2`,
    `c.status = 'queued'`, [now, bytes('not delivered before its delivery TTL passed')],
    `SELECT id FROM commands WHERE status = 'queued' AND expires_at <= $1 FOR UPDATE SKIP LOCKED`);
}

export async function commandById(db: Db, id: string): Promise<Row | undefined> {
  const r = await db.query(`${SELECT_COMMAND} WHERE c.id = $1`, [id]);
  return r.rows[0] ? textRow(r.rows[0]) : undefined;
}

export async function commandsByIds(db: Db, ids: string[]): Promise<Row[]> {
  return (await db.query(`${SELECT_COMMAND} WHERE c.id = ANY($1::text[])`, [ids])).rows.map(textRow);
}

export async function commandsOfRun(db: Db, runId: string): Promise<Row[]> {
  return (await db.query(`${SELECT_COMMAND} WHERE c.run_id = $1 ORDER BY a.name`, [runId])).rows.map(textRow);
}

export async function commandStatesOfRun(db: Db, runId: string): Promise<CommandState[]> {
  return (await db.query<CommandState>('SELECT id, agent_id, status FROM commands WHERE run_id = $1 ORDER BY seq', [runId])).rows;
}

export async function listCommands(db: Db, f: CommandFilter): Promise<Row[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.agentId) where.push(`c.agent_id = $${params.push(f.agentId)}`);
  if (f.agentIds) where.push(`c.agent_id = ANY($${params.push(f.agentIds)}::text[])`);
  if (f.status) where.push(`c.status = $${params.push(f.status)}`);
  const sql = `${SELECT_COMMAND} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
    ORDER BY c.created_at DESC, c.id DESC LIMIT $${params.push(f.limit ?? 50)}`;
  return (await db.query(sql, params)).rows.map(textRow);
}

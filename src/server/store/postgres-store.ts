// The scale-out store: PostgreSQL, shared by any number of control-plane replicas. SQL lives in
// postgres/*-sql.ts; this class keeps the Store contract (store.ts): what runs in one statement,
// what in a transaction, and which row lock makes concurrent callers take turns.

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ERROR_STATUSES, isFinal } from '../../protocol/command-status.ts';
import type { AgentFacts, CommandRecord, CommandResult, Labels, OutputChunk, RunRecord } from '../../protocol/wire.ts';
import type { ReplicaRow } from './cluster-store.ts';
import { planAppend } from './output-plan.ts';
import { toAgent, toCommand, toRun, type Row } from './rows.ts';
import { EventHub, type StoreEventListener } from './store-events.ts';
import type {
  AgentRow, AppendOutcome, CancelOutcome, CommandFilter, CommandOutcome, CreateTokenOutcome, EnrollmentTokenRow, EnrollOutcome, HandOut, NewAgent,
  NewCommand, NewEnrollmentToken, NewRun, NewSession, PushOutcome, RemoveOutcome, ResultOutcome, RevokeTokenOutcome, SessionRow, Store,
  StoreCapabilities,
} from './store.ts';
import * as agents from './postgres/agents-sql.ts';
import { PostgresCluster } from './postgres/cluster.ts';
import * as commands from './postgres/commands-sql.ts';
import { publishOutput } from './postgres/events-sql.ts';
import { migratePostgres } from './postgres/migrate.ts';
import * as output from './postgres/output-sql.ts';
import { createPool, inTransaction, type PoolOptions } from './postgres/pool.ts';
import * as runs from './postgres/runs-sql.ts';
import { PostgresSession, type SessionOptions } from './postgres/session.ts';
import { PostgresTokens } from './postgres/tokens.ts';

export type PostgresStoreOptions = PoolOptions & SessionOptions & {
  /** Told when an event listener throws (the others still hear the event). */
  onListenerError?: (err: unknown) => void;
};

export const POSTGRES_CAPABILITIES: StoreCapabilities = { singleWriter: false, supportsSkipLocked: true, supportsListenNotify: true, supportsReplicas: true };

export class PostgresStore implements Store {
  readonly capabilities = POSTGRES_CAPABILITIES;
  readonly #pool: pg.Pool;
  readonly #events: EventHub;
  readonly #session: PostgresSession;
  readonly #cluster: PostgresCluster;
  readonly #tokens: PostgresTokens;

  private constructor(pool: pg.Pool, events: EventHub, session: PostgresSession) {
    this.#pool = pool;
    this.#events = events;
    this.#session = session;
    this.#cluster = new PostgresCluster(pool, session);
    this.#tokens = new PostgresTokens(pool);
  }

  /**
   * Connects, brings the schema up to date (safe when several replicas start at once) and starts
   * listening for the events of every replica on the database.
   */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = createPool(url, opts);
    const events = new EventHub(opts.onListenerError);
    try {
      await migratePostgres(pool);
      return new PostgresStore(pool, events, await PostgresSession.open(url, events, opts));
    } catch (err) {
      await pool.end();
      throw err;
    }
  }

  #closing: Promise<void> | undefined;

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#session.close();
      await this.#pool.end();
    })();
    return this.#closing;
  }

  subscribe(listener: StoreEventListener): () => void {
    return this.#events.subscribe(listener);
  }

  addOperatorToken(tokenHash: string, name: string, now: string): Promise<void> { return this.#tokens.addOperatorToken(tokenHash, name, now); }
  operatorTokenExists(tokenHash: string): Promise<boolean> { return this.#tokens.operatorTokenExists(tokenHash); }
  createSession(session: NewSession, now: string): Promise<void> { return this.#tokens.createSession(session, now); }
  useSession(idHash: string, now: string, seenAfter: string): Promise<SessionRow | undefined> { return this.#tokens.useSession(idHash, now, seenAfter); }
  endSession(idHash: string): Promise<boolean> { return this.#tokens.endSession(idHash); }
  deleteStaleSessions(now: string, seenBefore: string): Promise<number> { return this.#tokens.deleteStaleSessions(now, seenBefore); }
  createEnrollmentToken(token: NewEnrollmentToken, now: string, maxOutstanding: number): Promise<CreateTokenOutcome> {
    return this.#tokens.createEnrollmentToken(token, now, maxOutstanding);
  }
  listEnrollmentTokens(limit: number): Promise<EnrollmentTokenRow[]> { return this.#tokens.listEnrollmentTokens(limit); }
  revokeEnrollmentToken(id: string, now: string): Promise<RevokeTokenOutcome> { return this.#tokens.revokeEnrollmentToken(id, now); }
  enrollAgent(tokenHash: string, agent: NewAgent, now: string): Promise<EnrollOutcome> { return this.#tokens.enrollAgent(tokenHash, agent, now); }

  async agentByTokenHash(tokenHash: string): Promise<AgentRow | undefined> {
    const row = await agents.agentByTokenHash(this.#pool, tokenHash);
    return row ? toAgent(row) : undefined;
  }

  async recordHeartbeat(agentId: string, facts: AgentFacts, remoteAddress: string | null, now: string): Promise<AgentRow> {
    const row = await agents.updateHeartbeat(this.#pool, agentId, facts, remoteAddress, now);
    if (!row) throw new Error(`no agent ${agentId}`);
    return toAgent(row);
  }

  async listAgents(which: 'active' | 'removed' = 'active'): Promise<AgentRow[]> {
    return (await agents.listAgents(this.#pool, which)).map(toAgent);
  }

  async setOperatorLabels(agentId: string, labels: Labels): Promise<void> {
    await agents.setOperatorLabels(this.#pool, agentId, labels);
  }

  async removeAgent(agentId: string, now: string): Promise<RemoveOutcome> {
    // The agent's row lock orders the removal against runs being created for it (createRun), and
    // the commands' row locks against claims and results: every unfinished command ends.
    const done = await inTransaction(this.#pool, async (db) => {
      const before = await agents.markRemoved(db, agentId, now);
      if (!before) return undefined;
      const ended = await commands.cancelForRemoval(db, agentId, now);
      return { agent: { ...toAgent(before), removed_at: now }, ended };
    });
    if (!done) return { kind: 'not_found' };
    return {
      kind: 'removed', agent: done.agent, ended: await this.getCommands(done.ended.map((c) => c.id)),
      handedOut: done.ended.filter((c) => c.was === 'dispatched' || c.was === 'running').map((c) => c.id),
    };
  }

  async createRun(run: NewRun, list: NewCommand[], now: string): Promise<{ run: RunRecord; commands: CommandRecord[] }> {
    await inTransaction(this.#pool, async (db) => {
      const removed = await agents.lockAgentsForRun(db, [...new Set(list.map((c) => c.agent_id))]);
      await runs.insertRun(db, run, now);
      await runs.insertCommands(db, run.id, list, now, removed);
    });
    return { run: (await this.getRun(run.id))!, commands: await this.commandsOfRun(run.id) };
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const row = await runs.runById(this.#pool, runId);
    if (!row) return undefined;
    return toRun(row, (await runs.statusCounts(this.#pool, [runId])).get(runId)!);
  }

  async listRuns(limit: number): Promise<RunRecord[]> {
    const rows = await runs.listRuns(this.#pool, limit);
    const counts = await runs.statusCounts(this.#pool, rows.map((r) => r.id as string));
    return rows.map((r) => toRun(r, counts.get(r.id as string)!));
  }

  async commandsOfRun(runId: string): Promise<CommandRecord[]> {
    return (await commands.commandsOfRun(this.#pool, runId)).map(toCommand);
  }

  async advanceRun(runId: string, now: string): Promise<{ queued: CommandRecord[]; skipped: CommandRecord[] }> {
    // Nothing waits (no rate control, or all started): one index probe, no lock. Every result of a
    // fan-out comes here, and the run's lock would make them take turns, each holding a connection.
    if (!(await runs.hasWaiting(this.#pool, runId))) return { queued: [], skipped: [] };
    // The run's row lock serializes rate control per run. Only this method queues a waiting
    // command, so under the lock the in-flight count can only fall: max_concurrency holds.
    return inTransaction(this.#pool, async (db) => {
      const run = await runs.lockRun(db, runId);
      if (!run) return { queued: [], skipped: [] };
      const counts = new Map((await runs.statusCounts(db, [runId])).get(runId)!.map((c) => [c.status, c.n]));
      if (!counts.get('waiting')) return { queued: [], skipped: [] };
      const errors = ERROR_STATUSES.reduce((sum, st) => sum + (counts.get(st) ?? 0), 0);
      if (run.max_errors !== null && errors >= run.max_errors) {
        const why = `not started: ${errors} of this run's commands failed (--max-errors ${run.max_errors})`;
        return { queued: [], skipped: (await runs.skipWaiting(db, runId, now, why)).map(toCommand) };
      }
      const inFlight = (counts.get('queued') ?? 0) + (counts.get('dispatched') ?? 0) + (counts.get('running') ?? 0);
      const room = run.max_concurrency === null ? null : Math.max(0, run.max_concurrency - inFlight);
      if (room === 0) return { queued: [], skipped: [] };
      return { queued: (await runs.promoteWaiting(db, runId, room)).map(toCommand), skipped: [] };
    });
  }

  async runsWithWaiting(): Promise<string[]> {
    return runs.runsWithWaiting(this.#pool);
  }

  async claimForPush(commandId: string, now: string, leaseUntil: string): Promise<string | null> {
    const claim = randomUUID();
    return (await commands.claimForPush(this.#pool, commandId, now, leaseUntil, claim)) ? claim : null;
  }

  async releasePush(commandId: string, claim: string, error: string): Promise<void> {
    await commands.releasePush(this.#pool, commandId, claim, error);
  }

  async recordPushFailure(commandId: string, error: string): Promise<void> {
    await commands.recordPushFailure(this.#pool, commandId, error);
  }

  async recordPushHealth(agentId: string, outcome: PushOutcome): Promise<void> {
    if (outcome.kind === 'ok') await agents.pushSucceeded(this.#pool, agentId);
    else if (outcome.kind === 'failed') await agents.pushFailed(this.#pool, agentId, outcome.error, outcome.at);
    else await agents.pushReset(this.#pool, agentId);
  }

  async commandsAwaitingPush(createdBefore: string, now: string, limit: number): Promise<CommandRecord[]> {
    return (await commands.commandsAwaitingPush(this.#pool, createdBefore, now, limit)).map(toCommand);
  }

  async claimForAgent(agentId: string, now: string, leaseUntil: string, limit: number, fallbackOnly?: { queuedBefore: string }): Promise<HandOut> {
    const claim = randomUUID();
    const rows = await commands.claimForAgent(this.#pool, agentId, now, leaseUntil, limit, fallbackOnly?.queuedBefore ?? null, claim);
    return { claim, commands: rows.map(toCommand) };
  }

  async releaseHandOut(agentId: string, claim: string): Promise<number> {
    return commands.releaseHandOut(this.#pool, agentId, claim);
  }

  async commandOwner(commandId: string): Promise<string | undefined> {
    return commands.commandOwner(this.#pool, commandId);
  }

  async markStarted(commandId: string, agentId: string, startedAt: string): Promise<CommandOutcome> {
    const row = await commands.markStarted(this.#pool, commandId, agentId, startedAt);
    return row ? { kind: 'ok', command: toCommand(row) } : this.#owned(commandId, agentId);
  }

  async appendOutput(commandId: string, agentId: string, chunks: OutputChunk[], maxChars: number): Promise<AppendOutcome> {
    // The command's row lock serializes appends to it: each chunk is accepted once.
    return inTransaction(this.#pool, async (db): Promise<AppendOutcome> => {
      const cur = await output.lockOutputOffset(db, commandId);
      if (!cur) return { kind: 'not_found' };
      if (cur.agent_id !== agentId) return { kind: 'not_yours' };
      const { next, accepted } = planAppend(cur.output_offset, chunks, maxChars);
      await output.insertChunks(db, commandId, accepted);
      if (next !== cur.output_offset) await output.setOutputOffset(db, commandId, next);
      const last = accepted[accepted.length - 1];
      if (last) await publishOutput(db, commandId, accepted[0]!.offset, last.offset + last.data.length);
      return { kind: 'ok', nextOffset: next, accepted };
    });
  }

  async readOutput(commandId: string, fromOffset: number): Promise<OutputChunk[]> {
    return output.readOutput(this.#pool, commandId, fromOffset);
  }

  async recordResult(commandId: string, agentId: string, result: CommandResult, now: string): Promise<ResultOutcome> {
    // One UPDATE that only matches while the command may still take this result: of concurrent
    // results exactly one matches, and the others read what it recorded.
    const row = await commands.recordResult(this.#pool, commandId, agentId, result, now);
    if (row) return { kind: 'recorded', command: toCommand(row) };
    const owned = await this.#owned(commandId, agentId);
    return owned.kind === 'ok' ? { kind: 'duplicate', command: owned.command } : owned;
  }

  async requestCancel(commandId: string, now: string): Promise<CancelOutcome> {
    // The command's row lock: a claim or result in between cannot slip past the status check.
    return inTransaction(this.#pool, async (db): Promise<CancelOutcome> => {
      const cur = await commands.lockCommand(db, commandId);
      if (!cur) return { kind: 'not_found' };
      if (isFinal(cur.status)) return { kind: 'final', command: toCommand((await commands.commandById(db, commandId))!) };
      const cancelled = await commands.cancelQueued(db, commandId, now);
      if (cancelled) return { kind: 'cancelled', command: toCommand(cancelled) };
      const requested = await commands.requestCancel(db, commandId, now);
      return { kind: 'requested', command: toCommand(requested ?? (await commands.commandById(db, commandId))!) };
    });
  }

  async pendingCancels(agentId: string): Promise<string[]> {
    return commands.pendingCancels(this.#pool, agentId);
  }

  async requeueExpiredLeases(now: string): Promise<CommandRecord[]> {
    return (await commands.requeueExpiredLeases(this.#pool, now)).map(toCommand);
  }

  async expireQueued(now: string): Promise<CommandRecord[]> {
    return (await commands.expireQueued(this.#pool, now)).map(toCommand);
  }

  async listCommands(filter: CommandFilter): Promise<CommandRecord[]> {
    return (await commands.listCommands(this.#pool, filter)).map(toCommand);
  }

  async getCommands(ids: string[]): Promise<CommandRecord[]> {
    if (ids.length === 0) return [];
    const byId = new Map((await commands.commandsByIds(this.#pool, ids)).map((r) => [r.id as string, toCommand(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  recordReplica(r: ReplicaRow): Promise<void> { return this.#cluster.recordReplica(r); }
  listReplicas(seenSince: string): Promise<ReplicaRow[]> { return this.#cluster.listReplicas(seenSince); }
  removeReplica(id: string): Promise<void> { return this.#cluster.removeReplica(id); }
  forgetReplicas(seenBefore: string): Promise<number> { return this.#cluster.forgetReplicas(seenBefore); }
  clusterFingerprint(): Promise<string | null> { return this.#cluster.clusterFingerprint(); }
  recordClusterFingerprint(fingerprint: string, now: string, replace?: boolean): Promise<string> { return this.#cluster.recordClusterFingerprint(fingerprint, now, replace); }
  holdSweeperLock(): Promise<boolean> { return this.#cluster.holdSweeperLock(); }

  /** The command as it is now, when it exists and belongs to `agentId`. */
  async #owned(commandId: string, agentId: string): Promise<CommandOutcome> {
    const row: Row | undefined = await commands.commandById(this.#pool, commandId);
    if (!row) return { kind: 'not_found' };
    if (row.agent_id !== agentId) return { kind: 'not_yours' };
    return { kind: 'ok', command: toCommand(row) };
  }
}

// The scale-out store: PostgreSQL, shared by any number of control-plane replicas. SQL lives in
// postgres/*-sql.ts; this class keeps the Store contract (store.ts): what runs in one statement,
// what in a transaction, and which row lock makes concurrent callers take turns.

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { AuditDraft } from '../../protocol/audit.ts';
import { ERROR_STATUSES, isFinal } from '../../protocol/command-status.ts';
import type { AgentFacts, AuditEntry, CommandRecord, CommandResult, Labels, OutputKeep, OutputStream, RunRecord } from '../../protocol/wire.ts';
import type { ReplicaRow } from './cluster-store.ts';
import type {
  AddOperatorOutcome, AuditFilter, BootstrapOutcome, NewOperator, OperatorRow, RemoveOperatorOutcome, RotateOperatorOutcome,
} from './operator-store.ts';
import { toAgent, toCommand, toRun, type Row } from './rows.ts';
import { commandRows, createdRun } from './new-run.ts';
import { EventHub, type StoreEventListener } from './store-events.ts';
import type {
  AgentRow, CancelOutcome, CommandFilter, CommandState, CommandOutcome, CreateTokenOutcome, EnrollmentTokenRow, EnrollOutcome, HandOut, NewAgent, NewCommand,
  NewEnrollmentToken, NewRun, NewSession, PushOutcome, RemoveOutcome, ResultOutcome, RevokeTokenOutcome, SessionRow, Store, StoreCapabilities,
} from './store.ts';
import type { AppendOutcome, DroppedOutput, OutputAppend, OutputState, RetentionPolicy, StoredChunk } from './output-store.ts';
import * as agents from './postgres/agents-sql.ts';
import { withOutcome } from './audit-chain.ts';
import { appendAudit } from './postgres/audit-sql.ts';
import { PostgresCluster } from './postgres/cluster.ts';
import * as commands from './postgres/commands-sql.ts';
import { fleetCounts } from './postgres/counts-sql.ts';
import type { FleetCounts } from './fleet-counts.ts';
import { migratePostgres } from './postgres/migrate.ts';
import { PostgresOperators } from './postgres/operators.ts';
import { PostgresOutput } from './postgres/output.ts';
import { createPool, inTransaction, type PoolOptions } from './postgres/pool.ts';
import * as runs from './postgres/runs-sql.ts';
import { PostgresSession, type SessionOptions } from './postgres/session.ts';
import { PostgresTokens } from './postgres/tokens.ts';
import { PostgresWebhooks } from './postgres/webhooks.ts';
import type { AttemptOutcome, ClaimedDelivery, DeliveryRow, NewWebhook, WebhookRow } from './webhook-store.ts';

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
  readonly #output: PostgresOutput;
  readonly #operators: PostgresOperators;
  readonly #webhooks: PostgresWebhooks;

  private constructor(pool: pg.Pool, events: EventHub, session: PostgresSession) {
    this.#pool = pool;
    this.#events = events;
    this.#session = session;
    this.#cluster = new PostgresCluster(pool, session);
    this.#tokens = new PostgresTokens(pool);
    this.#output = new PostgresOutput(pool);
    this.#operators = new PostgresOperators(pool);
    this.#webhooks = new PostgresWebhooks(pool);
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

  createSession(session: NewSession, now: string, audit?: AuditDraft): Promise<void> { return this.#tokens.createSession(session, now, audit); }
  useSession(idHash: string, now: string, seenAfter: string): Promise<SessionRow | undefined> { return this.#tokens.useSession(idHash, now, seenAfter); }
  endSession(idHash: string, audit?: AuditDraft): Promise<boolean> { return this.#tokens.endSession(idHash, audit); }
  deleteStaleSessions(now: string, seenBefore: string): Promise<number> { return this.#tokens.deleteStaleSessions(now, seenBefore); }
  createEnrollmentToken(token: NewEnrollmentToken, now: string, maxOutstanding: number, audit?: AuditDraft): Promise<CreateTokenOutcome> {
    return this.#tokens.createEnrollmentToken(token, now, maxOutstanding, audit);
  }
  listEnrollmentTokens(limit: number): Promise<EnrollmentTokenRow[]> { return this.#tokens.listEnrollmentTokens(limit); }
  revokeEnrollmentToken(id: string, now: string, audit?: AuditDraft): Promise<RevokeTokenOutcome> { return this.#tokens.revokeEnrollmentToken(id, now, audit); }
  enrollAgent(tokenHash: string, agent: NewAgent, now: string, audit?: AuditDraft): Promise<EnrollOutcome> { return this.#tokens.enrollAgent(tokenHash, agent, now, audit); }

  addOperator(op: NewOperator, tokenHash: string, now: string, audit?: AuditDraft): Promise<AddOperatorOutcome> { return this.#operators.addOperator(op, tokenHash, now, audit); }
  listOperators(): Promise<OperatorRow[]> { return this.#operators.listOperators(); }
  operatorByTokenHash(tokenHash: string, now: string): Promise<OperatorRow | undefined> { return this.#operators.operatorByTokenHash(tokenHash, now); }
  removeOperator(name: string, audit?: AuditDraft): Promise<RemoveOperatorOutcome> { return this.#operators.removeOperator(name, audit); }
  rotateOperator(name: string, tokenHash: string, now: string, audit?: AuditDraft): Promise<RotateOperatorOutcome> { return this.#operators.rotateOperator(name, tokenHash, now, audit); }
  bootstrapAdmin(id: string, tokenHash: string, now: string, addToFirstAdmin: boolean): Promise<BootstrapOutcome> {
    return this.#operators.bootstrapAdmin(id, tokenHash, now, addToFirstAdmin);
  }
  appendAudit(draft: AuditDraft): Promise<AuditEntry> { return this.#operators.appendAudit(draft); }
  listAudit(filter: AuditFilter): Promise<AuditEntry[]> { return this.#operators.listAudit(filter); }
  auditHead(): Promise<{ seq: number; hash: string } | null> { return this.#operators.auditHead(); }

  addWebhook(w: NewWebhook, now: string, max: number, audit?: AuditDraft): Promise<{ ok: true; webhook: WebhookRow } | { ok: false; reason: 'too_many' }> {
    return this.#webhooks.addWebhook(w, now, max, audit);
  }
  listWebhooks(): Promise<WebhookRow[]> { return this.#webhooks.listWebhooks(); }
  getWebhook(id: string): Promise<WebhookRow | undefined> { return this.#webhooks.getWebhook(id); }
  removeWebhook(id: string, audit?: AuditDraft): Promise<{ undelivered: number } | undefined> { return this.#webhooks.removeWebhook(id, audit); }
  listDeliveries(webhookId: string, limit: number): Promise<DeliveryRow[]> { return this.#webhooks.listDeliveries(webhookId, limit); }
  claimDeliveries(now: string, claimedUntil: string, limit: number): Promise<ClaimedDelivery[]> { return this.#webhooks.claimDeliveries(now, claimedUntil, limit); }
  recordAttempt(deliveryId: string, claim: string, outcome: AttemptOutcome): Promise<boolean> { return this.#webhooks.recordAttempt(deliveryId, claim, outcome); }
  pruneDeliveries(createdBefore: string, limit: number): Promise<number> { return this.#webhooks.pruneDeliveries(createdBefore, limit); }
  fleetCounts(onlineSince: string): Promise<FleetCounts> { return fleetCounts(this.#pool, onlineSince); }

  async agentByTokenHash(tokenHash: string): Promise<AgentRow | undefined> {
    const row = await agents.agentByTokenHash(this.#pool, tokenHash);
    return row ? toAgent(row) : undefined;
  }

  async recordHeartbeat(agentId: string, facts: AgentFacts, remoteAddress: string | null, now: string): Promise<AgentRow> {
    const row = await agents.updateHeartbeat(this.#pool, agentId, facts, remoteAddress, now);
    if (!row) throw new Error(`no agent ${agentId}`);
    return toAgent(row);
  }

  agentSharingCertificate(agentId: string, fingerprint: string): Promise<string | undefined> {
    return agents.agentSharingCertificate(this.#pool, agentId, fingerprint.replaceAll(':', ''));
  }

  async listAgents(which: 'active' | 'removed' = 'active'): Promise<AgentRow[]> {
    return (await agents.listAgents(this.#pool, which)).map(toAgent);
  }

  async setOperatorLabels(agentId: string, labels: Labels, audit?: AuditDraft): Promise<void> {
    if (!audit) return agents.setOperatorLabels(this.#pool, agentId, labels);
    await inTransaction(this.#pool, async (db) => {
      await agents.setOperatorLabels(db, agentId, labels);
      await appendAudit(db, audit);
    });
  }

  async removeAgent(agentId: string, now: string, audit?: AuditDraft): Promise<RemoveOutcome> {
    // The agent's row lock orders the removal against runs being created for it (createRun), and
    // the commands' row locks against claims and results: every unfinished command ends.
    const done = await inTransaction(this.#pool, async (db) => {
      const before = await agents.markRemoved(db, agentId, now);
      if (!before) return undefined;
      const ended = await commands.cancelForRemoval(db, agentId, now);
      if (audit) await appendAudit(db, audit);
      return { agent: { ...toAgent(before), removed_at: now }, ended };
    });
    if (!done) return { kind: 'not_found' };
    return {
      kind: 'removed', agent: done.agent, ended: await this.getCommands(done.ended.map((c) => c.id)),
      handedOut: done.ended.filter((c) => c.was === 'dispatched' || c.was === 'running').map((c) => c.id),
    };
  }

  async createRun(run: NewRun, list: NewCommand[], now: string, audit?: AuditDraft): Promise<{ run: RunRecord; commands: CommandRecord[] }> {
    const { rows, targets } = await inTransaction(this.#pool, async (db) => {
      const targets = await agents.lockAgentsForRun(db, [...new Set(list.map((c) => c.agent_id))]);
      const rows = commandRows(list, targets, now);
      await runs.insertRun(db, run, now);
      await runs.insertCommands(db, run, rows, now);
      if (audit) await appendAudit(db, audit);
      return { rows, targets };
    });
    // as written: not read back (a run on 10,000 agents would bring 10,000 rows over the wire again)
    return createdRun(run, rows, targets, now);
  }

  async getRun(runId: string, agentIds?: string[]): Promise<RunRecord | undefined> {
    const row = await runs.runById(this.#pool, runId);
    if (!row) return undefined;
    const run = toRun(row, (await runs.statusCounts(this.#pool, [runId], agentIds)).get(runId)!);
    return agentIds && run.total === 0 ? undefined : run;
  }

  async listRuns(limit: number, agentIds?: string[]): Promise<RunRecord[]> {
    const rows = await runs.listRuns(this.#pool, limit, agentIds);
    const counts = await runs.statusCounts(this.#pool, rows.map((r) => r.id as string), agentIds);
    return rows.map((r) => toRun(r, counts.get(r.id as string)!));
  }

  commandStatesOfRun(runId: string): Promise<CommandState[]> {
    return commands.commandStatesOfRun(this.#pool, runId);
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

  appendOutput(commandId: string, agentId: string, append: OutputAppend, keep: OutputKeep): Promise<AppendOutcome> {
    return this.#output.appendOutput(commandId, agentId, append, keep);
  }
  outputState(commandId: string): Promise<OutputState | undefined> { return this.#output.outputState(commandId); }
  readOutput(commandId: string, view: OutputStream, from: number, maxBytes: number): Promise<StoredChunk[]> {
    return this.#output.readOutput(commandId, view, from, maxBytes);
  }
  readOutputBefore(commandId: string, view: OutputStream, before: number, maxBytes: number): Promise<StoredChunk[]> {
    return this.#output.readOutputBefore(commandId, view, before, maxBytes);
  }
  pruneOutput(policy: RetentionPolicy, now: string, limit: number): Promise<DroppedOutput[]> { return this.#output.pruneOutput(policy, now, limit); }

  async recordResult(commandId: string, agentId: string, result: CommandResult, now: string): Promise<ResultOutcome> {
    // One UPDATE that only matches while the command may still take this result: of concurrent
    // results exactly one matches, and the others read what it recorded.
    const row = await commands.recordResult(this.#pool, commandId, agentId, result, now);
    if (row) return { kind: 'recorded', command: toCommand(row) };
    const owned = await this.#owned(commandId, agentId);
    return owned.kind === 'ok' ? { kind: 'duplicate', command: owned.command } : owned;
  }

  async requestCancel(commandId: string, now: string, audit?: AuditDraft): Promise<CancelOutcome> {
    // The command's row lock: a claim or result in between cannot slip past the status check.
    return inTransaction(this.#pool, async (db): Promise<CancelOutcome> => {
      const cur = await commands.lockCommand(db, commandId);
      if (!cur) return { kind: 'not_found' };
      let outcome: CancelOutcome;
      if (isFinal(cur.status)) outcome = { kind: 'final', command: toCommand((await commands.commandById(db, commandId))!) };
      else {
        const cancelled = await commands.cancelQueued(db, commandId, now);
        outcome = cancelled ? { kind: 'cancelled', command: toCommand(cancelled) }
          : { kind: 'requested', command: toCommand((await commands.requestCancel(db, commandId, now)) ?? (await commands.commandById(db, commandId))!) };
      }
      if (audit) await appendAudit(db, withOutcome(audit, outcome.kind));
      return outcome;
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

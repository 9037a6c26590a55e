// The embedded store: SQLite in the data dir. Statements are prepared once; all methods are
// synchronous underneath and async at the interface so that network backends fit the same shape.
// One process per database: its event feed is in process, and it is always the sweeper.

import { randomUUID } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { SERVER_MIGRATIONS } from './sqlite-migrations.ts';
import { GroupCommit, openSqlite, transaction } from '../../common/sqlite.ts';
import type { AuditDraft } from '../../protocol/audit.ts';
import { canTransition, ERROR_STATUSES, isFinal, type CommandStatus } from '../../protocol/command-status.ts';
import type { AgentFacts, AuditEntry, CommandRecord, CommandResult, Labels, OutputKeep, OutputStream, RunRecord } from '../../protocol/wire.ts';
import { SqliteOutput } from './sqlite-output.ts';
import type { ReplicaRow } from './cluster-store.ts';
import type {
  AddOperatorOutcome, AuditFilter, BootstrapOutcome, NewOperator, OperatorRow, RemoveOperatorOutcome, RotateOperatorOutcome,
} from './operator-store.ts';
import { SqliteCluster } from './sqlite-cluster.ts';
import { SqliteCounts } from './sqlite-counts.ts';
import type { FleetCounts } from './fleet-counts.ts';
import { withOutcome } from './audit-chain.ts';
import { appendAuditIn, SqliteOperators } from './sqlite-operators.ts';
import { SqliteTokens } from './sqlite-tokens.ts';
import { SqliteWebhooks } from './sqlite-webhooks.ts';
import type { AttemptOutcome, ClaimedDelivery, DeliveryRow, NewWebhook, WebhookRow } from './webhook-store.ts';
import { SqliteAgents } from './sqlite-agents.ts';
import { agentParams, toAgent, toCommand, toRun, type Row } from './rows.ts';
import { commandRows, createdRun } from './new-run.ts';
import { prepareStatements, SELECT_COMMAND, type Statements } from './sqlite-statements.ts';
import { EventHub, type StoreEvent, type StoreEventListener } from './store-events.ts';
import type {
  AgentRow, CancelOutcome, CommandFilter, CommandState, CommandOutcome, CreateTokenOutcome, EnrollmentTokenRow, EnrollOutcome, HandOut, NewAgent, NewCommand,
  NewEnrollmentToken, NewRun, NewSession, PushOutcome, RemoveOutcome, ResultOutcome, RevokeTokenOutcome, SessionRow, Store, StoreCapabilities,
} from './store.ts';
import type { AppendOutcome, DroppedOutput, OutputAppend, OutputState, RetentionPolicy, StoredChunk } from './output-store.ts';
import { REMOVAL_REASONS } from './store.ts';

/** A `command` event for each of these records, with their status now. */
const changed = (commands: CommandRecord[]): StoreEvent[] => commands.map((c) => ({ kind: 'command', id: c.id, agent_id: c.agent_id, status: c.status }));

export const SQLITE_CAPABILITIES: StoreCapabilities = { singleWriter: true, supportsSkipLocked: false, supportsListenNotify: false, supportsReplicas: false };

export class SqliteStore implements Store {
  readonly capabilities = SQLITE_CAPABILITIES;
  readonly #db: DatabaseSync;
  readonly #stmt: Statements;
  readonly #events: EventHub;
  readonly #cluster: SqliteCluster;
  readonly #tokens: SqliteTokens;
  readonly #operators: SqliteOperators;
  readonly #output: SqliteOutput;
  readonly #webhooks: SqliteWebhooks;
  readonly #fleet: SqliteCounts;
  readonly #agents: SqliteAgents;
  /** The writes every command makes in a fan-out (its claim, its result) and heartbeats, committed a loop turn's worth at a time. */
  readonly #group: GroupCommit;

  /** `onListenerError`: told when an event listener throws (the others still hear the event). */
  constructor(path: string, opts: { onListenerError?: (err: unknown) => void } = {}) {
    this.#events = new EventHub(opts.onListenerError);
    this.#db = openSqlite(path, SERVER_MIGRATIONS);
    this.#stmt = prepareStatements(this.#db);
    this.#cluster = new SqliteCluster(this.#stmt);
    this.#tokens = new SqliteTokens(this.#db, this.#stmt);
    this.#operators = new SqliteOperators(this.#db, this.#stmt);
    this.#output = new SqliteOutput(this.#db, this.#stmt, (events) => this.#publish(events));
    this.#webhooks = new SqliteWebhooks(this.#db, this.#stmt);
    this.#fleet = new SqliteCounts(this.#db);
    this.#agents = new SqliteAgents(this.#db);
    this.#group = new GroupCommit(this.#db);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  subscribe(listener: StoreEventListener): () => void {
    return this.#events.subscribe(listener);
  }

  /** Called once the write committed (transactions here are synchronous: after `transaction` returned). */
  #publish(events: StoreEvent[]): void {
    this.#events.publish(events);
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
  async enrollAgent(tokenHash: string, agent: NewAgent, now: string, audit?: AuditDraft): Promise<EnrollOutcome> {
    const outcome = await this.#tokens.enrollAgent(tokenHash, agent, now, audit);
    if (outcome.ok) this.#agents.changed(outcome.agent.id);
    return outcome;
  }

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
  fleetCounts(onlineSince: string): Promise<FleetCounts> { return this.#fleet.fleetCounts(onlineSince); }

  async agentByTokenHash(tokenHash: string): Promise<AgentRow | undefined> {
    return this.#agents.byTokenHash(tokenHash);
  }

  async recordHeartbeat(agentId: string, facts: AgentFacts, remoteAddress: string | null, now: string): Promise<AgentRow> {
    const { name: _fixedAtEnrollment, ...params } = agentParams({ ...facts, remote_address: remoteAddress });
    // the copy in memory is updated with the write, in the order of the writes (reloaded if the group fails)
    return this.#group.run(() => this.#agents.changed(agentId, this.#stmt.heartbeat.get({ ...params, id: agentId, now }) as Row)!, () => this.#agents.forget());
  }

  async agentSharingCertificate(agentId: string, fingerprint: string): Promise<string | undefined> {
    return (this.#stmt.sharingCertificate.get(agentId, fingerprint.replaceAll(':', '')) as { name: string } | undefined)?.name;
  }

  async listAgents(which: 'active' | 'removed' = 'active'): Promise<AgentRow[]> {
    return which === 'active' ? this.#agents.active() : (this.#stmt.listRemovedAgents.all() as Row[]).map(toAgent);
  }

  async setOperatorLabels(agentId: string, labels: Labels, audit?: AuditDraft): Promise<void> {
    transaction(this.#db, () => {
      this.#stmt.setOperatorLabels.run(JSON.stringify(labels), agentId);
      if (audit) appendAuditIn(this.#stmt, audit);
    });
    this.#agents.changed(agentId);
  }

  async removeAgent(agentId: string, now: string, audit?: AuditDraft): Promise<RemoveOutcome> {
    const done = transaction(this.#db, () => {
      const before = this.#stmt.agentById.get(agentId) as Row | undefined;
      if (!before || Number(this.#stmt.markRemoved.run(now, agentId).changes) === 0) return undefined;
      const open = this.#stmt.unfinishedOfAgent.all(agentId) as { id: string; status: CommandStatus }[];
      const handedOut: string[] = [];
      for (const c of open) {
        const started = c.status === 'dispatched' || c.status === 'running';
        if (started) handedOut.push(c.id);
        this.#stmt.cancelForRemoval.run({ id: c.id, now, error: started ? REMOVAL_REASONS.handedOut : REMOVAL_REASONS.notStarted });
      }
      if (audit) appendAuditIn(this.#stmt, audit);
      return { agent: { ...toAgent(before), removed_at: now }, ids: open.map((c) => c.id), handedOut };
    });
    if (!done) return { kind: 'not_found' };
    this.#agents.changed(agentId);
    const ended = await this.getCommands(done.ids);
    this.#publish([{ kind: 'agent', agent_id: agentId }, ...changed(ended)]);
    return { kind: 'removed', agent: done.agent, ended, handedOut: done.handedOut };
  }

  async createRun(run: NewRun, commands: NewCommand[], now: string, audit?: AuditDraft): Promise<{ run: RunRecord; commands: CommandRecord[] }> {
    const rows = transaction(this.#db, () => {
      this.#stmt.insertRun.run({
        id: run.id, command: run.command, args: JSON.stringify(run.args), target: run.target,
        max_concurrency: run.max_concurrency, max_errors: run.max_errors, now, requested_by: run.requested_by,
      });
      // the targets read once, and every command written by one statement (10,000 agents: one call into SQLite each)
      const agents = this.#stmt.targetsOfRun.all(JSON.stringify([...new Set(commands.map((c) => c.agent_id))])) as { id: string; name: string; removed_at: string | null }[];
      const targets = new Map(agents.map((a) => [a.id, { name: a.name, removed: a.removed_at !== null }]));
      const rows = commandRows(commands, targets, now);
      this.#stmt.insertCommands.run({
        run_id: run.id, now, requested_by: run.requested_by,
        commands: JSON.stringify(rows.map((c) => ({
          id: c.id, agent_id: c.agent_id, command: c.command, args: JSON.stringify(c.args), timeout: c.timeout,
          env: c.env ? JSON.stringify(c.env) : null, cwd: c.cwd, status: c.status, expires_at: c.expires_at, finished_at: c.finished_at,
          error: c.error, upgrade: c.upgrade ? JSON.stringify(c.upgrade) : null, stdout: c.stdout ?? '',
        }))),
      });
      if (audit) appendAuditIn(this.#stmt, audit);
      return { rows, targets };
    });
    const created = createdRun(run, rows.rows, rows.targets, now);
    this.#publish(rows.rows.map((c) => ({ kind: 'command', id: c.id, agent_id: c.agent_id, status: c.status }))); // in the order created, as PostgreSQL's
    return created;
  }

  async getRun(runId: string, agentIds?: string[]): Promise<RunRecord | undefined> {
    const row = this.#stmt.runById.get(runId) as Row | undefined;
    if (!row) return undefined;
    const run = toRun(row, this.#counts(runId, agentIds));
    return agentIds && run.total === 0 ? undefined : run;
  }

  async listRuns(limit: number, agentIds?: string[]): Promise<RunRecord[]> {
    const rows = (agentIds ? this.#stmt.listRunsOf.all({ agents: JSON.stringify(agentIds), limit }) : this.#stmt.listRuns.all(limit)) as Row[];
    return rows.map((r) => toRun(r, this.#counts(r.id as string, agentIds)));
  }

  #counts(runId: string, agentIds: string[] | undefined): never {
    return (agentIds ? this.#stmt.runCountsOf.all({ run: runId, agents: JSON.stringify(agentIds) }) : this.#stmt.runCounts.all(runId)) as never;
  }

  async commandsOfRun(runId: string): Promise<CommandRecord[]> {
    return (this.#stmt.commandsOfRun.all(runId) as Row[]).map(toCommand);
  }

  async commandStatesOfRun(runId: string): Promise<CommandState[]> {
    return this.#stmt.commandStatesOfRun.all(runId) as unknown as CommandState[];
  }

  async advanceRun(runId: string, now: string): Promise<{ queued: CommandRecord[]; skipped: CommandRecord[] }> {
    // nothing waits (no rate control, or all started): nothing to count, every result of a fan-out ends here
    if (!this.#stmt.runHasWaiting.get(runId)) return { queued: [], skipped: [] };
    const { queued, skipped } = transaction(this.#db, () => {
      const run = this.#stmt.runById.get(runId) as { max_concurrency: number | null; max_errors: number | null } | undefined;
      const counts = new Map((this.#stmt.runCounts.all(runId) as { status: CommandStatus; n: number }[]).map((c) => [c.status, c.n]));
      if (!run || !counts.get('waiting')) return { queued: [], skipped: [] };
      const errors = ERROR_STATUSES.reduce((sum, st) => sum + (counts.get(st) ?? 0), 0);
      if (run.max_errors !== null && errors >= run.max_errors) {
        const ids = (this.#stmt.waitingOfRun.all(runId, -1) as { id: string }[]).map((r) => r.id);
        const why = `not started: ${errors} of this run's commands failed (--max-errors ${run.max_errors})`;
        for (const id of ids) this.#stmt.skip.run(now, why, id);
        return { queued: [], skipped: ids };
      }
      const inFlight = (counts.get('queued') ?? 0) + (counts.get('dispatched') ?? 0) + (counts.get('running') ?? 0);
      const room = run.max_concurrency === null ? counts.get('waiting')! : Math.max(0, run.max_concurrency - inFlight);
      const ids = room > 0 ? (this.#stmt.waitingOfRun.all(runId, room) as { id: string }[]).map((r) => r.id) : [];
      for (const id of ids) this.#stmt.promote.run(id);
      return { queued: ids, skipped: [] };
    });
    const out = { queued: await this.getCommands(queued), skipped: await this.getCommands(skipped) };
    this.#publish(changed([...out.queued, ...out.skipped]));
    return out;
  }

  async runsWithWaiting(): Promise<string[]> {
    return (this.#stmt.runsWithWaiting.all() as { run_id: string }[]).map((r) => r.run_id);
  }

  async claimForPush(commandId: string, now: string, leaseUntil: string): Promise<string | null> {
    const claim = randomUUID();
    const row = await this.#group.run(() => this.#stmt.claimForPush.get({ id: commandId, now, lease: leaseUntil, claim }) as { agent_id: string } | undefined);
    if (!row) return null;
    // the event carries ids and the status only: nothing to read back
    this.#publish([{ kind: 'command', id: commandId, agent_id: row.agent_id, status: 'dispatched' }]);
    return claim;
  }

  async releasePush(commandId: string, claim: string, error: string): Promise<void> {
    const row = this.#stmt.releasePush.get({ id: commandId, claim, error }) as { agent_id: string } | undefined;
    if (row) this.#publish([{ kind: 'command', id: commandId, agent_id: row.agent_id, status: 'queued' }]);
  }

  async recordPushFailure(commandId: string, error: string): Promise<void> {
    this.#stmt.pushFailure.run(error, commandId);
    const owner = this.#stmt.commandAgent.get(commandId) as { agent_id: string } | undefined;
    if (owner) this.#publish([{ kind: 'agent', agent_id: owner.agent_id }]);
  }

  async recordPushHealth(agentId: string, outcome: PushOutcome): Promise<void> {
    // Grouped, as heartbeats are (a heartbeat may start push health over): the agent's writes keep
    // the order they were made in. The first push that worked, to each agent of a new fleet, is one
    // of a fan-out's writes.
    const reset = await this.#group.run(() => {
      if (outcome.kind === 'ok') {
        if (Number(this.#stmt.pushOk.run(agentId).changes) > 0) this.#agents.changed(agentId);
        return false;
      }
      if (outcome.kind === 'failed') this.#stmt.pushFailed.run({ id: agentId, error: outcome.error, at: outcome.at });
      else this.#stmt.pushReset.run(agentId);
      this.#agents.changed(agentId);
      return outcome.kind === 'reset';
    }, () => this.#agents.forget());
    if (reset) this.#publish([{ kind: 'agent', agent_id: agentId }]);
  }

  async commandsAwaitingPush(createdBefore: string, now: string, limit: number): Promise<CommandRecord[]> {
    return this.getCommands((this.#stmt.awaitingPush.all({ before: createdBefore, now, limit }) as { id: string }[]).map((r) => r.id));
  }

  async claimForAgent(agentId: string, now: string, leaseUntil: string, limit: number, fallbackOnly?: { queuedBefore: string }): Promise<HandOut> {
    // most heartbeats find nothing: that takes one index probe, not a write transaction
    const any = fallbackOnly ? this.#stmt.anyFallback.get(agentId, fallbackOnly.queuedBefore) : this.#stmt.anyQueued.get(agentId);
    if (!any) return { claim: '', commands: [] };
    const claim = randomUUID();
    const ids = transaction(this.#db, () => {
      const rows = (fallbackOnly
        ? this.#stmt.claimableFallback.all(agentId, now, fallbackOnly.queuedBefore, limit)
        : this.#stmt.claimable.all(agentId, now, limit)) as { id: string }[];
      for (const r of rows) this.#stmt.claimForPoll.run({ id: r.id, now, lease: leaseUntil, claim });
      return rows.map((r) => r.id);
    });
    return { claim, commands: this.#published(await this.getCommands(ids)) };
  }

  async releaseHandOut(agentId: string, claim: string): Promise<number> {
    const released = transaction(this.#db, () => {
      const ids = (this.#stmt.handedOut.all(agentId, claim) as { id: string }[]).map((r) => r.id);
      for (const id of ids) this.#stmt.releaseHandOut.run(id);
      return ids;
    });
    this.#published(await this.getCommands(released));
    return released.length;
  }

  async commandOwner(commandId: string): Promise<string | undefined> {
    return (this.#stmt.owner.get(commandId) as { agent_id: string } | undefined)?.agent_id;
  }

  async markStarted(commandId: string, agentId: string, startedAt: string): Promise<CommandOutcome> {
    let moved = false;
    const outcome = await this.#owned(commandId, agentId, () => {
      moved = Number(this.#stmt.started.run({ id: commandId, started_at: startedAt }).changes) > 0;
    });
    if (moved && outcome.kind === 'ok') this.#publish(changed([outcome.command]));
    return outcome;
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

  async recordResult(commandId: string, agentId: string, r: CommandResult, now: string): Promise<ResultOutcome> {
    const outcome = await this.#group.run((): ResultOutcome => {
      const cur = this.#stmt.owner.get(commandId) as { agent_id: string; status: CommandStatus } | undefined;
      if (!cur) return { kind: 'not_found' };
      if (cur.agent_id !== agentId) return { kind: 'not_yours' };
      const fresh = canTransition(cur.status, r.status);
      if (fresh) {
        this.#stmt.result.run({
          id: commandId, status: r.status, exit_code: r.exit_code, signal: r.signal, stdout: r.stdout, stderr: r.stderr,
          stdout_bytes: r.stdout_bytes, stderr_bytes: r.stderr_bytes, stdout_truncated: r.stdout_truncated ? 1 : 0,
          stderr_truncated: r.stderr_truncated ? 1 : 0, error: r.error, started_at: r.started_at, finished_at: r.finished_at || now,
        });
      }
      return { kind: fresh ? 'recorded' : 'duplicate', command: this.#command(commandId) };
    });
    if (outcome.kind === 'recorded') this.#publish(changed([outcome.command]));
    return outcome;
  }

  async requestCancel(commandId: string, now: string, audit?: AuditDraft): Promise<CancelOutcome> {
    const outcome = transaction(this.#db, (): CancelOutcome => {
      const cur = this.#stmt.owner.get(commandId) as { status: CommandStatus } | undefined;
      if (!cur) return { kind: 'not_found' };
      const kind = isFinal(cur.status) ? 'final' : Number(this.#stmt.cancelQueued.run({ id: commandId, now }).changes) > 0 ? 'cancelled' : 'requested';
      if (kind === 'requested') this.#stmt.cancelRequest.run({ id: commandId, now });
      if (audit) appendAuditIn(this.#stmt, withOutcome(audit, kind));
      return { kind, command: this.#command(commandId) };
    });
    if (outcome.kind === 'cancelled') this.#publish(changed([outcome.command]));
    if (outcome.kind === 'requested') this.#publish([{ kind: 'cancel', command_id: commandId, agent_id: outcome.command.agent_id }]);
    return outcome;
  }

  async pendingCancels(agentId: string): Promise<string[]> {
    return (this.#stmt.pendingCancels.all(agentId) as { id: string }[]).map((r) => r.id);
  }

  async requeueExpiredLeases(now: string): Promise<CommandRecord[]> {
    const ids = transaction(this.#db, () => {
      const rows = this.#stmt.leasesRunOut.all(now) as { id: string }[];
      for (const r of rows) this.#stmt.requeue.run(r.id);
      return rows.map((r) => r.id);
    });
    return this.#published(await this.getCommands(ids));
  }

  async expireQueued(now: string): Promise<CommandRecord[]> {
    const ids = transaction(this.#db, () => {
      const rows = this.#stmt.dueToExpire.all(now) as { id: string }[];
      for (const r of rows) this.#stmt.expire.run({ id: r.id, now });
      return rows.map((r) => r.id);
    });
    return this.#published(await this.getCommands(ids));
  }

  async listCommands(f: CommandFilter): Promise<CommandRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (f.agentId) where.push('c.agent_id = ?') && params.push(f.agentId);
    if (f.agentIds) where.push('c.agent_id IN (SELECT value FROM json_each(?))') && params.push(JSON.stringify(f.agentIds));
    if (f.status) where.push('c.status = ?') && params.push(f.status);
    const sql = `${SELECT_COMMAND} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY c.created_at DESC, c.id DESC LIMIT ?`;
    return (this.#db.prepare(sql).all(...params, f.limit ?? 50) as Row[]).map(toCommand);
  }

  /** In the order of `ids`; unknown ids are left out. */
  async getCommands(ids: string[]): Promise<CommandRecord[]> {
    if (ids.length === 0) return [];
    const byId = new Map((this.#stmt.commandsByIds.all(JSON.stringify(ids)) as Row[]).map((r) => [r.id as string, toCommand(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  recordReplica(r: ReplicaRow): Promise<void> { return this.#cluster.recordReplica(r); }
  listReplicas(seenSince: string): Promise<ReplicaRow[]> { return this.#cluster.listReplicas(seenSince); }
  removeReplica(id: string): Promise<void> { return this.#cluster.removeReplica(id); }
  forgetReplicas(seenBefore: string): Promise<number> { return this.#cluster.forgetReplicas(seenBefore); }
  clusterFingerprint(): Promise<string | null> { return this.#cluster.clusterFingerprint(); }
  recordClusterFingerprint(fingerprint: string, now: string, replace?: boolean): Promise<string> { return this.#cluster.recordClusterFingerprint(fingerprint, now, replace); }
  holdSweeperLock(): Promise<boolean> { return this.#cluster.holdSweeperLock(); }

  /** Publishes a `command` event for each of these changed commands, and returns them. */
  #published(commands: CommandRecord[]): CommandRecord[] {
    this.#publish(changed(commands));
    return commands;
  }

  #command(id: string): CommandRecord {
    return toCommand(this.#stmt.commandById.get(id) as Row);
  }

  /** Runs `fn` in a transaction when the command exists and belongs to `agentId`. */
  async #owned(commandId: string, agentId: string, fn: (cur: { status: CommandStatus }) => void): Promise<CommandOutcome> {
    return transaction(this.#db, (): CommandOutcome => {
      const cur = this.#stmt.owner.get(commandId) as { agent_id: string; status: CommandStatus } | undefined;
      if (!cur) return { kind: 'not_found' };
      if (cur.agent_id !== agentId) return { kind: 'not_yours' };
      fn(cur);
      return { kind: 'ok', command: this.#command(commandId) };
    });
  }
}

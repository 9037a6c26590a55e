// The embedded store: SQLite in the data dir. Statements are prepared once; all methods are
// synchronous underneath and async at the interface so that network backends fit the same shape.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { SERVER_MIGRATIONS } from './sqlite-migrations.ts';
import { openSqlite, transaction } from '../../common/sqlite.ts';
import { canTransition, ERROR_STATUSES, isFinal, type CommandStatus } from '../../protocol/command-status.ts';
import type { AgentFacts, CommandRecord, CommandResult, Labels, OutputChunk, RunRecord } from '../../protocol/wire.ts';
import { planAppend } from './output-plan.ts';
import { agentParams, COMMAND_COLUMNS, toAgent, toCommand, toRun, type Row } from './rows.ts';
import type {
  AgentRow, AppendOutcome, CancelOutcome, CommandFilter, CommandOutcome, EnrollOutcome, NewAgent, NewCommand, NewRun, ResultOutcome, Store,
  StoreCapabilities,
} from './store.ts';

const SELECT_COMMAND = `SELECT ${COMMAND_COLUMNS} FROM commands c JOIN agents a ON a.id = c.agent_id`;

export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { singleWriter: true, supportsSkipLocked: false, supportsListenNotify: false };
  readonly #db: DatabaseSync;
  readonly #stmt: Record<string, StatementSync>;

  constructor(path: string) {
    this.#db = openSqlite(path, SERVER_MIGRATIONS);
    const p = (sql: string) => this.#db.prepare(sql);
    this.#stmt = {
      addOperatorToken: p('INSERT OR IGNORE INTO operator_tokens (token_hash, name, created_at) VALUES (?, ?, ?)'),
      operatorToken: p('SELECT 1 AS ok FROM operator_tokens WHERE token_hash = ?'),
      addEnrollment: p('INSERT INTO enrollment_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)'),
      enrollment: p('SELECT expires_at, used_at FROM enrollment_tokens WHERE token_hash = ?'),
      useEnrollment: p('UPDATE enrollment_tokens SET used_at = ?, used_by_agent = ? WHERE token_hash = ? AND used_at IS NULL'),
      agentByName: p('SELECT id FROM agents WHERE name = ?'),
      insertAgent: p(`INSERT INTO agents (id, name, token_hash, token, hostname, os, version, mode, web_port, fingerprint,
        advertise_address, remote_address, labels, enrolled_at, last_heartbeat_at)
        VALUES ($id, $name, $token_hash, $token, $hostname, $os, $version, $mode, $web_port, $fingerprint,
        $advertise_address, $remote_address, $labels, $now, $now)`),
      agentByTokenHash: p('SELECT * FROM agents WHERE token_hash = ?'),
      agentById: p('SELECT * FROM agents WHERE id = ?'),
      heartbeat: p(`UPDATE agents SET hostname = $hostname, os = $os, version = $version, mode = $mode, web_port = $web_port,
        fingerprint = $fingerprint, advertise_address = $advertise_address, remote_address = $remote_address,
        labels = $labels, last_heartbeat_at = $now WHERE id = $id`),
      listAgents: p('SELECT * FROM agents ORDER BY name'),
      setOperatorLabels: p('UPDATE agents SET operator_labels = ? WHERE id = ?'),
      insertRun: p(`INSERT INTO runs (id, command, args, target, max_concurrency, max_errors, created_at)
        VALUES ($id, $command, $args, $target, $max_concurrency, $max_errors, $now)`),
      runById: p('SELECT * FROM runs WHERE id = ?'),
      listRuns: p('SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT ?'),
      runCounts: p('SELECT status, COUNT(*) AS n, MAX(finished_at) AS last FROM commands WHERE run_id = ? GROUP BY status'),
      commandsOfRun: p(`${SELECT_COMMAND} WHERE c.run_id = ? ORDER BY a.name`),
      waitingOfRun: p(`SELECT id FROM commands WHERE run_id = ? AND status = 'waiting' ORDER BY rowid LIMIT ?`),
      promote: p(`UPDATE commands SET status = 'queued' WHERE id = ? AND status = 'waiting'`),
      skip: p(`UPDATE commands SET status = 'skipped', finished_at = ?, error = ? WHERE id = ? AND status = 'waiting'`),
      runsWithWaiting: p(`SELECT DISTINCT run_id FROM commands WHERE status = 'waiting'`),
      removeAgent: p('DELETE FROM agents WHERE id = ?'),
      insertCommand: p(`INSERT INTO commands (id, run_id, agent_id, command, args, timeout, env, cwd, status, created_at, expires_at)
        VALUES ($id, $run_id, $agent_id, $command, $args, $timeout, $env, $cwd, $status, $now, $expires_at)`),
      commandById: p(`${SELECT_COMMAND} WHERE c.id = ?`),
      commandsByIds: p(`${SELECT_COMMAND} WHERE c.id IN (SELECT value FROM json_each(?))`),
      owner: p('SELECT agent_id, status, output_offset FROM commands WHERE id = ?'),
      claimForPush: p(`UPDATE commands SET status = 'dispatched', delivery = 'push', dispatched_at = $now, lease_expires_at = $lease
        WHERE id = $id AND status = 'queued'`),
      releasePush: p(`UPDATE commands SET status = 'queued', delivery = NULL, dispatched_at = NULL, lease_expires_at = NULL,
        last_push_error = $error WHERE id = $id AND status = 'dispatched' AND delivery = 'push'`),
      pushFailure: p('UPDATE commands SET last_push_error = ? WHERE id = ?'),
      claimable: p(`SELECT id FROM commands WHERE agent_id = ? AND status = 'queued' AND (expires_at IS NULL OR expires_at > ?)
        ORDER BY created_at, rowid LIMIT ?`),
      claimableFallback: p(`SELECT id FROM commands WHERE agent_id = ? AND status = 'queued' AND (expires_at IS NULL OR expires_at > ?)
        AND (last_push_error IS NOT NULL OR created_at < ?) ORDER BY created_at, rowid LIMIT ?`),
      claimForPoll: p(`UPDATE commands SET status = 'dispatched', delivery = 'poll', dispatched_at = $now, lease_expires_at = $lease
        WHERE id = $id AND status = 'queued'`),
      started: p(`UPDATE commands SET status = 'running', started_at = COALESCE(started_at, $started_at), lease_expires_at = NULL
        WHERE id = $id AND status IN ('queued', 'dispatched')`),
      insertOutput: p('INSERT OR IGNORE INTO command_output (command_id, "offset", stream, data) VALUES (?, ?, ?, ?)'),
      setOffset: p('UPDATE commands SET output_offset = ? WHERE id = ?'),
      readOutput: p('SELECT "offset", stream, data FROM command_output WHERE command_id = ? AND "offset" >= ? ORDER BY "offset"'),
      result: p(`UPDATE commands SET status = $status, exit_code = $exit_code, signal = $signal, stdout = $stdout,
        stderr = $stderr, stdout_bytes = $stdout_bytes, stderr_bytes = $stderr_bytes, stdout_truncated = $stdout_truncated,
        stderr_truncated = $stderr_truncated, error = $error, started_at = COALESCE(started_at, $started_at),
        finished_at = $finished_at, lease_expires_at = NULL WHERE id = $id`),
      cancelQueued: p(`UPDATE commands SET status = 'cancelled', cancel_requested_at = $now, finished_at = $now,
        error = 'cancelled before it was delivered' WHERE id = $id AND status IN ('queued', 'waiting')`),
      cancelRequest: p(`UPDATE commands SET cancel_requested_at = COALESCE(cancel_requested_at, $now)
        WHERE id = $id AND status IN ('dispatched', 'running')`),
      pendingCancels: p(`SELECT id FROM commands WHERE agent_id = ? AND cancel_requested_at IS NOT NULL
        AND status IN ('dispatched', 'running')`),
      leasesRunOut: p(`SELECT id FROM commands WHERE status = 'dispatched' AND lease_expires_at < ?`),
      requeue: p(`UPDATE commands SET status = 'queued', delivery = NULL, dispatched_at = NULL, lease_expires_at = NULL
        WHERE id = ? AND status = 'dispatched'`),
      dueToExpire: p(`SELECT id FROM commands WHERE status = 'queued' AND expires_at <= ?`),
      expire: p(`UPDATE commands SET status = 'expired', finished_at = $now,
        error = 'not delivered before its delivery TTL passed' WHERE id = $id AND status = 'queued'`),
    };
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  async addOperatorToken(tokenHash: string, name: string, now: string): Promise<void> {
    this.#stmt.addOperatorToken!.run(tokenHash, name, now);
  }

  async operatorTokenExists(tokenHash: string): Promise<boolean> {
    return this.#stmt.operatorToken!.get(tokenHash) !== undefined;
  }

  async createEnrollmentToken(tokenHash: string, expiresAt: string, now: string): Promise<void> {
    this.#stmt.addEnrollment!.run(tokenHash, now, expiresAt);
  }

  async enrollAgent(tokenHash: string, agent: NewAgent, now: string): Promise<EnrollOutcome> {
    return transaction(this.#db, (): EnrollOutcome => {
      const token = this.#stmt.enrollment!.get(tokenHash) as { expires_at: string; used_at: string | null } | undefined;
      if (!token) return { ok: false, reason: 'unknown' };
      if (token.used_at !== null) return { ok: false, reason: 'used' };
      if (token.expires_at <= now) return { ok: false, reason: 'expired' };
      if (this.#stmt.agentByName!.get(agent.name)) return { ok: false, reason: 'name_taken' };
      this.#stmt.useEnrollment!.run(now, agent.id, tokenHash);
      this.#stmt.insertAgent!.run({ ...agentParams(agent), id: agent.id, token_hash: agent.tokenHash, token: agent.token, now });
      return { ok: true, agent: toAgent(this.#stmt.agentById!.get(agent.id) as Row) };
    });
  }

  async agentByTokenHash(tokenHash: string): Promise<AgentRow | undefined> {
    const row = this.#stmt.agentByTokenHash!.get(tokenHash) as Row | undefined;
    return row ? toAgent(row) : undefined;
  }

  async recordHeartbeat(agentId: string, facts: AgentFacts, remoteAddress: string | null, now: string): Promise<AgentRow> {
    const { name: _fixedAtEnrollment, ...params } = agentParams({ ...facts, remote_address: remoteAddress });
    this.#stmt.heartbeat!.run({ ...params, id: agentId, now });
    return toAgent(this.#stmt.agentById!.get(agentId) as Row);
  }

  async listAgents(): Promise<AgentRow[]> {
    return (this.#stmt.listAgents!.all() as Row[]).map(toAgent);
  }

  async setOperatorLabels(agentId: string, labels: Labels): Promise<void> {
    this.#stmt.setOperatorLabels!.run(JSON.stringify(labels), agentId);
  }

  async removeAgent(agentId: string): Promise<boolean> {
    return Number(this.#stmt.removeAgent!.run(agentId).changes) > 0;
  }

  async createRun(run: NewRun, commands: NewCommand[], now: string): Promise<{ run: RunRecord; commands: CommandRecord[] }> {
    transaction(this.#db, () => {
      this.#stmt.insertRun!.run({
        id: run.id, command: run.command, args: JSON.stringify(run.args), target: run.target,
        max_concurrency: run.max_concurrency, max_errors: run.max_errors, now,
      });
      for (const c of commands) {
        this.#stmt.insertCommand!.run({
          id: c.id, run_id: run.id, agent_id: c.agent_id, command: c.command, args: JSON.stringify(c.args), timeout: c.timeout,
          env: c.env ? JSON.stringify(c.env) : null, cwd: c.cwd, status: c.status, now, expires_at: c.expires_at,
        });
      }
    });
    return { run: (await this.getRun(run.id))!, commands: await this.commandsOfRun(run.id) };
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const row = this.#stmt.runById!.get(runId) as Row | undefined;
    return row ? toRun(row, this.#stmt.runCounts!.all(runId) as never) : undefined;
  }

  async listRuns(limit: number): Promise<RunRecord[]> {
    return (this.#stmt.listRuns!.all(limit) as Row[]).map((r) => toRun(r, this.#stmt.runCounts!.all(r.id as string) as never));
  }

  async commandsOfRun(runId: string): Promise<CommandRecord[]> {
    return (this.#stmt.commandsOfRun!.all(runId) as Row[]).map(toCommand);
  }

  async advanceRun(runId: string, now: string): Promise<{ queued: CommandRecord[]; skipped: CommandRecord[] }> {
    const { queued, skipped } = transaction(this.#db, () => {
      const run = this.#stmt.runById!.get(runId) as { max_concurrency: number | null; max_errors: number | null } | undefined;
      const counts = new Map((this.#stmt.runCounts!.all(runId) as { status: CommandStatus; n: number }[]).map((c) => [c.status, c.n]));
      if (!run || !counts.get('waiting')) return { queued: [], skipped: [] };
      const errors = ERROR_STATUSES.reduce((sum, st) => sum + (counts.get(st) ?? 0), 0);
      if (run.max_errors !== null && errors >= run.max_errors) {
        const ids = (this.#stmt.waitingOfRun!.all(runId, -1) as { id: string }[]).map((r) => r.id);
        const why = `not started: ${errors} of this run's commands failed (--max-errors ${run.max_errors})`;
        for (const id of ids) this.#stmt.skip!.run(now, why, id);
        return { queued: [], skipped: ids };
      }
      const inFlight = (counts.get('queued') ?? 0) + (counts.get('dispatched') ?? 0) + (counts.get('running') ?? 0);
      const room = run.max_concurrency === null ? counts.get('waiting')! : Math.max(0, run.max_concurrency - inFlight);
      const ids = room > 0 ? (this.#stmt.waitingOfRun!.all(runId, room) as { id: string }[]).map((r) => r.id) : [];
      for (const id of ids) this.#stmt.promote!.run(id);
      return { queued: ids, skipped: [] };
    });
    return { queued: await this.getCommands(queued), skipped: await this.getCommands(skipped) };
  }

  async runsWithWaiting(): Promise<string[]> {
    return (this.#stmt.runsWithWaiting!.all() as { run_id: string }[]).map((r) => r.run_id);
  }

  async claimForPush(commandId: string, now: string, leaseUntil: string): Promise<boolean> {
    return Number(this.#stmt.claimForPush!.run({ id: commandId, now, lease: leaseUntil }).changes) > 0;
  }

  async releasePush(commandId: string, error: string): Promise<void> {
    this.#stmt.releasePush!.run({ id: commandId, error });
  }

  async recordPushFailure(commandId: string, error: string): Promise<void> {
    this.#stmt.pushFailure!.run(error, commandId);
  }

  async claimForAgent(agentId: string, now: string, leaseUntil: string, limit: number, fallbackOnly?: { queuedBefore: string }): Promise<CommandRecord[]> {
    const ids = transaction(this.#db, () => {
      const rows = (fallbackOnly
        ? this.#stmt.claimableFallback!.all(agentId, now, fallbackOnly.queuedBefore, limit)
        : this.#stmt.claimable!.all(agentId, now, limit)) as { id: string }[];
      for (const r of rows) this.#stmt.claimForPoll!.run({ id: r.id, now, lease: leaseUntil });
      return rows.map((r) => r.id);
    });
    return this.getCommands(ids);
  }

  async markStarted(commandId: string, agentId: string, startedAt: string): Promise<CommandOutcome> {
    return this.#owned(commandId, agentId, () => {
      this.#stmt.started!.run({ id: commandId, started_at: startedAt });
    });
  }

  async appendOutput(commandId: string, agentId: string, chunks: OutputChunk[], maxChars: number): Promise<AppendOutcome> {
    let next = 0;
    let accepted: OutputChunk[] = [];
    const outcome = await this.#owned(commandId, agentId, (cur) => {
      ({ next, accepted } = planAppend(cur.output_offset, chunks, maxChars));
      for (const c of accepted) this.#stmt.insertOutput!.run(commandId, c.offset, c.stream, c.data);
      this.#stmt.setOffset!.run(next, commandId);
    });
    return outcome.kind === 'ok' ? { kind: 'ok', nextOffset: next, accepted } : outcome;
  }

  async readOutput(commandId: string, fromOffset: number): Promise<OutputChunk[]> {
    return this.#stmt.readOutput!.all(commandId, fromOffset) as unknown as OutputChunk[];
  }

  async recordResult(commandId: string, agentId: string, r: CommandResult, now: string): Promise<ResultOutcome> {
    return transaction(this.#db, (): ResultOutcome => {
      const cur = this.#stmt.owner!.get(commandId) as { agent_id: string; status: CommandStatus } | undefined;
      if (!cur) return { kind: 'not_found' };
      if (cur.agent_id !== agentId) return { kind: 'not_yours' };
      const fresh = canTransition(cur.status, r.status);
      if (fresh) {
        this.#stmt.result!.run({
          id: commandId, status: r.status, exit_code: r.exit_code, signal: r.signal, stdout: r.stdout, stderr: r.stderr,
          stdout_bytes: r.stdout_bytes, stderr_bytes: r.stderr_bytes, stdout_truncated: r.stdout_truncated ? 1 : 0,
          stderr_truncated: r.stderr_truncated ? 1 : 0, error: r.error, started_at: r.started_at, finished_at: r.finished_at || now,
        });
      }
      return { kind: fresh ? 'recorded' : 'duplicate', command: this.#command(commandId) };
    });
  }

  async requestCancel(commandId: string, now: string): Promise<CancelOutcome> {
    return transaction(this.#db, (): CancelOutcome => {
      const cur = this.#stmt.owner!.get(commandId) as { status: CommandStatus } | undefined;
      if (!cur) return { kind: 'not_found' };
      if (isFinal(cur.status)) return { kind: 'final', command: this.#command(commandId) };
      if (Number(this.#stmt.cancelQueued!.run({ id: commandId, now }).changes) > 0) return { kind: 'cancelled', command: this.#command(commandId) };
      this.#stmt.cancelRequest!.run({ id: commandId, now });
      return { kind: 'requested', command: this.#command(commandId) };
    });
  }

  async pendingCancels(agentId: string): Promise<string[]> {
    return (this.#stmt.pendingCancels!.all(agentId) as { id: string }[]).map((r) => r.id);
  }

  async requeueExpiredLeases(now: string): Promise<CommandRecord[]> {
    const ids = transaction(this.#db, () => {
      const rows = this.#stmt.leasesRunOut!.all(now) as { id: string }[];
      for (const r of rows) this.#stmt.requeue!.run(r.id);
      return rows.map((r) => r.id);
    });
    return this.getCommands(ids);
  }

  async expireQueued(now: string): Promise<CommandRecord[]> {
    const ids = transaction(this.#db, () => {
      const rows = this.#stmt.dueToExpire!.all(now) as { id: string }[];
      for (const r of rows) this.#stmt.expire!.run({ id: r.id, now });
      return rows.map((r) => r.id);
    });
    return this.getCommands(ids);
  }

  async listCommands(f: CommandFilter): Promise<CommandRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (f.agentId) where.push('c.agent_id = ?') && params.push(f.agentId);
    if (f.status) where.push('c.status = ?') && params.push(f.status);
    const sql = `${SELECT_COMMAND} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY c.created_at DESC, c.id DESC LIMIT ?`;
    return (this.#db.prepare(sql).all(...params, f.limit ?? 50) as Row[]).map(toCommand);
  }

  /** In the order of `ids`; unknown ids are left out. */
  async getCommands(ids: string[]): Promise<CommandRecord[]> {
    if (ids.length === 0) return [];
    const byId = new Map((this.#stmt.commandsByIds!.all(JSON.stringify(ids)) as Row[]).map((r) => [r.id as string, toCommand(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  #command(id: string): CommandRecord {
    return toCommand(this.#stmt.commandById!.get(id) as Row);
  }

  /** Runs `fn` in a transaction when the command exists and belongs to `agentId`. */
  async #owned(commandId: string, agentId: string, fn: (cur: { status: CommandStatus; output_offset: number }) => void): Promise<CommandOutcome> {
    return transaction(this.#db, (): CommandOutcome => {
      const cur = this.#stmt.owner!.get(commandId) as { agent_id: string; status: CommandStatus; output_offset: number } | undefined;
      if (!cur) return { kind: 'not_found' };
      if (cur.agent_id !== agentId) return { kind: 'not_yours' };
      fn(cur);
      return { kind: 'ok', command: this.#command(commandId) };
    });
  }
}

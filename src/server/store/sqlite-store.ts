// The embedded store: SQLite in the data dir. Statements are prepared once; all methods are
// synchronous underneath and async at the interface so that network backends fit the same shape.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { openSqlite, transaction } from '../../common/sqlite.ts';
import { canTransition, type CommandStatus, type Delivery } from '../../protocol/command-status.ts';
import type { AgentFacts, CommandRecord, CommandResult, Labels } from '../../protocol/wire.ts';
import type { AgentRow, EnrollOutcome, NewAgent, NewCommand, ResultOutcome, Store, StoreCapabilities } from './store.ts';

const MIGRATIONS = fileURLToPath(new URL('./sqlite-migrations/', import.meta.url));

const COMMAND_COLUMNS = `c.id, c.agent_id, a.name AS agent_name, c.command, c.args, c.timeout, c.env, c.cwd, c.status,
  c.delivery, c.exit_code, c.signal, c.stdout, c.stderr, c.stdout_bytes, c.stderr_bytes, c.stdout_truncated,
  c.stderr_truncated, c.error, c.last_push_error, c.created_at, c.dispatched_at, c.started_at, c.finished_at`;

type Row = Record<string, unknown>;

export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { singleWriter: true, supportsSkipLocked: false, supportsListenNotify: false };
  readonly #db: DatabaseSync;
  readonly #stmt: Record<string, StatementSync>;

  constructor(path: string) {
    this.#db = openSqlite(path, MIGRATIONS);
    const p = (sql: string) => this.#db.prepare(sql);
    this.#stmt = {
      addOperatorToken: p('INSERT INTO operator_tokens (token_hash, name, created_at) VALUES (?, ?, ?)'),
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
      setLabels: p('UPDATE agents SET labels = ? WHERE id = ?'),
      removeAgent: p('DELETE FROM agents WHERE id = ?'),
      insertCommand: p(`INSERT INTO commands (id, agent_id, command, args, timeout, env, cwd, status, created_at)
        VALUES ($id, $agent_id, $command, $args, $timeout, $env, $cwd, 'queued', $now)`),
      commandById: p(`SELECT ${COMMAND_COLUMNS} FROM commands c JOIN agents a ON a.id = c.agent_id WHERE c.id = ?`),
      dispatch: p(`UPDATE commands SET delivery = COALESCE(delivery, ?), dispatched_at = COALESCE(dispatched_at, ?),
        last_push_error = NULL, status = CASE status WHEN 'queued' THEN 'dispatched' ELSE status END WHERE id = ?`),
      pushFailure: p('UPDATE commands SET last_push_error = ? WHERE id = ?'),
      statusOf: p('SELECT agent_id, status, delivery FROM commands WHERE id = ?'),
      result: p(`UPDATE commands SET status = $status, exit_code = $exit_code, signal = $signal, stdout = $stdout,
        stderr = $stderr, stdout_bytes = $stdout_bytes, stderr_bytes = $stderr_bytes, stdout_truncated = $stdout_truncated,
        stderr_truncated = $stderr_truncated, error = $error, started_at = COALESCE(started_at, $started_at),
        finished_at = $finished_at WHERE id = $id`),
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

  async setAgentLabels(agentId: string, labels: Labels): Promise<void> {
    this.#stmt.setLabels!.run(JSON.stringify(labels), agentId);
  }

  async removeAgent(agentId: string): Promise<boolean> {
    return Number(this.#stmt.removeAgent!.run(agentId).changes) > 0;
  }

  async enqueue(commands: NewCommand[], now: string): Promise<CommandRecord[]> {
    transaction(this.#db, () => {
      for (const c of commands) {
        this.#stmt.insertCommand!.run({
          id: c.id, agent_id: c.agent_id, command: c.command, args: JSON.stringify(c.args), timeout: c.timeout,
          env: c.env ? JSON.stringify(c.env) : null, cwd: c.cwd, now,
        });
      }
    });
    return this.getCommands(commands.map((c) => c.id));
  }

  async markDispatched(commandId: string, delivery: Delivery, now: string): Promise<void> {
    this.#stmt.dispatch!.run(delivery, now, commandId);
  }

  async recordPushFailure(commandId: string, error: string): Promise<void> {
    this.#stmt.pushFailure!.run(error, commandId);
  }

  async recordResult(commandId: string, agentId: string, r: CommandResult, now: string): Promise<ResultOutcome> {
    return transaction(this.#db, (): ResultOutcome => {
      const cur = this.#stmt.statusOf!.get(commandId) as { agent_id: string; status: CommandStatus } | undefined;
      if (!cur) return { kind: 'not_found' };
      if (cur.agent_id !== agentId) return { kind: 'not_yours' };
      const fresh = canTransition(cur.status, r.status);
      if (fresh) {
        this.#stmt.result!.run({
          id: commandId, status: r.status, exit_code: r.exit_code, signal: r.signal, stdout: r.stdout, stderr: r.stderr,
          stdout_bytes: r.stdout_bytes, stderr_bytes: r.stderr_bytes, stdout_truncated: r.stdout_truncated ? 1 : 0,
          stderr_truncated: r.stderr_truncated ? 1 : 0, error: r.error, started_at: r.started_at, finished_at: r.finished_at,
        });
      }
      return { kind: fresh ? 'recorded' : 'duplicate', command: toCommand(this.#stmt.commandById!.get(commandId) as Row) };
    });
  }

  async getCommands(ids: string[]): Promise<CommandRecord[]> {
    const out: CommandRecord[] = [];
    for (const id of ids) {
      const row = this.#stmt.commandById!.get(id) as Row | undefined;
      if (row) out.push(toCommand(row));
    }
    return out;
  }
}

function agentParams(a: AgentFacts & { remote_address: string | null }) {
  return {
    name: a.name, hostname: a.hostname, os: a.os, version: a.version, mode: a.mode, web_port: a.web_port,
    fingerprint: a.fingerprint, advertise_address: a.advertise_address, remote_address: a.remote_address,
    labels: JSON.stringify(a.labels),
  };
}

function toAgent(r: Row): AgentRow {
  return {
    id: r.id as string, name: r.name as string, token: r.token as string, hostname: r.hostname as string,
    os: r.os as string, version: r.version as string, mode: r.mode as AgentRow['mode'], web_port: r.web_port as number | null,
    fingerprint: r.fingerprint as string | null, advertise_address: r.advertise_address as string | null,
    remote_address: r.remote_address as string | null, labels: JSON.parse(r.labels as string) as Labels,
    enrolled_at: r.enrolled_at as string, last_heartbeat_at: r.last_heartbeat_at as string | null,
  };
}

function toCommand(r: Row): CommandRecord {
  return {
    id: r.id as string, agent_id: r.agent_id as string, agent_name: r.agent_name as string, command: r.command as string,
    args: JSON.parse(r.args as string) as string[], timeout: r.timeout as number,
    env: r.env === null ? null : (JSON.parse(r.env as string) as Record<string, string>), cwd: r.cwd as string | null,
    status: r.status as CommandStatus, delivery: r.delivery as Delivery | null, exit_code: r.exit_code as number | null,
    signal: r.signal as string | null, stdout: r.stdout as string, stderr: r.stderr as string,
    stdout_bytes: r.stdout_bytes as number, stderr_bytes: r.stderr_bytes as number,
    stdout_truncated: r.stdout_truncated === 1, stderr_truncated: r.stderr_truncated === 1, error: r.error as string | null,
    last_push_error: r.last_push_error as string | null, created_at: r.created_at as string,
    dispatched_at: r.dispatched_at as string | null, started_at: r.started_at as string | null,
    finished_at: r.finished_at as string | null,
  };
}

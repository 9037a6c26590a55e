// Store rows to wire records and back, for every backend: JSON in text columns, flags as 0/1
// (SQLite) or booleans (PostgreSQL). Backends hand over text as strings.

import type { CommandStatus, Delivery } from '../../protocol/command-status.ts';
import type { AgentFacts, CommandRecord, Labels, RunRecord, UpgradeSpec } from '../../protocol/wire.ts';
import { isFinal } from '../../protocol/command-status.ts';
import type { OperatorRole } from '../../protocol/roles.ts';
import type { OperatorRow } from './operator-store.ts';
import type { AgentRow } from './store.ts';

export type Row = Record<string, unknown>;

export const COMMAND_COLUMNS = `c.id, c.run_id, c.agent_id, a.name AS agent_name, c.requested_by, c.upgrade, c.command, c.args, c.timeout, c.env, c.cwd, c.status,
  c.delivery, c.exit_code, c.signal, c.stdout, c.stderr, c.stdout_bytes, c.stderr_bytes, c.stdout_truncated,
  c.stderr_truncated, c.error, c.last_push_error, c.cancel_requested_at, c.created_at, c.expires_at, c.dispatched_at,
  c.started_at, c.finished_at`;

/** The columns of a command's output state (output-plan.ts reads them). */
export const OUTPUT_STATE_COLUMNS = `output_offset, output_head_limit, output_tail_limit, stdout_head, stdout_tail_from, stdout_end, stdout_seen,
  stderr_head, stderr_tail_from, stderr_end, stderr_seen, output_bytes, output_dropped_at`;

export function agentParams(a: AgentFacts & { remote_address: string | null }) {
  return {
    name: a.name, hostname: a.hostname, os: a.os, version: a.version, mode: a.mode, web_port: a.web_port,
    fingerprint: a.fingerprint, advertise_address: a.advertise_address, remote_address: a.remote_address,
    labels: JSON.stringify(a.labels),
  };
}

export function toAgent(r: Row): AgentRow {
  return {
    id: r.id as string, name: r.name as string, token: r.token as string, hostname: r.hostname as string,
    os: r.os as string, version: r.version as string, mode: r.mode as AgentRow['mode'], web_port: r.web_port as number | null,
    fingerprint: r.fingerprint as string | null, advertise_address: r.advertise_address as string | null,
    remote_address: r.remote_address as string | null, labels: JSON.parse(r.labels as string) as Labels,
    operator_labels: JSON.parse(r.operator_labels as string) as Labels,
    enrolled_at: r.enrolled_at as string, last_heartbeat_at: r.last_heartbeat_at as string | null,
    removed_at: r.removed_at as string | null,
    push_state: r.push_state as AgentRow['push_state'], push_error: r.push_error as string | null,
    push_failures: r.push_failures as number, push_failed_at: r.push_failed_at as string | null,
  };
}

export function toCommand(r: Row): CommandRecord {
  return {
    id: r.id as string, run_id: r.run_id as string | null, agent_id: r.agent_id as string, agent_name: r.agent_name as string,
    requested_by: (r.requested_by ?? null) as string | null,
    kind: r.upgrade === null ? 'exec' : 'upgrade', upgrade: r.upgrade === null ? null : (JSON.parse(r.upgrade as string) as UpgradeSpec),
    command: r.command as string,
    args: JSON.parse(r.args as string) as string[], timeout: r.timeout as number,
    env: r.env === null ? null : (JSON.parse(r.env as string) as Record<string, string>), cwd: r.cwd as string | null,
    status: r.status as CommandStatus, delivery: r.delivery as Delivery | null, exit_code: r.exit_code as number | null,
    signal: r.signal as string | null, stdout: r.stdout as string, stderr: r.stderr as string,
    stdout_bytes: r.stdout_bytes as number, stderr_bytes: r.stderr_bytes as number,
    stdout_truncated: flag(r.stdout_truncated), stderr_truncated: flag(r.stderr_truncated), error: r.error as string | null,
    last_push_error: r.last_push_error as string | null, cancel_requested_at: r.cancel_requested_at as string | null,
    created_at: r.created_at as string, expires_at: r.expires_at as string | null,
    dispatched_at: r.dispatched_at as string | null, started_at: r.started_at as string | null,
    finished_at: r.finished_at as string | null,
  };
}

export function toRun(r: Row, counts: { status: CommandStatus; n: number; last: string | null }[]): RunRecord {
  const byStatus: Partial<Record<CommandStatus, number>> = {};
  let total = 0;
  let open = 0;
  let finishedAt: string | null = null;
  for (const c of counts) {
    byStatus[c.status] = c.n;
    total += c.n;
    if (!isFinal(c.status)) open += c.n;
    if (c.last && (!finishedAt || c.last > finishedAt)) finishedAt = c.last;
  }
  return {
    id: r.id as string, command: r.command as string, args: JSON.parse(r.args as string) as string[], target: r.target as string,
    max_concurrency: r.max_concurrency as number | null, max_errors: r.max_errors as number | null, created_at: r.created_at as string,
    requested_by: (r.requested_by ?? null) as string | null,
    total, counts: byStatus, done: open === 0, stopped: (byStatus.skipped ?? 0) > 0, finished_at: open === 0 ? finishedAt : null,
  };
}

export function flag(v: unknown): boolean {
  return v === 1 || v === true;
}

export function toOperator(r: Row): OperatorRow {
  return {
    id: r.id as string, name: r.name as string, role: r.role as OperatorRole, scope: JSON.parse(r.scope as string) as Labels,
    created_at: r.created_at as string, last_used_at: r.last_used_at as string | null,
  };
}

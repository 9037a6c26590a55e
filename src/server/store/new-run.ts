// A run as createRun stores it, for every backend: each command's row (a removed target's command
// is created cancelled) and the records createRun answers with, built from what was written
// instead of read back (a run on 10,000 agents would read 10,000 rows again just to say them).

import { isFinal, type CommandStatus } from '../../protocol/command-status.ts';
import type { CommandRecord, RunRecord } from '../../protocol/wire.ts';
import { toRun } from './rows.ts';
import { REMOVAL_REASONS, type NewCommand, type NewRun } from './store.ts';

/** What a backend knows of a target when the run is created (in its transaction). */
export interface TargetState {
  name: string;
  removed: boolean;
}

/** A command as inserted: its status, finish and error decided (cancelled when its agent is gone). */
export interface CommandRow extends Omit<NewCommand, 'status'> {
  status: NewCommand['status'] | 'cancelled';
  finished_at: string | null;
  error: string | null;
}

export function commandRows(commands: NewCommand[], targets: Map<string, TargetState>, now: string): CommandRow[] {
  return commands.map((c) => {
    const gone = targets.get(c.agent_id)?.removed !== false;
    return {
      ...c, status: gone ? 'cancelled' : c.status, finished_at: gone || isFinal(c.status) ? now : null,
      error: gone ? REMOVAL_REASONS.notStarted : null,
    };
  });
}

/** The run and its commands as getRun and commandsOfRun (by agent name) would read them right after the insert. */
export function createdRun(run: NewRun, rows: CommandRow[], targets: Map<string, TargetState>, now: string): { run: RunRecord; commands: CommandRecord[] } {
  const commands = rows.map((c): CommandRecord => ({
    id: c.id, run_id: run.id, agent_id: c.agent_id, agent_name: targets.get(c.agent_id)!.name, requested_by: run.requested_by,
    kind: c.upgrade ? 'upgrade' : 'exec', upgrade: c.upgrade ?? null, command: c.command, args: c.args, timeout: c.timeout, env: c.env, cwd: c.cwd,
    status: c.status, delivery: null, exit_code: null, signal: null, stdout: c.stdout ?? '', stderr: '', stdout_bytes: 0, stderr_bytes: 0,
    stdout_truncated: false, stderr_truncated: false, error: c.error, last_push_error: null, cancel_requested_at: null,
    created_at: now, expires_at: c.expires_at, dispatched_at: null, started_at: null, finished_at: c.finished_at,
  }));
  // names are ASCII ([A-Za-z0-9_.-]): code-unit order is the byte order both databases sort by
  commands.sort((a, b) => (a.agent_name < b.agent_name ? -1 : a.agent_name > b.agent_name ? 1 : 0));
  const counts = new Map<CommandStatus, { n: number; last: string | null }>();
  for (const c of rows) {
    const k = counts.get(c.status) ?? { n: 0, last: null };
    k.n++;
    if (c.finished_at && (!k.last || c.finished_at > k.last)) k.last = c.finished_at;
    counts.set(c.status, k);
  }
  const row = { ...run, args: JSON.stringify(run.args), created_at: now };
  return { run: toRun(row, [...counts].map(([status, k]) => ({ status, ...k }))), commands };
}

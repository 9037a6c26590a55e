// The agent's durable journal of accepted command ids (so a command delivered twice runs once)
// and its spool of results not yet acknowledged by the control plane (so none is lost).

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { JOURNAL_MIGRATIONS } from './journal-migrations.ts';
import { openSqlite, transaction } from '../common/sqlite.ts';
import type { AgentCommandState, CommandResult, ExecuteRequest } from '../protocol/wire.ts';


export interface JournalEntry {
  id: string;
  request: ExecuteRequest;
  state: AgentCommandState;
  accepted_at: string;
  started_at: string | null;
  result: CommandResult | null;
  reported_at: string | null;
  pid: number | null;
  pid_start: string | null;
}

type Row = {
  id: string; request: string; state: string; accepted_at: string; started_at: string | null; result: string | null;
  reported_at: string | null; pid: number | null; pid_start: string | null;
};

export class Journal {
  readonly #db: DatabaseSync;
  readonly #stmt: Record<string, StatementSync>;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.#db = openSqlite(path, JOURNAL_MIGRATIONS);
    const p = (sql: string) => this.#db.prepare(sql);
    this.#stmt = {
      get: p('SELECT * FROM commands WHERE id = ?'),
      insert: p(`INSERT INTO commands (id, request, state, accepted_at, started_at) VALUES (?, ?, 'running', ?, ?)`),
      finish: p('UPDATE commands SET state = ?, result = ?, finished_at = ? WHERE id = ? AND result IS NULL'),
      reported: p('UPDATE commands SET reported_at = ? WHERE id = ?'),
      unreported: p('SELECT id FROM commands WHERE reported_at IS NULL AND result IS NOT NULL ORDER BY finished_at'),
      interrupted: p(`SELECT * FROM commands WHERE state = 'running'`),
      setPid: p('UPDATE commands SET pid = ?, pid_start = ? WHERE id = ?'),
    };
  }

  /** Records the id before anything runs; `created` is false when it was accepted before. */
  accept(request: ExecuteRequest, now: string): { created: boolean; entry: JournalEntry } {
    return transaction(this.#db, () => {
      const existing = this.get(request.command_id);
      if (existing) return { created: false, entry: existing };
      this.#stmt.insert!.run(request.command_id, JSON.stringify(request), now, now);
      return { created: true, entry: this.get(request.command_id)! };
    });
  }

  get(id: string): JournalEntry | undefined {
    const row = this.#stmt.get!.get(id) as Row | undefined;
    return row ? toEntry(row) : undefined;
  }

  /** Stores the final result (first one wins); it stays in the spool until reported. */
  finish(id: string, result: CommandResult): boolean {
    return Number(this.#stmt.finish!.run(result.status, JSON.stringify(result), result.finished_at, id).changes) > 0;
  }

  /** Remembers the process group, so a later run can stop it if this one dies. */
  setProcess(id: string, pid: number, startTime: string | null): void {
    this.#stmt.setPid!.run(pid, startTime, id);
  }

  markReported(id: string, now: string): void {
    this.#stmt.reported!.run(now, id);
  }

  unreported(): string[] {
    return (this.#stmt.unreported!.all() as { id: string }[]).map((r) => r.id);
  }

  /** Commands that were running when the agent last stopped: they can never finish now. */
  interrupted(): JournalEntry[] {
    return (this.#stmt.interrupted!.all() as Row[]).map(toEntry);
  }

  close(): void {
    this.#db.close();
  }
}

function toEntry(r: Row): JournalEntry {
  return {
    id: r.id,
    request: JSON.parse(r.request) as ExecuteRequest,
    state: r.state as AgentCommandState,
    accepted_at: r.accepted_at,
    started_at: r.started_at,
    result: r.result ? (JSON.parse(r.result) as CommandResult) : null,
    reported_at: r.reported_at,
    pid: r.pid,
    pid_start: r.pid_start,
  };
}

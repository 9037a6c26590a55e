// The agent's durable journal of accepted command ids (so a command delivered twice runs once)
// and its spool of results not yet acknowledged by the control plane (so none is lost).
// On a full or read-only disk a write throws JournalUnwritableError (reads too while the file
// cannot even be opened); a probe write every few seconds notices when it works again.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Logger } from '../common/logger.ts';
import { openSqlite, transaction } from '../common/sqlite.ts';
import type { AgentCommandState, CommandResult, ExecuteRequest, JournalStatus } from '../protocol/wire.ts';
import { JournalHealth, JournalUnwritableError, storageFault, unlessUnwritable } from './journal-health.ts';
import { JOURNAL_MIGRATIONS } from './journal-migrations.ts';

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

export interface JournalOptions {
  /** While the journal is not writable, a probe write is tried this often. @default 2000 */
  probeMs?: number;
}

type Row = {
  id: string; request: string; state: string; accepted_at: string; started_at: string | null; result: string | null;
  reported_at: string | null; pid: number | null; pid_start: string | null;
};

type Statements = Record<'get' | 'insert' | 'finish' | 'reported' | 'unreported' | 'interrupted' | 'setPid' | 'probe', StatementSync>;

export class Journal {
  readonly path: string;
  readonly #log: Logger;
  readonly #health: JournalHealth;
  readonly #probeMs: number;
  readonly #onWritable: (() => void)[] = [];
  #db: DatabaseSync | null = null;
  #stmt: Statements | null = null;
  #probeTimer: NodeJS.Timeout | undefined;
  #closed = false;

  /** Never throws for want of storage: the agent starts anyway and refuses commands until it can write. */
  constructor(path: string, log: Logger, opts: JournalOptions = {}) {
    this.path = path;
    this.#log = log;
    this.#health = new JournalHealth(path, log);
    this.#probeMs = opts.probeMs ?? 2000;
    unlessUnwritable(() => this.#open());
  }

  status(): Omit<JournalStatus, 'held_results'> {
    return this.#health.status();
  }

  /** `fn` runs (just after, not inside, the write that showed it) each time the journal is writable again. */
  onWritable(fn: () => void): void {
    this.#onWritable.push(fn);
  }

  /** Records the id before anything runs; `created` is false when it was accepted before. */
  accept(request: ExecuteRequest, now: string): { created: boolean; entry: JournalEntry } {
    // A repeat delivery is answered from what is there, even while nothing can be written.
    const existing = this.get(request.command_id);
    if (existing) return { created: false, entry: existing };
    return this.#write((s) => transaction(this.#db!, () => {
      const again = getEntry(s, request.command_id);
      if (again) return { created: false, entry: again };
      s.insert.run(request.command_id, JSON.stringify(request), now, now);
      return { created: true, entry: getEntry(s, request.command_id)! };
    }));
  }

  get(id: string): JournalEntry | undefined {
    return this.#read((s) => getEntry(s, id));
  }

  /** Stores the final result (first one wins); it stays in the spool until reported. */
  finish(id: string, result: CommandResult): boolean {
    return this.#write((s) => Number(s.finish.run(result.status, JSON.stringify(result), result.finished_at, id).changes) > 0);
  }

  /** Remembers the process group, so a later run can stop it if this one dies. */
  setProcess(id: string, pid: number, startTime: string | null): void {
    this.#write((s) => s.setPid.run(pid, startTime, id));
  }

  markReported(id: string, now: string): void {
    this.#write((s) => s.reported.run(now, id));
  }

  unreported(): string[] {
    return this.#read((s) => (s.unreported.all() as { id: string }[]).map((r) => r.id));
  }

  /** Commands marked running: the previous run of the agent left them (or this one is running them). */
  interrupted(): JournalEntry[] {
    return this.#read((s) => (s.interrupted.all() as Row[]).map(toEntry));
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#probeTimer);
    this.#db?.close();
    this.#db = null;
    this.#stmt = null;
  }

  #open(): Statements {
    if (this.#closed) throw new Error('the journal is closed');
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const db = openSqlite(this.path, JOURNAL_MIGRATIONS);
      this.#stmt = prepare(db);
      this.#db = db;
      return this.#stmt;
    } catch (err) {
      throw this.#fault(err);
    }
  }

  #read<T>(fn: (s: Statements) => T): T {
    const s = this.#stmt ?? this.#open(); // a journal that could not be opened is tried again
    try {
      return fn(s);
    } catch (err) {
      throw this.#fault(err);
    }
  }

  #write<T>(fn: (s: Statements) => T): T {
    const out = this.#read(fn);
    if (this.#health.succeeded()) {
      clearTimeout(this.#probeTimer);
      this.#probeTimer = undefined;
      setImmediate(() => {
        if (this.#closed) return;
        for (const f of this.#onWritable) {
          try {
            f();
          } catch (err) {
            this.#log.error({ err }, 'catching up after the journal became writable failed');
          }
        }
      });
    }
    return out;
  }

  /** A storage fault becomes JournalUnwritableError (and starts probing); anything else is left as it is. */
  #fault(err: unknown): unknown {
    if (err instanceof JournalUnwritableError) return err;
    const reason = storageFault(err);
    if (reason === null) return err;
    this.#scheduleProbe();
    return this.#health.failed(reason);
  }

  #scheduleProbe(): void {
    if (this.#probeTimer || this.#closed) return;
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = undefined;
      if (this.#health.writable || this.#closed) return;
      try {
        this.#write((s) => s.probe.run(new Date().toISOString()));
      } catch (err) {
        // still not writable: #fault has scheduled the next probe
        if (!(err instanceof JournalUnwritableError)) this.#log.warn({ err }, 'journal write probe failed');
      }
    }, this.#probeMs);
    this.#probeTimer.unref();
  }
}

function prepare(db: DatabaseSync): Statements {
  const p = (sql: string) => db.prepare(sql);
  return {
    get: p('SELECT * FROM commands WHERE id = ?'),
    insert: p(`INSERT INTO commands (id, request, state, accepted_at, started_at) VALUES (?, ?, 'running', ?, ?)`),
    finish: p('UPDATE commands SET state = ?, result = ?, finished_at = ? WHERE id = ? AND result IS NULL'),
    reported: p('UPDATE commands SET reported_at = ? WHERE id = ?'),
    unreported: p('SELECT id FROM commands WHERE reported_at IS NULL AND result IS NOT NULL ORDER BY finished_at'),
    interrupted: p(`SELECT * FROM commands WHERE state = 'running'`),
    setPid: p('UPDATE commands SET pid = ?, pid_start = ? WHERE id = ?'),
    probe: p('INSERT INTO write_probe (id, written_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at'),
  };
}

function getEntry(s: Statements, id: string): JournalEntry | undefined {
  const row = s.get.get(id) as Row | undefined;
  return row ? toEntry(row) : undefined;
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

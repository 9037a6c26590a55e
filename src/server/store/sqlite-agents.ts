// The SQLite store's agents, kept in memory as well: every agent request looks its agent up by
// token hash, and `myx agents`, every run and every enrollment want the list, which on 10,000
// agents took 60-150 ms to read and map each time. Writes through this connection update the copy
// as they commit; a commit by any other connection to the database (SQLite's `data_version` says
// so) makes the next read load the table again, so two stores on one file stay exact.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { toAgent, type Row } from './rows.ts';
import type { AgentRow } from './store.ts';
import type { Labels } from '../../protocol/wire.ts';

export class SqliteAgents {
  readonly #all: StatementSync;
  readonly #byIdStmt: StatementSync;
  readonly #dataVersion: StatementSync;
  #version = -1;
  readonly #byId = new Map<string, AgentRow>();
  readonly #idByTokenHash = new Map<string, string>();
  /** Enrolled agents by name (byte-wise: names are ASCII), made when asked for after a change of who is enrolled. */
  #active: AgentRow[] | null = null;

  constructor(db: DatabaseSync) {
    this.#all = db.prepare('SELECT * FROM agents');
    this.#byIdStmt = db.prepare('SELECT * FROM agents WHERE id = ?');
    this.#dataVersion = db.prepare('PRAGMA data_version');
  }

  /** The agent holding this token hash, removed or not. */
  byTokenHash(tokenHash: string): AgentRow | undefined {
    this.#fresh();
    const id = this.#idByTokenHash.get(tokenHash);
    return id === undefined ? undefined : this.#byId.get(id);
  }

  byId(id: string): AgentRow | undefined {
    this.#fresh();
    return this.#byId.get(id);
  }

  /** Enrolled agents by name; a new array each time (the rows are frozen). */
  active(): AgentRow[] {
    this.#fresh();
    this.#active ??= [...this.#byId.values()].filter((a) => a.removed_at === null).sort((a, b) => compare(a.name, b.name));
    return this.#active.slice();
  }

  /** After a committed write of this connection: the agent's row as it is now (read again unless given). */
  changed(id: string, row?: Row): AgentRow | undefined {
    this.#fresh(); // an outside commit before ours: load it all (ours included) rather than mix
    row ??= this.#byIdStmt.get(id) as Row | undefined;
    if (!row) return undefined;
    const before = this.#byId.get(id);
    const agent = keep(row, before);
    this.#byId.set(id, agent);
    this.#idByTokenHash.set(row.token_hash as string, id);
    if (!before || before.removed_at !== agent.removed_at) this.#active = null;
    else if (this.#active && agent.removed_at === null) this.#active[indexOf(this.#active, agent.name)] = agent;
    return agent;
  }

  /** Reads the table again on the next use (a write whose row this copy took was not committed after all). */
  forget(): void {
    this.#version = -1;
  }

  /** Loads the table when another connection committed since (or on first use). */
  #fresh(): void {
    const version = (this.#dataVersion.get() as { data_version: number }).data_version;
    if (version === this.#version) return;
    this.#byId.clear();
    this.#idByTokenHash.clear();
    for (const row of this.#all.all() as Row[]) {
      this.#byId.set(row.id as string, keep(row));
      this.#idByTokenHash.set(row.token_hash as string, row.id as string);
    }
    this.#active = null;
    this.#version = version;
  }
}

/** Labels of agents that have none (most): one frozen object for all. */
const NO_LABELS: Labels = Object.freeze({});

/**
 * Rows are shared by every caller: frozen, labels included. A heartbeat replaces an agent's row:
 * what it did not change (all of it but the time, usually) is taken from the row before, so the
 * new row holds the strings and labels the cache already has rather than copies of them (the row
 * outlives young-generation collections, so its copies would be promoted, and freed only by a full
 * collection, on every heartbeat of every agent).
 */
function keep(row: Row, before?: AgentRow): AgentRow {
  const a = toAgent(row);
  a.labels = sharedLabels(a.labels, before?.labels);
  a.operator_labels = sharedLabels(a.operator_labels, before?.operator_labels);
  if (before) {
    const fresh = a as unknown as Record<string, unknown>;
    const old = before as unknown as Record<string, unknown>;
    for (const k of STRING_FIELDS) if (typeof fresh[k] === 'string' && fresh[k] === old[k]) fresh[k] = old[k];
  }
  return Object.freeze(a);
}

const STRING_FIELDS = ['id', 'name', 'token', 'hostname', 'os', 'version', 'mode', 'fingerprint', 'advertise_address', 'remote_address', 'enrolled_at', 'push_state', 'push_error', 'push_failed_at'] as const satisfies readonly (keyof AgentRow)[];

function sharedLabels(labels: Labels, before: Labels | undefined): Labels {
  const keys = Object.keys(labels);
  if (keys.length === 0) return NO_LABELS;
  if (before && sameEntries(keys, labels, before)) return before;
  return Object.freeze(labels);
}

/** The same keys in the same order (as the stored JSON has them), with the same values. */
function sameEntries(keys: string[], labels: Labels, before: Labels): boolean {
  const old = Object.keys(before);
  return old.length === keys.length && keys.every((k, i) => old[i] === k && before[k] === labels[k]);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Where the enrolled agent named `name` is in `list` (sorted by name; enrolled names are unique). */
function indexOf(list: AgentRow[], name: string): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compare(list[mid]!.name, name);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  throw new Error(`agent ${name} is not in the list of enrolled agents`);
}

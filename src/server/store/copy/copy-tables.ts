// What `myx store copy` carries from one store to another: every table that holds state an agent
// or operator relies on (tokens, agents, runs, commands, output, the cluster's certificate, console
// sessions), in
// an order that keeps references valid. Not copied: the replica registry (it describes processes,
// not state) and schema_migrations (each side has its own).

export interface CopyTable {
  name: string;
  /** The columns copied, the same names on both backends. */
  columns: string[];
  /** Columns PostgreSQL keeps as bytea (text that may hold NUL): strings in between. */
  bytes?: string[];
  /** Columns SQLite keeps as 0/1 and PostgreSQL as boolean: booleans in between. */
  flags?: string[];
}

export const COPY_TABLES: CopyTable[] = [
  { name: 'operator_tokens', columns: ['token_hash', 'name', 'created_at'] },
  { name: 'enrollment_tokens', columns: ['id', 'token_hash', 'created_at', 'expires_at', 'used_at', 'used_by_agent', 'revoked_at'] },
  {
    name: 'agents',
    columns: ['id', 'name', 'token_hash', 'token', 'hostname', 'os', 'version', 'mode', 'web_port', 'fingerprint', 'advertise_address',
      'remote_address', 'labels', 'operator_labels', 'enrolled_at', 'last_heartbeat_at', 'removed_at', 'push_state', 'push_error',
      'push_failures', 'push_failed_at'],
    bytes: ['hostname', 'os', 'version', 'fingerprint', 'push_error'],
  },
  { name: 'runs', columns: ['id', 'command', 'args', 'target', 'max_concurrency', 'max_errors', 'created_at'], bytes: ['target'] },
  {
    // In the order they were created (SQLite's rowid, PostgreSQL's seq): the tie-break of equal times.
    name: 'commands',
    columns: ['id', 'run_id', 'agent_id', 'upgrade', 'command', 'args', 'timeout', 'env', 'cwd', 'status', 'delivery', 'exit_code', 'signal', 'stdout',
      'stderr', 'stdout_bytes', 'stderr_bytes', 'stdout_truncated', 'stderr_truncated', 'error', 'last_push_error', 'created_at',
      'expires_at', 'dispatched_at', 'lease_expires_at', 'cancel_requested_at', 'started_at', 'finished_at', 'output_offset', 'claim'],
    bytes: ['signal', 'stdout', 'stderr', 'error', 'last_push_error'],
    flags: ['stdout_truncated', 'stderr_truncated'],
  },
  { name: 'command_output', columns: ['command_id', 'offset', 'stream', 'data'], bytes: ['data'] },
  { name: 'cluster_identity', columns: ['id', 'fingerprint', 'recorded_at'] },
  // operators signed in to the web console stay signed in
  { name: 'console_sessions', columns: ['id_hash', 'operator_token_hash', 'created_at', 'last_seen_at', 'expires_at'] },
];

/** A row in between: text as strings, numbers as numbers, flags as booleans, absent as null. */
export type CopyRow = Record<string, string | number | boolean | null>;

/** One side of a copy, whatever its backend. */
export interface CopyEnd {
  /** `display`: where it is, fit for a log (no password). */
  readonly display: string;
  /** The source's rows of `table`, in creation order for commands, in batches. Read in one snapshot. */
  read(table: CopyTable): AsyncIterable<CopyRow[]>;
  /** Rows in the tables a copy fills (the target must have none unless forced). */
  countRows(): Promise<number>;
  /** Runs `fn` in one transaction on the target: the copy lands whole or not at all. */
  writeAll(fn: (w: { clear(): Promise<void>; insert(table: CopyTable, rows: CopyRow[]): Promise<void> }) => Promise<void>): Promise<void>;
  /** Source reads happen inside this (one consistent snapshot). */
  snapshot<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export const quoted = (column: string): string => `"${column}"`;

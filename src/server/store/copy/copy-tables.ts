// What `myx store copy` carries from one store to another: every table that holds state an agent
// or operator relies on (operators and their tokens, agents, runs, commands, output, the cluster's
// certificate, console sessions, the audit log, webhooks and their deliveries), in an order that
// keeps references valid. Webhooks come after runs and commands: the triggers that enqueue their
// events find none while those are written, so the copy enqueues nothing of its own. Not copied: the replica registry (it describes processes,
// not state) and schema_migrations (each side has its own).

export interface CopyTable {
  name: string;
  /** The columns copied, the same names on both backends. */
  columns: string[];
  /** Columns PostgreSQL keeps as bytea (text that may hold NUL): strings in between. */
  bytes?: string[];
  /** Columns SQLite keeps as 0/1 and PostgreSQL as boolean: booleans in between. */
  flags?: string[];
  /** Columns of raw bytes (BLOB, bytea): bytes in between. */
  blobs?: string[];
  /** Rows read and written at a time. @default 1000 */
  batch?: number;
}

export const COPY_TABLES: CopyTable[] = [
  { name: 'operators', columns: ['id', 'name', 'role', 'scope', 'created_at', 'last_used_at'] },
  { name: 'operator_tokens', columns: ['token_hash', 'name', 'created_at', 'operator_id'] },
  { name: 'enrollment_tokens', columns: ['id', 'token_hash', 'created_at', 'expires_at', 'used_at', 'used_by_agent', 'revoked_at'] },
  {
    name: 'agents',
    columns: ['id', 'name', 'token_hash', 'token', 'hostname', 'os', 'version', 'mode', 'web_port', 'fingerprint', 'advertise_address',
      'remote_address', 'labels', 'operator_labels', 'enrolled_at', 'last_heartbeat_at', 'removed_at', 'push_state', 'push_error',
      'push_failures', 'push_failed_at'],
    bytes: ['hostname', 'os', 'version', 'fingerprint', 'push_error'],
  },
  { name: 'runs', columns: ['id', 'command', 'args', 'target', 'max_concurrency', 'max_errors', 'created_at', 'requested_by'], bytes: ['target'] },
  {
    // In the order they were created (SQLite's rowid, PostgreSQL's seq): the tie-break of equal times.
    name: 'commands',
    columns: ['id', 'run_id', 'agent_id', 'upgrade', 'command', 'args', 'timeout', 'env', 'cwd', 'status', 'delivery', 'exit_code', 'signal', 'stdout',
      'stderr', 'stdout_bytes', 'stderr_bytes', 'stdout_truncated', 'stderr_truncated', 'error', 'last_push_error', 'created_at',
      'expires_at', 'dispatched_at', 'lease_expires_at', 'cancel_requested_at', 'started_at', 'finished_at', 'output_offset', 'claim',
      'requested_by', 'output_head_limit', 'output_tail_limit', 'stdout_head', 'stdout_tail_from', 'stdout_end', 'stdout_seen', 'stderr_head',
      'stderr_tail_from', 'stderr_end', 'stderr_seen', 'output_bytes', 'output_dropped_at'],
    bytes: ['signal', 'stdout', 'stderr', 'error', 'last_push_error'],
    flags: ['stdout_truncated', 'stderr_truncated'],
  },
  // chunks of up to 256 KiB: a few at a time
  { name: 'output_chunks', columns: ['command_id', 'stream', 'offset', 'at', 'size', 'data'], blobs: ['data'], batch: 16 },
  { name: 'cluster_identity', columns: ['id', 'fingerprint', 'recorded_at'] },
  // operators signed in to the web console stay signed in
  { name: 'console_sessions', columns: ['id_hash', 'operator_token_hash', 'created_at', 'last_seen_at', 'expires_at'] },
  // the audit log as it is, hashes and all: the copy verifies as the original did (or did not)
  { name: 'audit_log', columns: ['seq', 'at', 'actor_kind', 'actor', 'actor_id', 'action', 'targets', 'details', 'source', 'outcome', 'prev_hash', 'hash'] },
  { name: 'audit_head', columns: ['id', 'seq', 'hash'] },
  { name: 'webhooks', columns: ['id', 'url', 'events', 'secret', 'fingerprint', 'created_at', 'created_by'] },
  {
    name: 'webhook_deliveries',
    columns: ['id', 'webhook_id', 'event', 'event_id', 'subject_id', 'state', 'attempts', 'created_at', 'next_attempt_at', 'claim', 'claimed_until',
      'last_attempt_at', 'last_status', 'last_error', 'delivered_at', 'history'],
  },
];

/** A row in between: text as strings, numbers as numbers, flags as booleans, bytes as bytes, absent as null. */
export type CopyRow = Record<string, string | number | boolean | Uint8Array | null>;

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

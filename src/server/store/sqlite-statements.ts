// Every SQL statement of the SQLite store, in one place (STYLE.md: SQL in one place), prepared
// once per connection. The store's methods name them; the row mapping is in rows.ts.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { FINAL_STATUSES } from '../../protocol/command-status.ts';
import { AUDIT_COLUMNS } from './audit-chain.ts';
import { COMMAND_COLUMNS, OUTPUT_STATE_COLUMNS } from './rows.ts';

export const SELECT_COMMAND = `SELECT ${COMMAND_COLUMNS} FROM commands c JOIN agents a ON a.id = c.agent_id`;
const ENROLLMENT_COLUMNS = 'id, created_at, expires_at, used_at, used_by_agent, revoked_at';
/**
 * Nothing is handed to an agent while one of its upgrades is handed out or running: it would
 * refuse it (AGENT_UPGRADING) and the command would wait out a lease. It goes after the upgrade.
 */
const NOT_UPGRADING = `NOT EXISTS (SELECT 1 FROM commands u WHERE u.agent_id = commands.agent_id AND u.upgrade IS NOT NULL
  AND u.status IN ('dispatched', 'running') AND u.id <> commands.id)`;

/** Push health's columns, and when a heartbeat starts it over: the address, port, mode or certificate pushes use changed. */
const PUSH_RESET = ['push_state', 'push_error', 'push_failures', 'push_failed_at'];
const PUSH_TARGET_CHANGED = `(fingerprint IS NOT $fingerprint OR mode IS NOT $mode OR web_port IS NOT $web_port
  OR COALESCE(advertise_address, remote_address) IS NOT COALESCE($advertise_address, $remote_address))`;

export function prepareStatements(db: DatabaseSync) {
  const p = (sql: string): StatementSync => db.prepare(sql);
  return {
    addOperatorToken: p('INSERT INTO operator_tokens (token_hash, name, created_at, operator_id) VALUES (?, ?, ?, ?)'),
    operatorToken: p('SELECT 1 AS ok FROM operator_tokens WHERE token_hash = ?'),
    addOperator: p('INSERT INTO operators (id, name, role, scope, created_at) VALUES (?, ?, ?, ?, ?)'),
    operatorByName: p('SELECT * FROM operators WHERE name = ?'),
    listOperators: p('SELECT * FROM operators ORDER BY name'),
    operatorByTokenHash: p('SELECT o.* FROM operator_tokens t JOIN operators o ON o.id = t.operator_id WHERE t.token_hash = ?'),
    touchOperator: p('UPDATE operators SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)'),
    countOperators: p('SELECT COUNT(*) AS n FROM operators'),
    countAdmins: p(`SELECT COUNT(*) AS n FROM operators WHERE role = 'admin'`),
    endOperatorSessions: p('DELETE FROM console_sessions WHERE operator_token_hash IN (SELECT token_hash FROM operator_tokens WHERE operator_id = ?)'),
    deleteOperatorTokens: p('DELETE FROM operator_tokens WHERE operator_id = ?'),
    deleteOperator: p('DELETE FROM operators WHERE id = ?'),
    auditHead: p('SELECT seq, hash FROM audit_head WHERE id = 1'),
    insertAudit: p(`INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (${AUDIT_COLUMNS.split(',').map(() => '?').join(', ')})`),
    setAuditHead: p('INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash'),
    addSession: p(`INSERT INTO console_sessions (id_hash, operator_token_hash, created_at, last_seen_at, expires_at)
      VALUES ($id_hash, $operator_token_hash, $now, $now, $expires_at)`),
    useSession: p(`UPDATE console_sessions SET last_seen_at = MAX(last_seen_at, $now)
      WHERE id_hash = $id_hash AND expires_at > $now AND last_seen_at > $seen_after
      AND EXISTS (SELECT 1 FROM operator_tokens o WHERE o.token_hash = console_sessions.operator_token_hash)
      RETURNING id_hash, operator_token_hash, created_at, last_seen_at, expires_at`),
    endSession: p('DELETE FROM console_sessions WHERE id_hash = ?'),
    deleteStaleSessions: p('DELETE FROM console_sessions WHERE expires_at <= ? OR last_seen_at <= ?'),
    addEnrollment: p('INSERT INTO enrollment_tokens (id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)'),
    outstandingEnrollments: p('SELECT COUNT(*) AS n FROM enrollment_tokens WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > ?'),
    enrollment: p('SELECT expires_at, used_at, revoked_at FROM enrollment_tokens WHERE token_hash = ?'),
    useEnrollment: p('UPDATE enrollment_tokens SET used_at = ?, used_by_agent = ? WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL'),
    listEnrollments: p(`SELECT ${ENROLLMENT_COLUMNS} FROM enrollment_tokens ORDER BY created_at DESC, id DESC LIMIT ?`),
    enrollmentById: p(`SELECT ${ENROLLMENT_COLUMNS} FROM enrollment_tokens WHERE id = ?`),
    revokeEnrollment: p('UPDATE enrollment_tokens SET revoked_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL'),
    agentByName: p('SELECT id FROM agents WHERE name = ? AND removed_at IS NULL'),
    insertAgent: p(`INSERT INTO agents (id, name, token_hash, token, hostname, os, version, mode, web_port, fingerprint,
      advertise_address, remote_address, labels, enrolled_at, last_heartbeat_at)
      VALUES ($id, $name, $token_hash, $token, $hostname, $os, $version, $mode, $web_port, $fingerprint,
      $advertise_address, $remote_address, $labels, $now, NULL)`),
    agentById: p('SELECT * FROM agents WHERE id = ?'),
    // Push health starts over when where and how pushes go changed (SET reads the row as it was).
    heartbeat: p(`UPDATE agents SET hostname = $hostname, os = $os, version = $version, mode = $mode, web_port = $web_port,
      fingerprint = $fingerprint, advertise_address = $advertise_address, remote_address = $remote_address,
      labels = $labels, last_heartbeat_at = $now,
      ${PUSH_RESET.map((c) => `${c} = CASE WHEN ${PUSH_TARGET_CHANGED} THEN ${c === 'push_failures' ? '0' : 'NULL'} ELSE ${c} END`).join(', ')}
      WHERE id = $id RETURNING *`),
    pushOk: p(`UPDATE agents SET push_state = 'ok', push_error = NULL, push_failures = 0, push_failed_at = NULL
      WHERE id = ? AND (push_state IS NOT 'ok' OR push_failures <> 0)`),
    pushFailed: p(`UPDATE agents SET push_state = 'failing', push_error = $error, push_failures = push_failures + 1,
      push_failed_at = $at WHERE id = $id`),
    pushReset: p('UPDATE agents SET push_state = NULL, push_error = NULL, push_failures = 0, push_failed_at = NULL WHERE id = ?'),
    awaitingPush: p(`SELECT c.id FROM commands c JOIN agents a ON a.id = c.agent_id
      WHERE c.status = 'queued' AND c.created_at < $before AND c.last_push_error IS NULL AND (c.expires_at IS NULL OR c.expires_at > $now)
        AND a.mode = 'web' AND a.removed_at IS NULL ORDER BY c.created_at, c.rowid LIMIT $limit`),
    commandAgent: p('SELECT agent_id FROM commands WHERE id = ?'),
    recordReplica: p(`INSERT INTO replicas (id, public_url, version, started_at, last_seen_at, sweeper)
      VALUES ($id, $public_url, $version, $started_at, $last_seen_at, $sweeper)
      ON CONFLICT (id) DO UPDATE SET public_url = excluded.public_url, version = excluded.version,
        last_seen_at = excluded.last_seen_at, sweeper = excluded.sweeper`),
    listReplicas: p('SELECT * FROM replicas WHERE last_seen_at >= ? ORDER BY public_url, id'),
    removeReplica: p('DELETE FROM replicas WHERE id = ?'),
    forgetReplicas: p('DELETE FROM replicas WHERE last_seen_at < ?'),
    clusterFingerprint: p('SELECT fingerprint FROM cluster_identity WHERE id = 1'),
    recordClusterFingerprint: p('INSERT INTO cluster_identity (id, fingerprint, recorded_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING'),
    replaceClusterFingerprint: p(`INSERT INTO cluster_identity (id, fingerprint, recorded_at) VALUES (1, ?, ?)
      ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, recorded_at = excluded.recorded_at`),
    // fingerprints as agents report them, compared as normalizeFingerprint would (case, colons, a sha256: prefix)
    sharingCertificate: p(`SELECT name FROM agents WHERE removed_at IS NULL AND id <> ? AND fingerprint IS NOT NULL
      AND replace(replace(upper(trim(fingerprint)), 'SHA256:', ''), ':', '') = ? LIMIT 1`),
    listRemovedAgents: p('SELECT * FROM agents WHERE removed_at IS NOT NULL ORDER BY removed_at DESC, name'),
    setOperatorLabels: p('UPDATE agents SET operator_labels = ? WHERE id = ?'),
    insertRun: p(`INSERT INTO runs (id, command, args, target, max_concurrency, max_errors, created_at, requested_by)
      VALUES ($id, $command, $args, $target, $max_concurrency, $max_errors, $now, $requested_by)`),
    runById: p('SELECT * FROM runs WHERE id = ?'),
    listRuns: p('SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT ?'),
    runCounts: p('SELECT status, COUNT(*) AS n, MAX(finished_at) AS last FROM commands WHERE run_id = ? GROUP BY status'),
    // a scoped operator's view: runs with commands of these agents (a JSON array), counted over them
    listRunsOf: p(`SELECT * FROM runs WHERE id IN (SELECT run_id FROM commands WHERE agent_id IN (SELECT value FROM json_each($agents)))
      ORDER BY created_at DESC, id DESC LIMIT $limit`),
    runCountsOf: p(`SELECT status, COUNT(*) AS n, MAX(finished_at) AS last FROM commands
      WHERE run_id = $run AND agent_id IN (SELECT value FROM json_each($agents)) GROUP BY status`),
    commandsOfRun: p(`${SELECT_COMMAND} WHERE c.run_id = ? ORDER BY a.name`),
    commandStatesOfRun: p('SELECT id, agent_id, status FROM commands WHERE run_id = ? ORDER BY rowid'),
    runHasWaiting: p(`SELECT 1 FROM commands WHERE run_id = ? AND status = 'waiting' LIMIT 1`),
    waitingOfRun: p(`SELECT id FROM commands WHERE run_id = ? AND status = 'waiting' ORDER BY rowid LIMIT ?`),
    promote: p(`UPDATE commands SET status = 'queued' WHERE id = ? AND status = 'waiting'`),
    skip: p(`UPDATE commands SET status = 'skipped', finished_at = ?, error = ? WHERE id = ? AND status = 'waiting'`),
    runsWithWaiting: p(`SELECT DISTINCT run_id FROM commands WHERE status = 'waiting'`),
    markRemoved: p(`UPDATE agents SET removed_at = ?, token = '' WHERE id = ? AND removed_at IS NULL`),
    unfinishedOfAgent: p(`SELECT id, status FROM commands WHERE agent_id = ? AND status IN ('waiting', 'queued', 'dispatched', 'running')`),
    cancelForRemoval: p(`UPDATE commands SET status = 'cancelled', cancel_requested_at = COALESCE(cancel_requested_at, $now),
      finished_at = $now, lease_expires_at = NULL, error = $error WHERE id = $id`),
    targetsOfRun: p('SELECT id, name, removed_at FROM agents WHERE id IN (SELECT value FROM json_each(?))'),
    // a run's commands in one statement: $commands is a JSON array of rows, inserted in its order
    insertCommands: p(`INSERT INTO commands (id, run_id, agent_id, command, args, timeout, env, cwd, status, created_at, expires_at, finished_at, error,
      upgrade, stdout, requested_by)
      SELECT value ->> '$.id', $run_id, value ->> '$.agent_id', value ->> '$.command', value ->> '$.args', value ->> '$.timeout',
        value ->> '$.env', value ->> '$.cwd', value ->> '$.status', $now, value ->> '$.expires_at', value ->> '$.finished_at', value ->> '$.error',
        value ->> '$.upgrade', value ->> '$.stdout', $requested_by
      FROM json_each($commands) ORDER BY key`),
    commandById: p(`${SELECT_COMMAND} WHERE c.id = ?`),
    commandsByIds: p(`${SELECT_COMMAND} WHERE c.id IN (SELECT value FROM json_each(?))`),
    owner: p('SELECT agent_id, status FROM commands WHERE id = ?'),
    claimForPush: p(`UPDATE commands SET status = 'dispatched', delivery = 'push', dispatched_at = $now, lease_expires_at = $lease,
      claim = $claim WHERE id = $id AND status = 'queued' AND ${NOT_UPGRADING} RETURNING agent_id`),
    releasePush: p(`UPDATE commands SET status = 'queued', delivery = NULL, dispatched_at = NULL, lease_expires_at = NULL,
      last_push_error = $error WHERE id = $id AND status = 'dispatched' AND delivery = 'push' AND claim = $claim RETURNING agent_id`),
    pushFailure: p('UPDATE commands SET last_push_error = ? WHERE id = ?'),
    // a heartbeat's first question, answered from the agent's queued commands alone: is there anything to claim?
    anyQueued: p(`SELECT 1 FROM commands WHERE agent_id = ? AND status = 'queued' LIMIT 1`),
    anyFallback: p(`SELECT 1 FROM commands WHERE agent_id = ? AND status = 'queued' AND (last_push_error IS NOT NULL OR created_at < ?) LIMIT 1`),
    claimable: p(`SELECT id FROM commands WHERE agent_id = ? AND status = 'queued' AND (expires_at IS NULL OR expires_at > ?)
      AND ${NOT_UPGRADING} ORDER BY created_at, rowid LIMIT ?`),
    claimableFallback: p(`SELECT id FROM commands WHERE agent_id = ? AND status = 'queued' AND (expires_at IS NULL OR expires_at > ?)
      AND (last_push_error IS NOT NULL OR created_at < ?) AND ${NOT_UPGRADING} ORDER BY created_at, rowid LIMIT ?`),
    handedOut: p(`SELECT id FROM commands WHERE agent_id = ? AND claim = ? AND status = 'dispatched' AND delivery = 'poll' ORDER BY rowid`),
    releaseHandOut: p(`UPDATE commands SET status = 'queued', delivery = NULL, dispatched_at = NULL, lease_expires_at = NULL
      WHERE id = ? AND status = 'dispatched' AND delivery = 'poll'`),
    claimForPoll: p(`UPDATE commands SET status = 'dispatched', delivery = 'poll', dispatched_at = $now, lease_expires_at = $lease, claim = $claim
      WHERE id = $id AND status = 'queued'`),
    started: p(`UPDATE commands SET status = 'running', started_at = COALESCE(started_at, $started_at), lease_expires_at = NULL
      WHERE id = $id AND status IN ('queued', 'dispatched')`),
    outputState: p(`SELECT agent_id, status, ${OUTPUT_STATE_COLUMNS},
      (SELECT at + size FROM output_chunks o WHERE o.command_id = c.id ORDER BY at DESC LIMIT 1) AS all_end FROM commands c WHERE id = ?`),
    setOutputState: p(`UPDATE commands SET output_offset = $output_offset,
      output_head_limit = COALESCE(output_head_limit, $head_limit), output_tail_limit = COALESCE(output_tail_limit, $tail_limit),
      stdout_head = $stdout_head, stdout_tail_from = $stdout_tail_from, stdout_end = $stdout_end, stdout_seen = $stdout_seen,
      stderr_head = $stderr_head, stderr_tail_from = $stderr_tail_from, stderr_end = $stderr_end, stderr_seen = $stderr_seen,
      output_bytes = output_bytes + $added WHERE id = $id`),
    insertChunk: p('INSERT INTO output_chunks (command_id, stream, "offset", at, size, data) VALUES (?, ?, ?, ?, ?, ?)'),
    streamChunks: chunkReads(p, '"offset"', 'AND stream = $stream'),
    allChunks: chunkReads(p, 'at', ''),
    keptOutputBytes: p('SELECT COALESCE(SUM(output_bytes), 0) AS n FROM commands WHERE output_bytes > 0'),
    oldestKeptOutput: p(`SELECT id, output_bytes, finished_at FROM commands WHERE output_bytes > 0 AND finished_at IS NOT NULL
      AND status IN (${FINAL_STATUSES.map((st) => `'${st}'`).join(', ')}) ORDER BY finished_at, id LIMIT ?`),
    deleteChunks: p('DELETE FROM output_chunks WHERE command_id = ?'),
    markOutputDropped: p('UPDATE commands SET output_bytes = 0, output_dropped_at = ? WHERE id = ? AND output_bytes > 0'),
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

export type Statements = ReturnType<typeof prepareStatements>;

/**
 * Reads of stored output chunks in one view: a stream by "offset" (`filter` names it), or both by
 * at. `containing`: the last chunk starting at or before $pos; `firstFrom`: where the first chunk
 * at or after $pos starts; `range`: chunks starting in [$from, $to), in order.
 */
function chunkReads(p: (sql: string) => StatementSync, pos: string, filter: string) {
  const chunk = `SELECT stream, "offset", at, data FROM output_chunks WHERE command_id = $id ${filter}`;
  return {
    containing: p(`${chunk} AND ${pos} <= $pos ORDER BY ${pos} DESC LIMIT 1`),
    firstFrom: p(`SELECT MIN(${pos}) AS pos FROM output_chunks WHERE command_id = $id ${filter} AND ${pos} >= $pos`),
    range: p(`${chunk} AND ${pos} >= $from AND ${pos} < $to ORDER BY ${pos}`),
  };
}

export type ChunkReads = ReturnType<typeof chunkReads>;


// The control plane's storage, as queue operations rather than SQL, with the concurrency contract
// every backend keeps (SQLite, PostgreSQL); one shared test suite (test/store.test.ts) runs on each.

import type { AuditDraft } from '../../protocol/audit.ts';
import type { CommandResult, CommandRecord, AgentFacts, Labels, RunRecord, UpgradeSpec } from '../../protocol/wire.ts';
import type { CommandStatus } from '../../protocol/command-status.ts';
import type { ClusterStore } from './cluster-store.ts';
import type { FleetCountsStore } from './fleet-counts.ts';
import type { OperatorStore } from './operator-store.ts';
import type { OutputStore } from './output-store.ts';
import type { WebhookStore } from './webhook-store.ts';

import type { StoreEventListener } from './store-events.ts';

/** What a backend can do, said once where it is defined (see STYLE.md, capability flags). */
export interface StoreCapabilities {
  /** One writer at a time (SQLite): callers must not expect parallel write throughput. */
  singleWriter: boolean;
  /** Rows can be claimed with FOR UPDATE SKIP LOCKED by several replicas. */
  supportsSkipLocked: boolean;
  /** Replicas can wake each other (LISTEN/NOTIFY). */
  supportsListenNotify: boolean;
  /**
   * Several control-plane replicas may share the database (PostgreSQL), so they must agree on one
   * certificate (ClusterStore.clusterFingerprint). False: one process owns it (SQLite).
   */
  supportsReplicas: boolean;
}

/**
 * An agent as stored. `token` is kept because the control plane must present it when it pushes.
 * A removed agent keeps its row (its commands keep their history): `removed_at` is set, `token`
 * is emptied, and its token hash still finds it, so a request with its old token can be told
 * AGENT_REMOVED rather than "invalid".
 */
export interface AgentRow extends AgentFacts {
  id: string;
  /** Labels set by operators (`labels` holds the agent's own, from its config). */
  operator_labels: Labels;
  token: string;
  /** The address the agent's last heartbeat came from. */
  remote_address: string | null;
  enrolled_at: string;
  last_heartbeat_at: string | null;
  /** When it was removed; null while enrolled. */
  removed_at: string | null;
  /**
   * Push health, shared by every replica: `ok` after a push went through, `failing` after one
   * failed (then `push_failures` in a row, the last at `push_failed_at`), null while untried or
   * since the agent's address, port, mode or certificate changed.
   */
  push_state: 'ok' | 'failing' | null;
  push_error: string | null;
  push_failures: number;
  push_failed_at: string | null;
}

/** What a push to an agent did, or (`reset`) that its health starts over (see recordPushHealth). */
export type PushOutcome = { kind: 'ok' } | { kind: 'failed'; error: string; at: string } | { kind: 'reset' };

export interface NewAgent extends AgentFacts {
  id: string;
  token: string;
  tokenHash: string;
  remote_address: string | null;
}

/** What creating a run takes: the run's own fields, before any command or count. */
export type NewRun = Pick<RunRecord, 'id' | 'command' | 'args' | 'target' | 'max_concurrency' | 'max_errors' | 'requested_by'>;

export interface NewCommand {
  id: string;
  /**
   * `waiting` when rate control holds it back; `succeeded` for one with nothing to do (an upgrade
   * to the version the agent already runs), which says why in `stdout`.
   */
  status: 'queued' | 'waiting' | 'succeeded';
  /** An upgrade command: what it installs (the agent replaces itself instead of running `command`). */
  upgrade?: UpgradeSpec | null;
  stdout?: string;
  agent_id: string;
  command: string;
  args: string[];
  timeout: number;
  env: Record<string, string> | null;
  cwd: string | null;
  expires_at: string;
}

export type EnrollOutcome =
  | { ok: true; agent: AgentRow }
  | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'revoked' | 'name_taken' };

/** An enrollment token as stored: never its secret (only the secret's hash is kept, and not shown). */
export interface EnrollmentTokenRow {
  id: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  used_by_agent: string | null;
  revoked_at: string | null;
}

export interface NewEnrollmentToken {
  id: string;
  tokenHash: string;
  expiresAt: string;
}

/** A web console session as stored: the hash of its id, never the id (the cookie's value). */
export interface SessionRow {
  id_hash: string;
  /** The operator token it was signed in with, by its hash: the session lives only as long as that token is known. */
  operator_token_hash: string;
  created_at: string;
  /** The last request made with it; with the idle limit, when it ends if unused. */
  last_seen_at: string;
  /** The absolute end, whatever its use. */
  expires_at: string;
}

export interface NewSession {
  idHash: string;
  operatorTokenHash: string;
  expiresAt: string;
}

export type CreateTokenOutcome = { ok: true } | { ok: false; reason: 'too_many' };

export type RevokeTokenOutcome =
  | { kind: 'revoked' | 'used' | 'expired' | 'already_revoked'; token: EnrollmentTokenRow }
  | { kind: 'not_found' };

/** The `error` removeAgent (and createRun, for a removed target) gives the commands it ends; every backend uses these. */
export const REMOVAL_REASONS = {
  /** waiting or queued: it never reached the agent */
  notStarted: 'agent removed before the command started',
  /** dispatched or running: the agent had it */
  handedOut: 'agent removed after the command was handed to it; the agent is asked to stop it',
} as const;

export type RemoveOutcome =
  | {
    kind: 'removed';
    /** The agent as it was just before (token included, for a last cancel push), with `removed_at` set. */
    agent: AgentRow;
    /** Its commands that had not ended, now `cancelled`. */
    ended: CommandRecord[];
    /** Ids of those that were already handed to the agent (dispatched or running): the agent should stop them. */
    handedOut: string[];
  }
  | { kind: 'not_found' };

/** What claimForAgent handed out, and the claim that names the hand-out (releaseHandOut takes it). */
export interface HandOut {
  claim: string;
  commands: CommandRecord[];
}

/** Where a command is, without its record. */
export type CommandState = Pick<CommandRecord, 'id' | 'agent_id' | 'status'>;

export type CommandOutcome = { kind: 'ok'; command: CommandRecord } | { kind: 'not_found' } | { kind: 'not_yours' };

export type CancelOutcome =
  | { kind: 'cancelled' | 'requested' | 'final'; command: CommandRecord }
  | { kind: 'not_found' };

export interface CommandFilter {
  agentId?: string;
  /** Only commands of these agents (a scoped operator's). */
  agentIds?: string[];
  status?: CommandStatus;
  /** @default 50 */
  limit?: number;
}

export type ResultOutcome =
  | { kind: 'recorded'; command: CommandRecord }
  | { kind: 'duplicate'; command: CommandRecord }
  | { kind: 'not_found' }
  | { kind: 'not_yours' };

/**
 * The store contract. Several instances may share one database (replicas on one PostgreSQL, or
 * several SqliteStore on one file); test/store-concurrency.test.ts checks it with two at once.
 *
 * - Atomic: every write method takes effect entirely or not at all, and once its promise resolves
 *   every instance on the database sees it.
 * - Serial outcome: two concurrent calls end as if they ran one after the other, in some order.
 *   Where that order matters (who wins a claim, a token, a result) the method says what the
 *   loser sees.
 * - Returned records are read after the change committed and may already show later changes.
 *   "Exactly the rows it changed": the records returned are those this call changed, no others.
 * - Published: a write that changes a command's status, appends output, requests a cancel or
 *   leaves an agent something new publishes the matching StoreEvent from the write itself, to
 *   every instance subscribed on the database, once it committed (see subscribe). Each method
 *   below that does says which events.
 * - Audited: a write method that takes `audit` appends it to the audit log in the same
 *   transaction, when the action took effect (see OperatorStore).
 * - Time comes in as ISO-8601 UTC strings written by `Date.toISOString()`; backends store them as
 *   given and compare them byte-wise, which orders such strings in time. Text is byte-wise too
 *   (names sort as in C, `B` before `a`), whatever the database's locale.
 */
export interface Store extends ClusterStore, OperatorStore, OutputStore, WebhookStore, FleetCountsStore {
  readonly capabilities: StoreCapabilities;
  /** Releases the connection(s); the database and what other instances do are untouched. */
  close(): Promise<void>;

  /**
   * Hears the events of every write on the database, this instance's and others', in commit
   * order, after they committed (so what an event names can be read). SQLite: in process, the
   * writes of this instance (one process per database). PostgreSQL: NOTIFY, heard on a connection
   * of this instance's own; when it was lost and is back, `resync` says events may be missing.
   * Returns the unsubscribe function.
   */
  subscribe(listener: StoreEventListener): () => void;

  /** Stores a new console session, last seen `now`. Its id hash is random (256 bits): a clash is a bug and throws. Audits. */
  createSession(session: NewSession, now: string, audit?: AuditDraft): Promise<void>;
  /**
   * The session, when it is live at `now`: before its expires_at, last seen after `seenAfter` (the
   * idle limit), and its operator token still known. Using it moves last_seen_at to `now`, never
   * back (concurrent uses with different clocks keep the latest). One statement: a use concurrent
   * with endSession or deleteStaleSessions either finds the session whole or not at all.
   */
  useSession(idHash: string, now: string, seenAfter: string): Promise<SessionRow | undefined>;
  /** Ends a session (sign out); true when it existed. Of concurrent calls for one session, one gets true. Audits when it existed. */
  endSession(idHash: string, audit?: AuditDraft): Promise<boolean>;
  /** Deletes sessions past their end at `now`, or last seen at or before `seenBefore`; returns how many. */
  deleteStaleSessions(now: string, seenBefore: string): Promise<number>;

  /**
   * Creates a token unless `maxOutstanding` tokens are outstanding already (unused, unrevoked,
   * expiring after `now`). Atomic: the count and the insert are one step, so two concurrent
   * callers (on any instances) cannot both take the last place. Audits when created.
   */
  createEnrollmentToken(token: NewEnrollmentToken, now: string, maxOutstanding: number, audit?: AuditDraft): Promise<CreateTokenOutcome>;
  /** The newest `limit` tokens, newest first (created_at, then id, descending), whatever their state. */
  listEnrollmentTokens(limit: number): Promise<EnrollmentTokenRow[]>;
  /**
   * Revokes a usable token (atomic with enrollAgent: a token is either used or revoked, never
   * both). A token already used, expired or revoked is left as it is, and the outcome says which.
   * Concurrent revokes of one token: one `revoked` (or `expired`), the others `already_revoked`.
   * Audits unless not found, with the outcome's kind as `details.outcome`.
   */
  revokeEnrollmentToken(id: string, now: string, audit?: AuditDraft): Promise<RevokeTokenOutcome>;
  /**
   * Atomic: consumes the token and creates the agent together; a token works exactly once, and
   * not once revoked. Concurrent callers with one token: exactly one gets `ok`, the others `used`.
   * A name is taken only by an agent that is not removed; concurrent callers with one name: one
   * `ok`, the others `name_taken`, and their tokens stay unused. Checks in order: unknown, used,
   * revoked, expired, name. Audits when ok.
   */
  enrollAgent(tokenHash: string, agent: NewAgent, now: string, audit?: AuditDraft): Promise<EnrollOutcome>;

  /** The agent holding this token, removed or not (the caller refuses a removed one with AGENT_REMOVED). */
  agentByTokenHash(tokenHash: string): Promise<AgentRow | undefined>;
  /**
   * Records a heartbeat (what the agent says about itself now, and where it spoke from); the last
   * writer wins. When the address pushes go to, the web port, the mode or the certificate changed,
   * push health starts over (untried), in the same write.
   */
  recordHeartbeat(agentId: string, facts: AgentFacts, remoteAddress: string | null, now: string): Promise<AgentRow>;
  /**
   * The name of an enrolled agent other than `agentId` that reported the same certificate
   * (`fingerprint` canonical: upper-case hex pairs and colons, as stored ones compare after the
   * same normalization), or undefined. One query, not a list of every agent: enrollment asks it.
   */
  agentSharingCertificate(agentId: string, fingerprint: string): Promise<string | undefined>;
  /** Enrolled agents (the default), or only the removed ones. Enrolled: by name, byte-wise; removed: newest removal first, then name. */
  listAgents(which?: 'active' | 'removed'): Promise<AgentRow[]>;
  /** Replaces the operator labels (they overlay the agent's own); the last writer wins. Audits. */
  setOperatorLabels(agentId: string, labels: Labels, audit?: AuditDraft): Promise<void>;
  /**
   * Removes an agent, softly and atomically, in one step: sets removed_at, empties its stored
   * token (its token hash then finds it only to say it was removed), and ends each of its
   * commands that had not ended (waiting, queued, dispatched, running) `cancelled` with the
   * reason in `error`. Nothing is deleted. A result the agent reports later changes nothing (the
   * commands are final) and cannot arrive anyway (its token no longer authenticates). Atomic
   * against claims and results: a command claimed or finished concurrently is either ended by
   * the removal or was final before it. Two concurrent calls: one gets `removed`, the other
   * `not_found`; an agent already removed is `not_found`. Publishes `command` for each command it
   * ended and `agent`. Audits when removed.
   */
  removeAgent(agentId: string, now: string, audit?: AuditDraft): Promise<RemoveOutcome>;

  /**
   * Creates a run and its commands (queued, or waiting when rate control holds them back), in one
   * transaction: no instance sees the run without all its commands. A command for an agent that
   * is removed by then (a removal that raced the run's creation) is created `cancelled` instead,
   * with the reason, so nothing waits for an agent that is gone. Each command records the run's
   * requested_by. Publishes `command` for each. Audits.
   */
  createRun(run: NewRun, commands: NewCommand[], now: string, audit?: AuditDraft): Promise<{ run: RunRecord; commands: CommandRecord[] }>;
  /**
   * The run and its counts, counted in one statement. With `agentIds` (a scoped operator's agents),
   * only their commands count, and a run without any is not found.
   */
  getRun(runId: string, agentIds?: string[]): Promise<RunRecord | undefined>;
  /** Newest first (created_at, then id, descending). With `agentIds`, as getRun: runs with commands of those agents, counted over them. */
  listRuns(limit: number, agentIds?: string[]): Promise<RunRecord[]>;
  /** By agent name. */
  commandsOfRun(runId: string): Promise<CommandRecord[]>;
  /** The run's commands as ids, agents and statuses only (a run's stream starts from them; on 10,000 agents the records would be megabytes), in the order created. */
  commandStatesOfRun(runId: string): Promise<CommandState[]>;
  /**
   * Rate control, after a command of the run ended: once errors reach max_errors the waiting
   * commands are skipped; otherwise waiting commands are queued (oldest first) while fewer than
   * max_concurrency are queued, dispatched or running. Atomic and serialized per run: concurrent
   * callers never together queue more than max_concurrency allows, nothing is queued by a call
   * that starts after max_errors was reached, and each command is returned (queued or skipped)
   * to exactly one caller: exactly the rows it changed. A run with nothing waiting returns at once,
   * without taking the run's lock (nothing becomes waiting after createRun). Publishes `command` for each.
   */
  advanceRun(runId: string, now: string): Promise<{ queued: CommandRecord[]; skipped: CommandRecord[] }>;
  /** Runs that still hold commands back (checked again periodically, e.g. after a restart). */
  runsWithWaiting(): Promise<string[]>;
  /**
   * queued -> dispatched (push) under a lease, before the push is sent. Returns the claim, a token
   * that names this claim (releasePush takes it), or null when the command is no longer queued, or
   * while another upgrade command of the agent is dispatched or running (it goes after that).
   * Concurrent claims of one command, by push or poll: exactly one succeeds. Publishes `command`.
   */
  claimForPush(commandId: string, now: string, leaseUntil: string): Promise<string | null>;
  /**
   * The push of this claim failed: dispatched (by push, not started) -> queued again, with the
   * reason. No-op when the command moved on, also when its lease ran out and it was claimed again
   * (on any replica): a release never returns another claim's command. Publishes `command`.
   */
  releasePush(commandId: string, claim: string, error: string): Promise<void>;
  /** Notes why the command could not be pushed at all; it stays queued (its agent's heartbeat takes it). Publishes `agent`. */
  recordPushFailure(commandId: string, error: string): Promise<void>;
  /**
   * The outcome of a push to the agent: `ok` clears its failures; `failed` counts one more, with
   * the error and when; `reset` starts over (untried: the next push goes at once, e.g. to the new
   * process after an upgrade) and publishes `agent` (what waited for it may go now).
   */
  recordPushHealth(agentId: string, outcome: PushOutcome): Promise<void>;
  /**
   * Queued, unexpired commands of web-mode agents (not removed) created before `createdBefore`
   * that no push failed for (a failed push leaves a command to its agent's heartbeat): the replica
   * that queued them has not pushed them (it died, or is far behind), or a lease brought them back.
   * Oldest first, at most `limit`.
   */
  commandsAwaitingPush(createdBefore: string, now: string, limit: number): Promise<CommandRecord[]>;
  /**
   * Hands out the agent's queued, unexpired commands, oldest first, under a lease (poll and
   * heartbeat delivery). With `fallbackOnly`, only those a push already failed for, or that
   * waited since before that time for a push: the heartbeat of a web-mode agent is the fallback,
   * not a second channel. Nothing is handed out while an upgrade command of the agent is
   * dispatched or running (but that upgrade itself): the agent takes no new command until it runs
   * its new version. Concurrent callers (and claimForPush) never get the same command: exactly
   * the rows it changed. A caller may get fewer than `limit` while another holds some.
   * Publishes `command` for each.
   */
  claimForAgent(agentId: string, now: string, leaseUntil: string, limit: number, fallbackOnly?: { queuedBefore: string }): Promise<HandOut>;
  /**
   * A hand-out (claimForAgent, named by its claim) that never reached the agent, because its
   * connection was gone: its commands still dispatched to the agent by it and not started go back
   * to queued at once instead of waiting for their lease. Only this claim's: a command whose lease
   * ran out and that another hand-out (on any replica) took since is left alone. Returns how many
   * went back. Publishes `command` for each.
   */
  releaseHandOut(agentId: string, claim: string): Promise<number>;
  /** The agent a command belongs to, or undefined when there is no such command (read before a report's body is). */
  commandOwner(commandId: string): Promise<string | undefined>;
  /** queued or dispatched -> running (the agent says it started); idempotent, a later call changes nothing. Publishes `command` when it changed. */
  markStarted(commandId: string, agentId: string, startedAt: string): Promise<CommandOutcome>;
  /**
   * Idempotent: a second result for a final command changes nothing and says `duplicate`.
   * Concurrent callers with results for one command: exactly one `recorded`, the others `duplicate`
   * (with the recorded command). Publishes `command` when recorded.
   */
  recordResult(commandId: string, agentId: string, result: CommandResult, now: string): Promise<ResultOutcome>;
  /**
   * A queued or waiting command ends `cancelled` at once; one on its way or running gets a cancel
   * request. Atomic against claims and results: a command being claimed concurrently is either
   * cancelled before it is handed out, or handed out and then gets the request. Publishes
   * `command` when it ended it, `cancel` when it asked. Audits unless not found, with the outcome's
   * kind as `details.outcome`.
   */
  requestCancel(commandId: string, now: string, audit?: AuditDraft): Promise<CancelOutcome>;
  /** Commands of this agent with a cancel request that have not ended. */
  pendingCancels(agentId: string): Promise<string[]>;
  /**
   * Leases that ran out before the agent started the command: back to queued. Concurrent callers
   * (sweepers on two replicas) each requeue a command at most once: exactly the rows it changed.
   * Publishes `command` for each.
   */
  requeueExpiredLeases(now: string): Promise<CommandRecord[]>;
  /** Queued commands whose delivery TTL passed end `expired`; exactly the rows it changed, as above. Publishes `command` for each. */
  expireQueued(now: string): Promise<CommandRecord[]>;
  /** Newest first (created_at, then id, descending). */
  listCommands(filter: CommandFilter): Promise<CommandRecord[]>;
  /** In the order of `ids`; unknown ids are left out. */
  getCommands(ids: string[]): Promise<CommandRecord[]>;
}

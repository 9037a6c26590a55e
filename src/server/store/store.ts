// The control plane's storage, as queue operations rather than SQL: SQLite implements it today,
// PostgreSQL later, and one shared test suite (test/store.test.ts) runs against every backend.

import type { CommandResult, CommandRecord, AgentFacts, Labels, OutputChunk, RunRecord, UpgradeSpec } from '../../protocol/wire.ts';
import type { CommandStatus } from '../../protocol/command-status.ts';

/** What a backend can do, said once where it is defined (see STYLE.md, capability flags). */
export interface StoreCapabilities {
  /** One writer at a time (SQLite): callers must not expect parallel write throughput. */
  singleWriter: boolean;
  /** Rows can be claimed with FOR UPDATE SKIP LOCKED by several replicas. */
  supportsSkipLocked: boolean;
  /** Replicas can wake each other (LISTEN/NOTIFY). */
  supportsListenNotify: boolean;
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
}

export interface NewAgent extends AgentFacts {
  id: string;
  token: string;
  tokenHash: string;
  remote_address: string | null;
}

/** What creating a run takes: the run's own fields, before any command or count. */
export type NewRun = Pick<RunRecord, 'id' | 'command' | 'args' | 'target' | 'max_concurrency' | 'max_errors'>;

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

export type CommandOutcome = { kind: 'ok'; command: CommandRecord } | { kind: 'not_found' } | { kind: 'not_yours' };

export type AppendOutcome =
  | { kind: 'ok'; nextOffset: number; accepted: OutputChunk[] }
  | { kind: 'not_found' }
  | { kind: 'not_yours' };

export type CancelOutcome =
  | { kind: 'cancelled' | 'requested' | 'final'; command: CommandRecord }
  | { kind: 'not_found' };

export interface CommandFilter {
  agentId?: string;
  status?: CommandStatus;
  /** @default 50 */
  limit?: number;
}

export type ResultOutcome =
  | { kind: 'recorded'; command: CommandRecord }
  | { kind: 'duplicate'; command: CommandRecord }
  | { kind: 'not_found' }
  | { kind: 'not_yours' };

export interface Store {
  readonly capabilities: StoreCapabilities;
  close(): Promise<void>;

  addOperatorToken(tokenHash: string, name: string, now: string): Promise<void>;
  operatorTokenExists(tokenHash: string): Promise<boolean>;

  /**
   * Creates a token unless `maxOutstanding` tokens are outstanding already (unused, unrevoked,
   * expiring after `now`). Atomic: the count and the insert are one step, so two concurrent
   * callers cannot both take the last place.
   */
  createEnrollmentToken(token: NewEnrollmentToken, now: string, maxOutstanding: number): Promise<CreateTokenOutcome>;
  /** The newest `limit` tokens, newest first, whatever their state. */
  listEnrollmentTokens(limit: number): Promise<EnrollmentTokenRow[]>;
  /**
   * Revokes a usable token (atomic with enrollAgent: a token is either used or revoked, never
   * both). A token already used, expired or revoked is left as it is, and the outcome says which.
   */
  revokeEnrollmentToken(id: string, now: string): Promise<RevokeTokenOutcome>;
  /**
   * Consumes the token and creates the agent atomically; a token works exactly once, and not once
   * revoked. A name is taken only by an agent that is not removed.
   */
  enrollAgent(tokenHash: string, agent: NewAgent, now: string): Promise<EnrollOutcome>;

  /** The agent holding this token, removed or not (the caller refuses a removed one with AGENT_REMOVED). */
  agentByTokenHash(tokenHash: string): Promise<AgentRow | undefined>;
  /** Records a heartbeat: what the agent says about itself now, and where it spoke from. */
  recordHeartbeat(agentId: string, facts: AgentFacts, remoteAddress: string | null, now: string): Promise<AgentRow>;
  /** Enrolled agents (the default), or only the removed ones; by name. */
  listAgents(which?: 'active' | 'removed'): Promise<AgentRow[]>;
  /** Labels set by operators; they overlay the agent's own. */
  setOperatorLabels(agentId: string, labels: Labels): Promise<void>;
  /**
   * Removes an agent, softly and atomically, in one step: sets removed_at, empties its stored
   * token (its token hash then finds it only to say it was removed), and ends each of its
   * commands that had not ended (waiting, queued, dispatched, running) `cancelled` with the
   * reason in `error`. Nothing is deleted. A result the agent reports later changes nothing (the
   * commands are final) and cannot arrive anyway (its token no longer authenticates). Two
   * concurrent calls: one gets `removed`, the other `not_found`; an agent already removed is
   * `not_found`.
   */
  removeAgent(agentId: string, now: string): Promise<RemoveOutcome>;

  /**
   * Creates a run and its commands (queued, or waiting when rate control holds them back), in one
   * transaction. A command for an agent that is removed by then (a removal that raced the run's
   * creation) is created `cancelled` instead, with the reason, so nothing waits for an agent
   * that is gone.
   */
  createRun(run: NewRun, commands: NewCommand[], now: string): Promise<{ run: RunRecord; commands: CommandRecord[] }>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  listRuns(limit: number): Promise<RunRecord[]>;
  commandsOfRun(runId: string): Promise<CommandRecord[]>;
  /**
   * Rate control, after a command of the run ended: once errors reach max_errors the waiting
   * commands are skipped; otherwise waiting commands are queued while fewer than
   * max_concurrency are in flight.
   */
  advanceRun(runId: string, now: string): Promise<{ queued: CommandRecord[]; skipped: CommandRecord[] }>;
  /** Runs that still hold commands back (checked again periodically, e.g. after a restart). */
  runsWithWaiting(): Promise<string[]>;
  /**
   * queued -> dispatched (push) under a lease, before the push is sent; false when no longer queued,
   * or while another upgrade command of the agent is dispatched or running (it goes after that).
   */
  claimForPush(commandId: string, now: string, leaseUntil: string): Promise<boolean>;
  /** The push failed: dispatched (by push, not started) -> queued again, with the reason. */
  releasePush(commandId: string, error: string): Promise<void>;
  /** Notes why the command could not be pushed at all; it stays queued. */
  recordPushFailure(commandId: string, error: string): Promise<void>;
  /**
   * Hands out the agent's queued, unexpired commands under a lease (poll and heartbeat delivery).
   * With `fallbackOnly`, only those a push already failed for, or that waited since before that
   * time for a push: the heartbeat of a web-mode agent is the fallback, not a second channel.
   * Nothing is handed out while an upgrade command of the agent is dispatched or running (but that
   * upgrade itself): the agent takes no new command until it runs its new version.
   */
  claimForAgent(agentId: string, now: string, leaseUntil: string, limit: number, fallbackOnly?: { queuedBefore: string }): Promise<CommandRecord[]>;
  /**
   * A hand-out (claimForAgent) that never reached the agent, because its connection was gone:
   * those of `commandIds` still dispatched to it that way and not started go back to queued at once
   * instead of waiting for their lease. Returns how many did.
   */
  releaseHandOut(agentId: string, commandIds: string[]): Promise<number>;
  /** The agent a command belongs to, or undefined when there is no such command (read before a report's body is). */
  commandOwner(commandId: string): Promise<string | undefined>;
  /** dispatched -> running (the agent says it started); idempotent. */
  markStarted(commandId: string, agentId: string, startedAt: string): Promise<CommandOutcome>;
  /** Appends live output; chunks at or below the stored offset are ignored (idempotent by offset). */
  appendOutput(commandId: string, agentId: string, chunks: OutputChunk[], maxChars: number): Promise<AppendOutcome>;
  readOutput(commandId: string, fromOffset: number): Promise<OutputChunk[]>;
  /** Idempotent: a second result for a final command changes nothing and says `duplicate`. */
  recordResult(commandId: string, agentId: string, result: CommandResult, now: string): Promise<ResultOutcome>;
  /** A queued command ends `cancelled` at once; one on its way or running gets a cancel request. */
  requestCancel(commandId: string, now: string): Promise<CancelOutcome>;
  /** Commands of this agent with a cancel request that have not ended. */
  pendingCancels(agentId: string): Promise<string[]>;
  /** Leases that ran out before the agent started the command: back to queued. */
  requeueExpiredLeases(now: string): Promise<CommandRecord[]>;
  /** Queued commands whose delivery TTL passed end `expired`. */
  expireQueued(now: string): Promise<CommandRecord[]>;
  listCommands(filter: CommandFilter): Promise<CommandRecord[]>;
  getCommands(ids: string[]): Promise<CommandRecord[]>;
}

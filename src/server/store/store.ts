// The control plane's storage, as queue operations rather than SQL: SQLite implements it today,
// PostgreSQL later, and one shared test suite (test/store.test.ts) runs against every backend.

import type { CommandResult, CommandRecord, AgentFacts, Labels } from '../../protocol/wire.ts';
import type { Delivery } from '../../protocol/command-status.ts';

/** What a backend can do, said once where it is defined (see STYLE.md, capability flags). */
export interface StoreCapabilities {
  /** One writer at a time (SQLite): callers must not expect parallel write throughput. */
  singleWriter: boolean;
  /** Rows can be claimed with FOR UPDATE SKIP LOCKED by several replicas. */
  supportsSkipLocked: boolean;
  /** Replicas can wake each other (LISTEN/NOTIFY). */
  supportsListenNotify: boolean;
}

/** An agent as stored. `token` is kept because the control plane must present it when it pushes. */
export interface AgentRow extends AgentFacts {
  id: string;
  token: string;
  /** The address the agent's last heartbeat came from. */
  remote_address: string | null;
  enrolled_at: string;
  last_heartbeat_at: string | null;
}

export interface NewAgent extends AgentFacts {
  id: string;
  token: string;
  tokenHash: string;
  remote_address: string | null;
}

export interface NewCommand {
  id: string;
  agent_id: string;
  command: string;
  args: string[];
  timeout: number;
  env: Record<string, string> | null;
  cwd: string | null;
}

export type EnrollOutcome =
  | { ok: true; agent: AgentRow }
  | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'name_taken' };

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

  createEnrollmentToken(tokenHash: string, expiresAt: string, now: string): Promise<void>;
  /** Consumes the token and creates the agent atomically; a token works exactly once. */
  enrollAgent(tokenHash: string, agent: NewAgent, now: string): Promise<EnrollOutcome>;

  agentByTokenHash(tokenHash: string): Promise<AgentRow | undefined>;
  /** Records a heartbeat: what the agent says about itself now, and where it spoke from. */
  recordHeartbeat(agentId: string, facts: AgentFacts, remoteAddress: string | null, now: string): Promise<AgentRow>;
  listAgents(): Promise<AgentRow[]>;
  setAgentLabels(agentId: string, labels: Labels): Promise<void>;
  removeAgent(agentId: string): Promise<boolean>;

  /** Adds commands in state `queued`. */
  enqueue(commands: NewCommand[], now: string): Promise<CommandRecord[]>;
  /**
   * Records how the command reached its agent; moves queued -> dispatched. A result may already
   * have arrived (a fast command races its push answer): then only the delivery is recorded.
   */
  markDispatched(commandId: string, delivery: Delivery, now: string): Promise<void>;
  /** Notes why a push failed; the command stays where it is. */
  recordPushFailure(commandId: string, error: string): Promise<void>;
  /** Idempotent: a second result for a final command changes nothing and says `duplicate`. */
  recordResult(commandId: string, agentId: string, result: CommandResult, now: string): Promise<ResultOutcome>;
  getCommands(ids: string[]): Promise<CommandRecord[]>;
}

// Wire types: the JSON bodies exchanged between the CLI, the control plane and agents.
// Keys are snake_case on the wire, like the agent's config file.

import type { CommandStatus, Delivery, ResultStatus } from './command-status.ts';

export type AgentMode = 'web' | 'poll';
export type Labels = Record<string, string>;

/** What an agent says about itself at registration and in every heartbeat. */
export interface AgentFacts {
  name: string;
  hostname: string;
  os: string;
  version: string;
  mode: AgentMode;
  web_port: number | null;
  /** SHA-256 of the agent's web service certificate (canonical form); null in poll mode. */
  fingerprint: string | null;
  /** Where the control plane should push; null means "the address I connect from". */
  advertise_address: string | null;
  labels: Labels;
}

/** POST /api/agents/register */
export interface RegisterRequest extends AgentFacts {
  enrollment_token: string;
}
export interface RegisterResponse {
  agent_id: string;
  agent_token: string;
  name: string;
  heartbeat_interval_seconds: number;
}

/** POST /api/agents/heartbeat (X-Agent-Token) */
export interface HeartbeatRequest extends AgentFacts {
  uptime_seconds: number;
  running: number;
}
export interface HeartbeatResponse {
  agent_id: string;
  heartbeat_interval_seconds: number;
}

/** POST /api/execute on the agent. */
export interface ExecuteRequest {
  command_id: string;
  command: string;
  args?: string[];
  /** seconds, @default 300 */
  timeout?: number;
  env?: Record<string, string>;
  cwd?: string;
}
export interface ExecuteResponse {
  status: 'accepted';
  command_id: string;
  /** true when this id was accepted before: nothing new was started. */
  duplicate: boolean;
  /** The command's state on the agent now. */
  state: AgentCommandState;
}

export type AgentCommandState = 'running' | ResultStatus;

/** A command's outcome, as the agent reports it (POST /api/agents/commands/:id/result). */
export interface CommandResult {
  status: ResultStatus;
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdout_bytes: number;
  stderr_bytes: number;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  error: string | null;
  started_at: string | null;
  finished_at: string;
}
export interface ResultAck {
  command_id: string;
  status: CommandStatus;
}

/** A command as the operator API shows it. */
export interface CommandRecord {
  id: string;
  agent_id: string;
  agent_name: string;
  command: string;
  args: string[];
  timeout: number;
  env: Record<string, string> | null;
  cwd: string | null;
  status: CommandStatus;
  delivery: Delivery | null;
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdout_bytes: number;
  stderr_bytes: number;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  error: string | null;
  /** Why the last push did not go through (the command stays queued). */
  last_push_error: string | null;
  created_at: string;
  dispatched_at: string | null;
  started_at: string | null;
  finished_at: string | null;
}

/** An agent as the operator API shows it. Never carries the agent's token. */
export interface AgentView {
  id: string;
  name: string;
  hostname: string;
  os: string;
  version: string;
  status: 'online' | 'offline';
  mode: AgentMode;
  address: string | null;
  web_port: number | null;
  fingerprint: string | null;
  labels: Labels;
  enrolled_at: string;
  last_heartbeat_at: string | null;
}

/** POST /api/commands */
export interface CreateCommandsRequest {
  targets: { agents?: string[]; all?: boolean };
  command: string;
  args?: string[];
  timeout?: number;
  env?: Record<string, string>;
  cwd?: string;
}
export interface CommandsResponse {
  commands: CommandRecord[];
}

/** POST /api/commands/wait: answers when all are final or the wait ends. */
export interface WaitRequest {
  ids: string[];
  /** seconds to hold the request, @default 25 */
  timeout?: number;
}
export interface WaitResponse extends CommandsResponse {
  done: boolean;
}

/** POST /api/enrollment-tokens */
export interface CreateEnrollmentTokenRequest {
  ttl_seconds?: number;
}
export interface EnrollmentTokenResponse {
  token: string;
  expires_at: string;
  join: string;
}

/** GET /api/status on the agent. */
export interface AgentStatus {
  agent_id: string | null;
  name: string;
  hostname: string;
  os: string;
  version: string;
  uptime_seconds: number;
  mode: AgentMode;
  web_port: number | null;
  running: { command_id: string; command: string; started_at: string }[];
}

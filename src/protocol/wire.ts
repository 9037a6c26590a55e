// Wire types: the JSON bodies exchanged between the CLI, the control plane and agents.
// Keys are snake_case on the wire, like the agent's config file. What a request may carry (bodies,
// queries, path parameters) is derived from its JSON schema in schemas.ts, which the services
// validate it with: one source for both. Answers have no schema; their interfaces are here.

import type { CommandStatus, Delivery as DeliveryMode, ResultStatus } from './command-status.ts';
import type { FromSchema } from './schema-types.ts';
import type {
  agentParamsSchema, auditQuerySchema, createEnrollmentTokenSchema, createRunQuerySchema, createRunSchema, executeSchema, heartbeatSchema, idParamsSchema, limitQuerySchema,
  listAgentsQuerySchema, listCommandsQuerySchema, outputQuerySchema, pollQuerySchema, progressSchema, rawOutputQuerySchema, registerSchema, resultSchema,
  runPreviewSchema, runQuerySchema, runStreamQuerySchema, setLabelsSchema, signInSchema, streamQuerySchema, targetsSchema, upgradeAgentsSchema, upgradeSpecSchema, waitSchema,
} from './schemas.ts';
import type { OperatorIdentity } from './team-wire.ts';

export type * from './team-wire.ts';
export type * from './webhook-wire.ts';

export type AgentMode = 'web' | 'poll';
export type Labels = Record<string, string>;

/**
 * What an agent says about itself at registration and in every heartbeat. `fingerprint`: SHA-256
 * of its web service certificate (canonical form), null in poll mode; `advertise_address`: where
 * the control plane should push, null for "the address I connect from".
 */
export type AgentFacts = Omit<RegisterRequest, 'enrollment_token'>;

/** POST /api/agents/register */
export type RegisterRequest = FromSchema<typeof registerSchema>;
export interface RegisterResponse {
  agent_id: string;
  agent_token: string;
  name: string;
  heartbeat_interval_seconds: number;
}

/** POST /api/agents/heartbeat (X-Agent-Token) */
export type HeartbeatRequest = FromSchema<typeof heartbeatSchema>;
/** GET /api/agents/poll */
export type PollQuery = FromSchema<typeof pollQuerySchema>;
export interface HeartbeatResponse extends Delivery {
  agent_id: string;
  heartbeat_interval_seconds: number;
  /**
   * The public URLs of the control plane's live replicas (one, without replicas), so an agent
   * knows where else to turn when the one it talks to is gone. Absent from control planes before
   * replicas existed.
   */
  control_plane_urls?: string[];
}

/** What the control plane hands an agent in a heartbeat reply or a poll answer. */
export interface Delivery {
  /** Commands to run (under a lease: report `started` before it runs out). */
  commands: ExecuteRequest[];
  /** Ids of commands to cancel. */
  cancel: string[];
}

/** GET /api/agents/poll?wait=SECONDS (long poll) */
export type PollResponse = Delivery;

/**
 * Live output as agents before complete output send it (still taken): text of both streams, and
 * `offset` counts characters of the command's combined output. Current agents send `pieces`.
 */
export type OutputChunk = ProgressRequest['chunks'][number];

export type StreamName = 'stdout' | 'stderr';

/**
 * Bytes of one stream of a running command (POST .../progress, `pieces`). Offsets are bytes: where
 * the piece starts in its own stream (`offset`), and where in the command's output as printed, both
 * streams (`at`); `data` is the bytes, base64. `tail: true` marks the stream's last bytes, sent when
 * it ended: the head the control plane keeps ends where the agent's previous pieces ended, and what
 * lies between was not kept (over the cap, or the control plane took nothing for too long).
 */
export type OutputPiece = NonNullable<ProgressRequest['pieces']>[number];

/** How much of each stream the control plane keeps: its first `head_bytes`, and past them its last `tail_bytes`. */
export interface OutputKeep {
  head_bytes: number;
  tail_bytes: number;
}

/**
 * POST /api/agents/commands/:id/progress: the command started, and output so far. `chunks`: text by
 * character offsets, from agents before complete output (current agents send []); `pieces`: bytes
 * per stream (current agents; control planes before complete output refuse the field); `totals`:
 * bytes each stream has printed so far, also those not sent (yet, or at all).
 */
export type ProgressRequest = FromSchema<typeof progressSchema>;
export interface ProgressAck {
  /** The character offset the control plane expects next in `chunks`: resend from here after a gap. */
  next_offset: number;
  /** The operator asked to cancel this command. */
  cancel: boolean;
  /** Where each stream's bytes go on (`pieces`): resend from here. Absent from control planes before complete output. */
  next?: Record<StreamName, number>;
  /** What the control plane keeps of each stream of this command (absent: an older control plane, which takes no pieces). */
  keep?: OutputKeep;
  /** The command has ended on the control plane (its result was recorded, or it was cancelled with its agent): send no more output. */
  final?: boolean;
}

/** POST /api/execute on the agent. `upgrade` is present on an upgrade command (`myx agents upgrade`): the agent replaces itself instead of running `command`. */
export type ExecuteRequest = FromSchema<typeof executeSchema>;

/**
 * What an agent upgrades to: the agent binary of the control plane's release directory, fetched
 * from `GET /downloads/myx-agent` over the agent's pinned channel and checked against its
 * `sha256` (hex, from the release's SHA256SUMS) and `size` (bytes).
 */
export type UpgradeSpec = FromSchema<typeof upgradeSpecSchema>;
export interface ExecuteResponse {
  status: 'accepted';
  command_id: string;
  /** true when this id was accepted before: nothing new was started. */
  duplicate: boolean;
  /** The command's state on the agent now. */
  state: AgentCommandState;
}

export type AgentCommandState = 'running' | ResultStatus;

/** Captured output of a command: capped text (head and tail kept) and the real sizes. */
export type CommandOutput = Pick<CommandResult, 'stdout' | 'stderr' | 'stdout_bytes' | 'stderr_bytes' | 'stdout_truncated' | 'stderr_truncated'>;

/** A command's outcome, as the agent reports it (POST /api/agents/commands/:id/result). */
export type CommandResult = FromSchema<typeof resultSchema>;
export interface ResultAck {
  command_id: string;
  status: CommandStatus;
}

/** What a command does: run a program (`exec`), or replace the agent with another version (`upgrade`). */
export type CommandKind = 'exec' | 'upgrade';

/** A command as the operator API shows it. */
export interface CommandRecord extends CommandOutput {
  id: string;
  /** The run (one `myx run`) this command belongs to. */
  run_id: string | null;
  agent_id: string;
  agent_name: string;
  /** The operator who asked for it (its run's); null for commands from before operators had names. */
  requested_by: string | null;
  kind: CommandKind;
  /** What an upgrade command installs; null for `exec`. */
  upgrade: UpgradeSpec | null;
  command: string;
  args: string[];
  timeout: number;
  env: Record<string, string> | null;
  cwd: string | null;
  status: CommandStatus;
  delivery: DeliveryMode | null;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  /** Why the last push did not go through (the command stays queued). */
  last_push_error: string | null;
  /** When a cancel was asked for (null if never). */
  cancel_requested_at: string | null;
  created_at: string;
  /** Delivery TTL: a command still queued then becomes `expired`. */
  expires_at: string | null;
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
  /**
   * `enrolled`: its daemon has never heartbeated (enrolled, not started yet); `online`: heartbeats
   * arrive; `offline`: they stopped (or the agent was removed).
   */
  status: 'enrolled' | 'online' | 'offline';
  mode: AgentMode;
  address: string | null;
  web_port: number | null;
  fingerprint: string | null;
  /** Effective labels: the agent's own (config file) overlaid with the operator's. */
  labels: Labels;
  /** Labels set with `myx agents label`. */
  operator_labels: Labels;
  enrolled_at: string;
  last_heartbeat_at: string | null;
  /** When `myx agents remove` removed it; null for an enrolled agent. */
  removed_at: string | null;
  /** Whether pushes to this agent work right now. */
  push: PushHealth;
}

/** DELETE /api/agents/:id: the agent's token is revoked and its unfinished commands end `cancelled`. */
export interface RemoveAgentResponse {
  /** The removed agent's id. */
  removed: string;
  name: string;
  /** Commands of the agent that had not ended, now `cancelled`. */
  cancelled: number;
  /** Of those, how many were handed to the agent already (it was asked to stop them). */
  running: number;
  /** Of those, how many cancels the agent's web service took at once (the others stop when it learns it was removed). */
  cancel_pushed: number;
}

/** A control-plane replica, as `GET /api/replicas` lists it (`myx replicas`). */
export interface ReplicaView {
  id: string;
  public_url: string;
  version: string;
  started_at: string;
  last_seen_at: string;
  /** It runs the sweeper (leases, delivery TTLs, rate control catch-up, unpushed commands). */
  sweeper: boolean;
  /** It is the replica that answered. */
  self: boolean;
}

export interface ReplicasResponse {
  replicas: ReplicaView[];
}

export interface PushHealth {
  /** `ok`: last push went through; `failing`: pushes fail, commands go by poll/heartbeat; `untried`; `poll_mode`. */
  state: 'ok' | 'failing' | 'untried' | 'poll_mode';
  error: string | null;
  /** While failing: when the next push is tried. */
  retry_at: string | null;
}

/** Who a run targets: named agents (`agents`, names or ids), agents carrying all these `labels`, or `all` agents (in the caller's scope). */
export type Targets = FromSchema<typeof targetsSchema>;

/** POST /api/runs */
export type CreateRunRequest = FromSchema<typeof createRunSchema>;

/**
 * POST /api/agents/upgrade: a run that upgrades the targets to the release's agent binary.
 * Defaults: `max_concurrency` "10%" (at least one agent), `max_errors` "1" (the first failure stops
 * the rollout), `ttl` 600 s for offline agents, `allow_downgrade` false.
 */
export type UpgradeAgentsRequest = FromSchema<typeof upgradeAgentsSchema>;

/** POST /api/agents/:id/labels: operator labels to set, and keys to remove. */
export type SetLabelsRequest = FromSchema<typeof setLabelsSchema>;
/** The `:id` of agent routes: a name or an id. */
export type AgentParams = FromSchema<typeof agentParamsSchema>;
/** The `:id` of command, run and token routes. */
export type IdParams = FromSchema<typeof idParamsSchema>;
/** GET /api/agents */
export type ListAgentsQuery = FromSchema<typeof listAgentsQuerySchema>;
/** GET /api/commands */
export type ListCommandsQuery = FromSchema<typeof listCommandsQuerySchema>;
/** GET /api/runs/:id */
export type RunQuery = FromSchema<typeof runQuerySchema>;
/** GET /api/runs, GET /api/enrollment-tokens */
export type LimitQuery = FromSchema<typeof limitQuerySchema>;
/** GET /api/commands/stream */
export type StreamQuery = FromSchema<typeof streamQuerySchema>;
/** GET /api/runs/:id/stream */
export type RunStreamQuery = FromSchema<typeof runStreamQuerySchema>;
/** POST /api/runs */
export type CreateRunQuery = FromSchema<typeof createRunQuerySchema>;
/** GET /api/commands/:id/output */
export type OutputQuery = FromSchema<typeof outputQuerySchema>;
/** GET /api/commands/:id/output/raw */
export type RawOutputQuery = FromSchema<typeof rawOutputQuerySchema>;
/** GET /api/audit */
export type AuditQuery = FromSchema<typeof auditQuerySchema>;
export interface UpgradeAgentsResponse extends RunResponse {
  /** What the run installs. */
  release: UpgradeSpec;
}

/** GET /api/agents */
export interface AgentListResponse {
  agents: AgentView[];
  /** The control plane's own version: agents older than it are worth upgrading. */
  control_plane_version: string;
}

/** A run: the commands of one `myx run`. */
export interface RunRecord {
  id: string;
  command: string;
  args: string[];
  /** How the targets were chosen, e.g. `label env=prod,role=web`. */
  target: string;
  max_concurrency: number | null;
  max_errors: number | null;
  created_at: string;
  /** The operator who started it; null for runs from before operators had names. */
  requested_by: string | null;
  /**
   * Commands of the run, by status, and their total. For a scoped operator, only the commands on
   * agents in its scope (the rest of the run is not shown), and `done`, `stopped` and `finished_at`
   * say the same of those.
   */
  total: number;
  counts: Partial<Record<CommandStatus, number>>;
  /** Every command has ended. */
  done: boolean;
  /** --max-errors stopped it: commands that had not started were skipped. */
  stopped: boolean;
  finished_at: string | null;
}
export interface RunResponse {
  run: RunRecord;
  commands: CommandRecord[];
}
/** A command as `POST /api/runs?commands=brief` lists it: its record comes with the run's stream (`GET /api/runs/:id/stream`). */
export type CommandBrief = Pick<CommandRecord, 'id' | 'agent_id' | 'agent_name' | 'status'>;
/** POST /api/runs?commands=brief */
export interface RunBriefResponse {
  run: RunRecord;
  commands: CommandBrief[];
}
export interface CommandsResponse {
  commands: CommandRecord[];
}

/** POST /api/commands/wait: answers when all `ids` are final or the wait ends (`timeout` seconds to hold the request, @default 25). */
export type WaitRequest = FromSchema<typeof waitSchema>;
export interface WaitResponse extends CommandsResponse {
  done: boolean;
}

/** POST /api/enrollment-tokens */
export type CreateEnrollmentTokenRequest = FromSchema<typeof createEnrollmentTokenSchema>;
export interface EnrollmentTokenResponse {
  /** Names the token in `myx token list` / `revoke`; not a secret. */
  id: string;
  token: string;
  expires_at: string;
  /** `MYX_ENROLL_TOKEN=… myx-agent enroll --server URL`: for a host that has myx-agent already. */
  join: string;
  /**
   * `curl -fsS -k --pinnedpubkey 'sha256//…' URL/install.sh | sudo MYX_ENROLL_TOKEN=… sh -s --`: installs,
   * enrolls and starts the agent on a host with only curl and sh; installer options go after `--`.
   */
  install: string;
}

/** GET /api/enrollment-tokens: what is known of a token, never its secret. */
export interface EnrollmentTokenView {
  id: string;
  created_at: string;
  expires_at: string;
  /** `usable` until it is used, expires or is revoked. */
  state: 'usable' | 'used' | 'expired' | 'revoked';
  used_at: string | null;
  /** The agent it enrolled. */
  used_by_agent: string | null;
  revoked_at: string | null;
}

/** DELETE /api/enrollment-tokens/:id. `outcome` says whether it was usable until now. */
export interface RevokeEnrollmentTokenResponse {
  token: EnrollmentTokenView;
  outcome: 'revoked' | 'already_used' | 'already_expired' | 'already_revoked';
}

/** Which output of a command: one stream, or both as they were printed (`all`). */
export type OutputStream = 'stdout' | 'stderr' | 'all';

/**
 * GET /api/commands/:id/output: a page of a command's output, by byte offsets into its UTF-8 text
 * (`offset` and `limit`, never splitting a character), the page before an offset (`before`), or its
 * last lines (`tail`). Follow a running command by asking again from `next_offset` (with `wait`,
 * the answer waits for new output) until `eof`.
 *
 * Offsets are positions in the stream as the command printed it (`all`: both streams in the order
 * printed). Past the control plane's cap only the first and last bytes are kept (`kept`): a page
 * asked for in between starts where the kept tail starts (`offset` is then past the one asked for).
 */
export interface OutputPage {
  command_id: string;
  stream: OutputStream;
  /** Where `data` starts. */
  offset: number;
  /** Where the next page starts. */
  next_offset: number;
  /** Bytes the stream has had so far (the command's whole output, also what was not kept). */
  total_bytes: number;
  /** What is kept of a stream that went over the cap: its first and last bytes; null when nothing was dropped. */
  kept: { head_bytes: number; tail_bytes: number } | null;
  data: string;
  /** The command is final and nothing follows `next_offset`. */
  eof: boolean;
  /**
   * Where the bytes come from: `full`, the output the control plane keeps; `summary`, the head and
   * tail of each stream the result carries (`myx show`), because the full output was dropped by
   * retention (`dropped_at`) or never reached the control plane. A summary's offsets index its own
   * text, which marks what it omits (`[... N bytes omitted ...]`).
   */
  source: 'full' | 'summary';
  /** When retention (--output-retention, --output-retention-size) dropped the full output; null while it is kept. */
  dropped_at: string | null;
  /** Says, for people, why `source` is `summary`; null otherwise. */
  notice: string | null;
}

/**
 * An `output` event of GET /api/commands/stream: `offset` is where `data` starts in the command's
 * output as printed (bytes, both streams), `stream_offset` where in its own stream, `bytes` how
 * many bytes `data` stands for. Output past a stream's cap jumps: `stream_offset` goes past the
 * end of the previous event of its stream.
 */
export interface OutputEvent extends OutputChunk {
  command_id: string;
  stream_offset: number;
  bytes: number;
}

/** POST /api/runs/preview: the agents POST /api/runs would target now. */
export type RunPreviewRequest = FromSchema<typeof runPreviewSchema>;
export interface RunPreviewResponse {
  /** How they were chosen, as the run would record it. */
  target: string;
  agents: AgentView[];
}

/** POST /api/session: sign in to the web console with an operator token (it sets the session cookie). */
export type SignInRequest = FromSchema<typeof signInSchema>;

/**
 * POST and GET /api/session: the session and whose it is. A caller with the Bearer token has no
 * session: `{ via: 'token', operator }`.
 */
export type SessionView =
  | {
    via: 'session';
    operator: OperatorIdentity;
    /** Send it in `X-Myx-CSRF` with every request that changes something. */
    csrf_token: string;
    created_at: string;
    /** The absolute end. */
    expires_at: string;
    /** When it ends unless used again before. */
    idle_expires_at: string;
  }
  | { via: 'token'; operator: OperatorIdentity };

/** DELETE /api/session */
export interface SignOutResponse {
  signed_out: boolean;
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
  journal: JournalStatus;
}

/** Whether the agent can write its journal; while it cannot, it takes no new command (AGENT_STORAGE_FULL). */
export interface JournalStatus {
  path: string;
  writable: boolean;
  /** Why the last write failed; null while writable. */
  error: string | null;
  /** When it stopped being writable; null while writable. */
  since: string | null;
  /** Final results kept in memory because they could not be spooled: sent all the same, spooled once it is writable. */
  held_results: number;
}

// JSON schemas for every request body, so both HTTP services reject bad input the same way
// (extra fields included) before any handler runs.

import { AUDIT_ACTIONS } from './audit.ts';
import { COMMAND_STATUSES, RESULT_STATUSES } from './command-status.ts';
import { ApiError } from './errors.ts';
import { base64Length, ERROR_TEXT_MAX, LIVE_OUTPUT_LIMIT, OUTPUT_FIELD_MAX, OUTPUT_PIECE_MAX, PROGRESS_CHUNKS_MAX } from './limits.ts';
import { OPERATOR_NAME_PATTERN, OPERATOR_ROLES } from './roles.ts';
import { WEBHOOK_EVENTS } from './webhooks.ts';

/** Ids the control plane hands out: letters, digits, `_` and `-`; nothing a path could abuse. */
export const ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
export const MAX_TIMEOUT_SECONDS = 7 * 24 * 3600;

const id = { type: 'string', pattern: ID_PATTERN } as const;
const ID_RE = new RegExp(ID_PATTERN);

/** The `:id` check of idParamsSchema, for hooks that must look at the id before the body is read (and so before validation). */
export function requireWellFormedId(value: string): void {
  if (!ID_RE.test(value)) throw new ApiError('BAD_REQUEST', `invalid request: params/id must match pattern "${ID_PATTERN}"`);
}
/** What becomes a process's command, argument, environment or directory: no NUL, which no exec can take. */
const NO_NUL = '^[^\\u0000]*$';
const shortText = { type: 'string', maxLength: 255 } as const;
const labels = {
  type: 'object',
  maxProperties: 64,
  propertyNames: { pattern: '^[A-Za-z0-9_.\\-/]{1,63}$' },
  additionalProperties: { type: 'string', maxLength: 255 },
} as const;
const env = {
  type: 'object',
  maxProperties: 256,
  propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' },
  additionalProperties: { type: 'string', maxLength: 32768, pattern: NO_NUL },
} as const;
const commandSpec = {
  /** The program to run (no shell). */
  command: { type: 'string', minLength: 1, maxLength: 4096, pattern: NO_NUL },
  /** Its arguments, passed verbatim. */
  args: { type: 'array', maxItems: 4096, items: { type: 'string', maxLength: 131072, pattern: NO_NUL } },
  /** Seconds it may run before its process group is killed (`timed_out`), @default 300 */
  timeout: { type: 'integer', minimum: 1, maximum: MAX_TIMEOUT_SECONDS },
  /** Environment variables added to the agent's. */
  env,
  /** Working directory. @default the agent's */
  cwd: { type: 'string', minLength: 1, maxLength: 4096, pattern: NO_NUL },
} as const;
const nullableString = (maxLength: number) => ({ anyOf: [{ type: 'string', maxLength }, { type: 'null' }] }) as const;
/** An ISO 8601 UTC time as `Date.toISOString()` writes it. */
const timestamp = { type: 'string', maxLength: 40, pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$' } as const;
/** A count that JSON can carry exactly (1e400 parses as Infinity, which is an "integer" to JSON schema). */
const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

const agentFacts = {
  name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' },
  hostname: shortText,
  os: shortText,
  version: { type: 'string', maxLength: 64 },
  mode: { enum: ['web', 'poll'] },
  web_port: { anyOf: [{ type: 'integer', minimum: 1, maximum: 65535 }, { type: 'null' }] },
  fingerprint: nullableString(128),
  /** Host name or IP address (brackets tolerated) only: it becomes the host of push URLs, so no `/`, `@`, `?`, `#` or spaces. */
  advertise_address: { anyOf: [{ type: 'string', pattern: '^[A-Za-z0-9._:%\\[\\]-]{1,255}$' }, { type: 'null' }] },
  labels,
} as const;
const agentFactsRequired = ['name', 'hostname', 'os', 'version', 'mode', 'web_port', 'fingerprint', 'advertise_address', 'labels'] as const;

export const registerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['enrollment_token', ...agentFactsRequired],
  properties: { enrollment_token: { type: 'string', maxLength: 512 }, ...agentFacts },
} as const;

export const heartbeatSchema = {
  type: 'object',
  additionalProperties: false,
  required: [...agentFactsRequired, 'uptime_seconds', 'running'],
  properties: {
    ...agentFacts,
    uptime_seconds: { type: 'number', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    running: count,
  },
} as const;

/** A version as `myx-agent --version` prints it (semver-like; also what the control plane accepts from a release). */
export const VERSION_PATTERN = '^[0-9A-Za-z.+-]{1,64}$';

/** What an upgrade command installs (ExecuteRequest.upgrade, CommandRecord.upgrade). */
export const upgradeSpecSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'sha256', 'size'],
  properties: {
    version: { type: 'string', pattern: VERSION_PATTERN },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    size: { type: 'integer', minimum: 1, maximum: 2 ** 40 },
  },
} as const;

export const executeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['command_id', 'command'],
  properties: { command_id: id, ...commandSpec, upgrade: upgradeSpecSchema },
} as const;

export const resultSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'exit_code', 'signal', 'stdout', 'stderr', 'stdout_bytes', 'stderr_bytes',
    'stdout_truncated', 'stderr_truncated', 'error', 'started_at', 'finished_at'],
  properties: {
    status: { enum: RESULT_STATUSES },
    exit_code: { anyOf: [{ type: 'integer', minimum: -1, maximum: 255 }, { type: 'null' }] },
    signal: nullableString(32),
    stdout: { type: 'string', maxLength: OUTPUT_FIELD_MAX },
    stderr: { type: 'string', maxLength: OUTPUT_FIELD_MAX },
    stdout_bytes: count,
    stderr_bytes: count,
    stdout_truncated: { type: 'boolean' },
    stderr_truncated: { type: 'boolean' },
    error: nullableString(ERROR_TEXT_MAX),
    started_at: { anyOf: [timestamp, { type: 'null' }] },
    finished_at: timestamp,
  },
} as const;

const limit = { type: 'string', pattern: '^[0-9]{1,6}%?$' } as const;

export const targetsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    agents: { type: 'array', maxItems: 100000, items: { type: 'string', minLength: 1, maxLength: 128 } },
    labels: { ...labels, minProperties: 1 },
    all: { type: 'boolean' },
  },
} as const;

export const createRunSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['targets', 'command'],
  properties: {
    targets: targetsSchema,
    ...commandSpec,
    /** Delivery TTL in seconds: a command still queued then ends `expired`, @default 3600 */
    ttl: { type: 'integer', minimum: 1, maximum: 30 * 24 * 3600 },
    /** Agents running it at once: `N` or `N%` of the targets. @default no limit */
    max_concurrency: limit,
    /** Stop starting new agents once this many failed: `N` or `N%`; the rest end `skipped`. @default no limit */
    max_errors: limit,
  },
} as const;

export const upgradeAgentsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['targets'],
  properties: {
    targets: createRunSchema.properties.targets,
    ttl: createRunSchema.properties.ttl,
    max_concurrency: limit,
    max_errors: limit,
    allow_downgrade: { type: 'boolean' },
  },
} as const;

export const setLabelsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    set: labels,
    remove: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 63 } },
  },
} as const;

export const agentParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' } },
} as const;

export const waitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ids'],
  properties: {
    ids: { type: 'array', minItems: 1, maxItems: 10000, items: id },
    timeout: { type: 'number', minimum: 0, maximum: 60 },
  },
} as const;

/** A TTL past MAX_ENROLLMENT_TTL_SECONDS passes the schema and gets its own error code from the route. */
export const createEnrollmentTokenSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { ttl_seconds: { type: 'integer', minimum: 1, maximum: 100 * 365 * 24 * 3600 } },
} as const;

export const listAgentsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { removed: { enum: ['true', 'false'] } },
} as const;

export const idParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id },
} as const;

/** A byte position in a command's output. */
const byteOffset = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

export const progressSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['started_at', 'chunks'],
  properties: {
    started_at: timestamp,
    chunks: {
      type: 'array',
      maxItems: PROGRESS_CHUNKS_MAX,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['offset', 'stream', 'data'],
        properties: {
          offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
          stream: { enum: ['stdout', 'stderr'] },
          data: { type: 'string', maxLength: LIVE_OUTPUT_LIMIT },
        },
      },
    },
    pieces: {
      type: 'array',
      maxItems: PROGRESS_CHUNKS_MAX,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['stream', 'offset', 'at', 'data'],
        properties: {
          stream: { enum: ['stdout', 'stderr'] },
          offset: byteOffset,
          at: byteOffset,
          // base64 of one piece: decoded only when it is exactly that
          data: { type: 'string', maxLength: base64Length(OUTPUT_PIECE_MAX), pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$' },
          tail: { type: 'boolean' },
        },
      },
    },
    totals: {
      type: 'object',
      additionalProperties: false,
      required: ['stdout', 'stderr'],
      properties: { stdout: byteOffset, stderr: byteOffset },
    },
  },
} as const;

export const pollQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { wait: { type: 'string', pattern: '^[0-9]{1,2}(\\.[0-9]{1,3})?$' } },
} as const;

export const listCommandsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    agent: { type: 'string', minLength: 1, maxLength: 128 },
    status: { enum: COMMAND_STATUSES },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
  },
} as const;

export const streamQuerySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ids'],
  // one id at least, comma-separated: an empty list would be a stream that never ends
  properties: {
    ids: { type: 'string', minLength: 1, maxLength: 100000, pattern: '^[A-Za-z0-9_-]+(,[A-Za-z0-9_-]+)*,?$' },
    // where each command's output is taken up (bytes, as printed), in the order of ids; missing ones from 0
    from: { type: 'string', maxLength: 200000, pattern: '^[0-9]{1,15}(,[0-9]{1,15})*$' },
    // `none`: final records only (a client that does not show output live)
    output: { enum: ['all', 'none'] },
    // `all`: a `status` event (the record) for each change of a command's status too, and each one's status as the stream starts
    statuses: { enum: ['final', 'all'] },
  },
} as const;

export const runPreviewSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['targets'],
  properties: { targets: targetsSchema },
} as const;

/** A page of output holds 1 MiB at most; 256 KiB unless asked. A follower's `wait` is 30 seconds at most. */
export const OUTPUT_PAGE_MAX = 1024 * 1024;
export const OUTPUT_PAGE_DEFAULT = 256 * 1024;
export const OUTPUT_WAIT_MAX_SECONDS = 30;

export const outputQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    stream: { enum: ['stdout', 'stderr', 'all'] },
    offset: { type: 'string', pattern: '^[0-9]{1,15}$' },
    limit: { type: 'string', pattern: '^[0-9]{1,7}$' },
    before: { type: 'string', pattern: '^[0-9]{1,15}$' },
    tail: { type: 'string', pattern: '^[0-9]{1,6}$' },
    wait: { type: 'string', pattern: '^[0-9]{1,2}$' },
  },
} as const;

export const rawOutputQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { stream: { enum: ['stdout', 'stderr'] } },
} as const;

export const runStreamQuerySchema = {
  type: 'object',
  additionalProperties: false,
  // `none`: final records only (a client that does not show output live)
  properties: { output: { enum: ['all', 'none'] }, statuses: { enum: ['final', 'all'] } },
} as const;

/** POST /api/runs?commands=brief: the answer lists each command as id, agent and status only. */
export const createRunQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { commands: { enum: ['full', 'brief'] } },
} as const;

export const runQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { output: { enum: ['full', 'head'] } },
} as const;

export const signInSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['token'],
  properties: { token: { type: 'string', minLength: 1, maxLength: 512 } },
} as const;

export const limitQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'string', pattern: '^[0-9]{1,4}$' } },
} as const;

const operatorName = { type: 'string', pattern: OPERATOR_NAME_PATTERN } as const;

export const addOperatorSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'role'],
  properties: { name: operatorName, role: { enum: OPERATOR_ROLES }, scope: { ...labels, maxProperties: 16 } },
} as const;

export const operatorParamsSchema = {
  type: 'object',
  required: ['name'],
  properties: { name: operatorName },
} as const;

export const auditQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    since: timestamp,
    operator: operatorName,
    action: { enum: AUDIT_ACTIONS },
    after: { type: 'string', pattern: '^[0-9]{1,15}$' },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
  },
} as const;

export const addWebhookSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url', 'events'],
  properties: {
    /** Where events are POSTed: `http://` or `https://` (its certificate verified against the system's CAs, or pinned by `fingerprint`); no user:password@ part. */
    url: { type: 'string', minLength: 8, maxLength: 2048, pattern: '^https?://[^\\x00-\\x20\\x7f/?#@]+([/?][^\\x00-\\x20\\x7f#]*)?$' },
    /** What it hears: `run.finished`, `command.finished`. */
    events: { type: 'array', minItems: 1, maxItems: WEBHOOK_EVENTS.length, uniqueItems: true, items: { enum: WEBHOOK_EVENTS } },
    /** The HMAC key deliveries are signed with. @default a new random one, answered once */
    secret: { type: 'string', minLength: 16, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' },
    /** An `https://` receiver's certificate fingerprint (SHA-256): trusted instead of certificate authorities. */
    fingerprint: { type: 'string', maxLength: 128, pattern: '^[0-9A-Fa-f:]{64,95}$' },
  },
} as const;

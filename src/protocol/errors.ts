// The one table of API error codes: every JSON error of the agent and the control plane uses it,
// so clients can branch on `code` and operators can search for it.

export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'the request is not valid' },
  BODY_NOT_JSON: { status: 400, message: 'the request body is not valid JSON' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'send the body as application/json' },
  BODY_NOT_UTF8: { status: 400, message: 'the request body is not valid UTF-8' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'the request body is too large' },
  HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are too large' },
  REQUEST_TIMEOUT: { status: 408, message: 'the request did not arrive in time' },
  EXPECTATION_FAILED: { status: 417, message: 'the Expect header asks for something this server does not do' },
  PLAIN_HTTP: { status: 400, message: 'this port speaks HTTPS only: use https://' },
  NOT_FOUND: { status: 404, message: 'no such endpoint' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed' },
  AGENT_TOKEN_MISSING: { status: 401, message: 'the X-Agent-Token header is missing' },
  AGENT_TOKEN_INVALID: { status: 401, message: 'the agent token is not valid' },
  OPERATOR_TOKEN_MISSING: { status: 401, message: 'the Authorization: Bearer header is missing' },
  OPERATOR_TOKEN_INVALID: { status: 401, message: 'the operator token is not valid' },
  SESSION_INVALID: { status: 401, message: 'the console session expired or was signed out: sign in again' },
  CSRF_TOKEN_INVALID: { status: 403, message: 'a request made with the console session needs its X-Myx-CSRF header (from GET /api/session)' },
  CROSS_SITE_REQUEST: { status: 403, message: 'a request from another site may not use the console session' },
  /** The caller is who it says, but its role does not allow this route; the message names the role needed. */
  ROLE_FORBIDDEN: { status: 403, message: 'your role does not allow this' },
  /** A target that can never be within the caller's scope (a label selector that contradicts it). */
  TARGET_OUT_OF_SCOPE: { status: 403, message: 'the target is outside your scope' },
  CLIENT_CERT_REQUIRED: { status: 403, message: 'this endpoint needs the control plane\'s client certificate' },
  CLIENT_CERT_MISMATCH: { status: 403, message: 'the client certificate is not the control plane this agent enrolled with' },
  AUTH_RATE_LIMITED: { status: 429, message: 'too many failed authentications from this address; try again later' },
  TOO_MANY_LARGE_REQUESTS: { status: 429, message: 'this caller already has the most large requests in progress that it may have; retry shortly' },
  ENROLLMENT_TOKEN_MALFORMED: { status: 400, message: 'the enrollment token is malformed' },
  ENROLLMENT_TOKEN_UNKNOWN: { status: 401, message: 'the enrollment token is not known to this control plane' },
  ENROLLMENT_TOKEN_USED: { status: 401, message: 'the enrollment token was already used; create a new one with `myx token create`' },
  ENROLLMENT_TOKEN_EXPIRED: { status: 401, message: 'the enrollment token has expired; create a new one with `myx token create`' },
  ENROLLMENT_TOKEN_REVOKED: { status: 401, message: 'the enrollment token was revoked; create a new one with `myx token create`' },
  ENROLLMENT_TOKEN_NOT_FOUND: { status: 404, message: 'no such enrollment token (see `myx token list`)' },
  ENROLLMENT_TOKEN_TTL_TOO_LONG: { status: 400, message: 'an enrollment token may stay valid 7 days at most' },
  ENROLLMENT_TOKENS_TOO_MANY: { status: 409, message: 'too many enrollment tokens are outstanding (unused and unexpired): revoke some (`myx token list`, `myx token revoke ID`) or let them expire' },
  AGENT_NAME_TAKEN: { status: 409, message: 'an agent with this name is already enrolled' },
  AGENT_NOT_FOUND: { status: 404, message: 'no such agent' },
  WEBHOOK_NOT_FOUND: { status: 404, message: 'no webhook with this id' },
  WEBHOOKS_TOO_MANY: { status: 409, message: 'this control plane has as many webhooks as it takes (100): remove one first' },
  /** Not 401: the token was genuine, and a removed agent checking back must not count as an attack on its address. */
  AGENT_REMOVED: { status: 410, message: 'this agent was removed from the control plane (`myx agents remove`); enroll it again with a new token to bring it back' },
  OPERATOR_NOT_FOUND: { status: 404, message: 'no such operator (see `myx operators list`)' },
  OPERATOR_NAME_TAKEN: { status: 409, message: 'an operator with this name exists already' },
  LAST_ADMIN: { status: 409, message: 'this is the last admin: add another admin first' },
  NO_TARGETS: { status: 400, message: 'the target set is empty' },
  COMMAND_NOT_FOUND: { status: 404, message: 'no such command' },
  RUN_NOT_FOUND: { status: 404, message: 'no such run' },
  COMMAND_NOT_YOURS: { status: 403, message: 'this command belongs to another agent' },
  COMMAND_STILL_RUNNING: { status: 409, message: 'the command is still running on this agent' },
  AGENT_STORAGE_FULL: { status: 507, message: 'the agent cannot write its journal (disk full or read-only?): it takes no new command until it can' },
  RELEASE_NOT_FOUND: { status: 404, message: 'this control plane has no release to hand out' },
  /** The release's myx-agent does not run on the control plane's host (`--version` fails): no agent gets it. */
  RELEASE_UNUSABLE: { status: 409, message: 'the release\'s myx-agent does not run (`myx-agent --version` fails); rebuild it with `npm run package`' },
  /** Retryable: the command stays queued and runs once the agent is back on its new version. */
  AGENT_UPGRADING: { status: 503, message: 'this agent is upgrading and takes no new command until it runs its new version; the command stays queued' },
  UPGRADE_WOULD_DOWNGRADE: { status: 409, message: 'some targets run a newer version than the release; pass --allow-downgrade to install it on them anyway' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode | string; message: string };
}

/** An error that maps to an HTTP response with a stable code. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERRORS[code].message);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERRORS[code].status;
  }
  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const e = (value as { error?: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string';
}

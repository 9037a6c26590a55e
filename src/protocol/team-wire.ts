// Wire types of operators and the audit log (GET/POST /api/operators, GET /api/audit): who calls,
// what an operator is, what an audit entry holds. wire.ts re-exports them with the others.

import type { AuditAction } from './audit.ts';
import type { OperatorRole } from './roles.ts';
import type { FromSchema } from './schema-types.ts';
import type { addOperatorSchema, operatorParamsSchema } from './schemas.ts';
import type { Labels } from './wire.ts';

/** Who a caller is: what GET /api/session says, and what each operator request runs as. */
export interface OperatorIdentity {
  name: string;
  role: OperatorRole;
  /** Label selector (k=v, all must match) of the agents it sees and targets; `{}` for all of them. */
  scope: Labels;
}

/** An operator as GET /api/operators lists it: never its token. */
export interface OperatorView extends OperatorIdentity {
  id: string;
  created_at: string;
  /** The last request made with its token or a console session of it (to the minute); null if never. */
  last_used_at: string | null;
}

export interface OperatorsResponse {
  operators: OperatorView[];
}

/** POST /api/operators. `scope` is for viewers and operators (an admin is never scoped). */
export type AddOperatorRequest = FromSchema<typeof addOperatorSchema>;
/** The `:name` of DELETE /api/operators/:name and POST /api/operators/:name/rotate. */
export type OperatorParams = FromSchema<typeof operatorParamsSchema>;

/** POST /api/operators and POST /api/operators/:name/rotate: the token, shown this once (only its hash is kept). */
export interface OperatorTokenResponse {
  operator: OperatorView;
  token: string;
  /** The caller rotated its own token: the one it used no longer works. */
  self: boolean;
}

/** DELETE /api/operators/:name: its tokens and console sessions stopped working. */
export interface RemoveOperatorResponse {
  removed: string;
  sessions_ended: number;
}

/**
 * One entry of the audit log (GET /api/audit, `myx audit --json`): who did what, to what, from
 * where, when, and how it ended; hash-chained to the entry before it (see protocol/audit.ts).
 */
export interface AuditEntry {
  /** 1, 2, 3, ... in the order entries were appended. */
  seq: number;
  /** When it happened (ISO-8601 UTC). */
  at: string;
  /** `operator` (a person or service account), `agent` (enrollment), `anonymous` (failed authentications), `system` (the control plane itself). */
  actor_kind: 'operator' | 'agent' | 'anonymous' | 'system';
  /** The operator's or agent's name; the source address for `anonymous`; `control-plane` for `system`. */
  actor: string;
  /** The operator's or agent's id; null for the others. */
  actor_id: string | null;
  action: AuditAction;
  /** What it acted on: agent names, run, command, token and operator ids or names. */
  targets: string[];
  /** What else says what happened, per action (command and args of a run, labels set, role and scope, ...). */
  details: Record<string, unknown>;
  /** The caller's address; null when the control plane acted by itself. */
  source: string | null;
  /** `ok`, or the error code the caller got. */
  outcome: string;
  /** The hash of the entry before (64 zeros for the first). */
  prev_hash: string;
  /** SHA-256 (hex) over prev_hash and this entry's canonical form. */
  hash: string;
}

/** GET /api/audit: entries in order, from `after`; `next_after` asks for the next page (null at the end). */
export interface AuditResponse {
  entries: AuditEntry[];
  next_after: number | null;
}

/** What `myx audit verify` found wrong with an entry. */
export interface AuditProblem {
  seq: number;
  /** `edited`: its hash does not match what it says; `missing`: deleted; `reordered`: it does not follow the entry before it but another; `broken_link`: it follows nothing that is there; `head`: the entries after it were deleted. */
  kind: 'edited' | 'missing' | 'reordered' | 'broken_link' | 'head';
  message: string;
}

/** GET /api/audit/verify */
export interface AuditVerifyResponse {
  ok: boolean;
  entries: number;
  /** The last entry the chain head names: note its hash down (or keep the log in a SIEM) to notice a rewrite of the whole chain. */
  head: { seq: number; hash: string } | null;
  problems: AuditProblem[];
}

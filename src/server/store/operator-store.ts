// The part of the store contract about people: named operators (role, scope, hashed tokens) and the
// hash-chained audit log. Entries are appended in the transaction of the action they record where
// the action is a store write (the `audit` argument of Store's write methods), or alone (appendAudit).

import type { AuditDraft } from '../../protocol/audit.ts';
import type { OperatorRole } from '../../protocol/roles.ts';
import type { AuditEntry, Labels } from '../../protocol/wire.ts';

/** An operator as stored (its tokens are kept apart, by hash only). */
export interface OperatorRow {
  id: string;
  name: string;
  role: OperatorRole;
  /** `{}`: unscoped. */
  scope: Labels;
  created_at: string;
  /** Moved on by operatorByTokenHash at most once a minute. */
  last_used_at: string | null;
}

export interface NewOperator {
  id: string;
  name: string;
  role: OperatorRole;
  scope: Labels;
}

/** The name the first start's admin has (and migrated data dirs' operator tokens belong to). */
export const FIRST_ADMIN = 'admin';

export type AddOperatorOutcome = { ok: true; operator: OperatorRow } | { ok: false; reason: 'name_taken' };
export type RemoveOperatorOutcome = { kind: 'removed'; operator: OperatorRow; sessions: number } | { kind: 'not_found' } | { kind: 'last_admin' };
export type RotateOperatorOutcome = { kind: 'rotated'; operator: OperatorRow; sessions: number } | { kind: 'not_found' };
/**
 * `created`: the store had no operator, the first admin now has the token; `added`: the token was
 * added to the first admin (a replica with an empty data dir); `known`: it was there already;
 * `refused`: not added (operators exist, and the first admin is gone or the token is not to be added).
 */
export type BootstrapOutcome = 'created' | 'added' | 'known' | 'refused';

export interface AuditFilter {
  /** Entries after this seq. @default 0 */
  after?: number;
  /** Entries at or after this time. */
  since?: string;
  /** Entries whose actor is this operator. */
  operator?: string;
  action?: string;
  limit: number;
}

/**
 * Writes that record themselves: a write method of Store that takes `audit` appends that entry to
 * the audit log in its own transaction exactly when the action took effect (each says when), so
 * an action is never without its entry, nor an entry without its action. Appends are serialized
 * on the chain head (one row, locked in the appending transaction), across every instance.
 */
export interface OperatorStore {
  /** Atomic: one operator per name (concurrent adds of one name: one `ok`, the others `name_taken`), with its first token. Audits when ok. */
  addOperator(op: NewOperator, tokenHash: string, now: string, audit?: AuditDraft): Promise<AddOperatorOutcome>;
  /** By name, byte-wise. */
  listOperators(): Promise<OperatorRow[]>;
  /** The operator a token belongs to; records the use (`last_used_at`, when it is a minute old or more). */
  operatorByTokenHash(tokenHash: string, now: string): Promise<OperatorRow | undefined>;
  /**
   * Deletes the operator, its tokens and its console sessions, in one step: none works any more.
   * The last admin is not removed (`last_admin`): concurrent removals of the last two admins leave
   * one. Audits when removed.
   */
  removeOperator(name: string, audit?: AuditDraft): Promise<RemoveOperatorOutcome>;
  /** Replaces all the operator's tokens with this one and ends its console sessions, in one step. Audits when rotated. */
  rotateOperator(name: string, tokenHash: string, now: string, audit?: AuditDraft): Promise<RotateOperatorOutcome>;
  /**
   * The first start's token (see BootstrapOutcome): with no operator at all, creates the admin
   * FIRST_ADMIN with it; with `addToFirstAdmin`, adds it to that admin when there is one. Atomic:
   * replicas starting together on a new database create one admin. Audits what it created or added.
   */
  bootstrapAdmin(id: string, tokenHash: string, now: string, addToFirstAdmin: boolean): Promise<BootstrapOutcome>;

  /** Appends an entry on its own (an action that changed nothing, such as a refusal). */
  appendAudit(draft: AuditDraft): Promise<AuditEntry>;
  /** Entries in seq order. */
  listAudit(filter: AuditFilter): Promise<AuditEntry[]>;
  /** The chain head: the seq and hash of the last entry appended; null before the first. */
  auditHead(): Promise<{ seq: number; hash: string } | null>;
}

/** What bootstrapAdmin records: the control plane itself created the first admin, or gave it one more token. */
export function bootstrapEntry(now: string, created: boolean): AuditDraft {
  return {
    at: now, actor_kind: 'system', actor: 'control-plane', actor_id: null, action: 'operator.bootstrap', targets: [FIRST_ADMIN],
    details: created ? { role: 'admin', token: 'the first start\'s (operator.token in the data dir)' } : { token: 'added for a data dir that had none' },
    source: null, outcome: 'ok',
  };
}

// The audit log's shape, the same for the control plane that writes it and any reader that checks
// it (a SIEM, `myx audit verify`): the actions, and the exact bytes each entry's hash covers.
//
// hash = SHA-256 hex of `prev_hash + "\n" + canonical(entry)`, where canonical(entry) is the JSON of
// the entry's fields but `seq`, `prev_hash` and `hash` (at, actor_kind, actor, actor_id, action,
// targets, details, source, outcome), keys sorted at every level, no spaces. The first entry's
// prev_hash is AUDIT_GENESIS. Order is fixed by the links, not by `seq` (which numbers the entries).

import type { AuditEntry } from './wire.ts';

export const AUDIT_ACTIONS = [
  'run.create', 'command.cancel', 'agents.upgrade', 'agent.remove', 'agent.labels', 'agent.enroll',
  'enrollment_token.create', 'enrollment_token.revoke',
  'operator.add', 'operator.remove', 'operator.rotate', 'operator.bootstrap',
  'session.sign_in', 'session.sign_out', 'auth.failed',
  'webhook.add', 'webhook.remove',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** The prev_hash of the first entry. */
export const AUDIT_GENESIS = '0'.repeat(64);

/** An entry before it is sealed into the chain (no seq, no hashes yet). */
export type AuditDraft = Omit<AuditEntry, 'seq' | 'prev_hash' | 'hash'>;

/** JSON with keys sorted at every level and no spaces: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** What the entry's hash is computed over (hash it with SHA-256, hex). */
export function auditHashInput(prevHash: string, e: AuditDraft): string {
  const { at, actor_kind, actor, actor_id, action, targets, details, source, outcome } = e;
  return `${prevHash}\n${canonicalJson({ at, actor_kind, actor, actor_id, action, targets, details, source, outcome })}`;
}

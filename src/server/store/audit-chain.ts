// Sealing audit entries into the hash chain, and the rows they are stored as, for every backend:
// the backend reads the chain head under its lock, seals the draft onto it, and stores the row.

import { createHash } from 'node:crypto';
import { AUDIT_GENESIS, auditHashInput, canonicalJson, type AuditDraft } from '../../protocol/audit.ts';
import type { AuditEntry } from '../../protocol/wire.ts';
import type { Row } from './rows.ts';

export const AUDIT_COLUMNS = 'seq, at, actor_kind, actor, actor_id, action, targets, details, source, outcome, prev_hash, hash';

export function auditHash(prevHash: string, draft: AuditDraft): string {
  return createHash('sha256').update(auditHashInput(prevHash, draft), 'utf8').digest('hex');
}

const sealed = new WeakSet<AuditDraft>();

/**
 * Whether this draft was sealed into the chain by a store write (in its transaction): its action
 * took effect, so a request that fails afterwards has its entry already.
 */
export function wasSealed(draft: AuditDraft): boolean {
  return sealed.has(draft);
}

/** The draft, its details saying how the action came out (`details.outcome`, e.g. a cancel's `requested`). The same object: wasSealed follows it. */
export function withOutcome(draft: AuditDraft, outcome: string): AuditDraft {
  draft.details = { ...draft.details, outcome };
  return draft;
}

/** The next entry after `head` (null: the first). Details are normalized to what JSON keeps, so the entry reads back as sealed. */
export function sealAudit(draft: AuditDraft, head: { seq: number; hash: string } | null): AuditEntry {
  sealed.add(draft);
  const { at, actor_kind, actor, actor_id, action, targets, details, source, outcome } = draft; // the draft's fields, nothing else it may carry
  const normal: AuditDraft = {
    at, actor_kind, actor, actor_id, action, targets: targets.map(String), details: JSON.parse(canonicalJson(details)) as Record<string, unknown>, source, outcome,
  };
  const prev = head?.hash ?? AUDIT_GENESIS;
  return { seq: (head?.seq ?? 0) + 1, ...normal, prev_hash: prev, hash: auditHash(prev, normal) };
}

/** Column values in AUDIT_COLUMNS order. */
export function auditValues(e: AuditEntry): (string | number | null)[] {
  return [e.seq, e.at, e.actor_kind, e.actor, e.actor_id, e.action, JSON.stringify(e.targets), canonicalJson(e.details), e.source, e.outcome, e.prev_hash, e.hash];
}

export function toAuditEntry(r: Row): AuditEntry {
  return {
    seq: Number(r.seq), at: r.at as string, actor_kind: r.actor_kind as AuditEntry['actor_kind'], actor: r.actor as string,
    actor_id: r.actor_id as string | null, action: r.action as AuditEntry['action'], targets: JSON.parse(r.targets as string) as string[],
    details: JSON.parse(r.details as string) as Record<string, unknown>, source: r.source as string | null, outcome: r.outcome as string,
    prev_hash: r.prev_hash as string, hash: r.hash as string,
  };
}

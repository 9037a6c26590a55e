// `myx audit verify`: walks the whole audit log in order and says which entries do not hold: an
// entry whose hash does not match what it says was edited; a gap in seq is deleted entries; an
// entry that links to another entry than the one before it was moved (reordered), or follows
// nothing there (the entry before it was rewritten); and a chain head (audit_head) that names a
// later or another last entry means entries at the end were deleted or rewritten.

import { AUDIT_GENESIS } from '../protocol/audit.ts';
import type { AuditEntry, AuditProblem, AuditVerifyResponse } from '../protocol/wire.ts';
import { auditHash } from './store/audit-chain.ts';
import type { Store } from './store/store.ts';

const PAGE = 5000;
/** Problems listed at most (the count of entries read is always whole). */
const MAX_PROBLEMS = 1000;

export async function verifyAudit(store: Store): Promise<AuditVerifyResponse> {
  const entries: AuditEntry[] = [];
  for (let after = 0; ;) {
    const page = await store.listAudit({ after, limit: PAGE });
    entries.push(...page);
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.seq;
  }
  const head = await store.auditHead();
  const problems = checkChain(entries, head);
  return { ok: problems.length === 0, entries: entries.length, head, problems: problems.slice(0, MAX_PROBLEMS) };
}

/** The problems of `entries` (in seq order) against the chain head. */
export function checkChain(entries: AuditEntry[], head: { seq: number; hash: string } | null): AuditProblem[] {
  const problems: AuditProblem[] = [];
  const seqOfHash = new Map(entries.map((e) => [e.hash, e.seq]));
  let prev: AuditEntry | undefined;
  for (const e of entries) {
    const expected = (prev?.seq ?? 0) + 1;
    const gap = e.seq > expected;
    if (gap) {
      problems.push({
        seq: expected, kind: 'missing',
        message: e.seq - expected === 1 ? `entry ${expected} is missing (deleted)` : `entries ${expected} to ${e.seq - 1} are missing (deleted)`,
      });
    }
    if (auditHash(e.prev_hash, e) !== e.hash) {
      problems.push({ seq: e.seq, kind: 'edited', message: `entry ${e.seq} was changed after it was written: its hash does not match what it says` });
    }
    const linksTo = prev?.hash ?? AUDIT_GENESIS;
    if (e.prev_hash !== linksTo && !gap) {
      const at = seqOfHash.get(e.prev_hash);
      problems.push(at !== undefined
        ? { seq: e.seq, kind: 'reordered', message: `entry ${e.seq} is out of order: it was written right after the entry now at seq ${at}` }
        : e.prev_hash === AUDIT_GENESIS
          ? { seq: e.seq, kind: 'reordered', message: `entry ${e.seq} is out of order: it was written first` }
          : { seq: e.seq, kind: 'broken_link', message: `entry ${e.seq} does not follow entry ${prev?.seq ?? 'none'}: the entry it was written after is gone or was rewritten` });
    }
    prev = e;
  }
  const last = entries[entries.length - 1];
  if (head === null && last) problems.push({ seq: last.seq, kind: 'head', message: 'the chain head is missing (it was deleted): the end of the log cannot be checked' });
  if (head && (!last || head.seq !== last.seq || head.hash !== last.hash)) {
    problems.push(!last || head.seq > last.seq
      ? { seq: (last?.seq ?? 0) + 1, kind: 'head', message: `entries ${(last?.seq ?? 0) + 1} to ${head.seq} are missing at the end (deleted): the chain head says the log ends at ${head.seq}` }
      : { seq: last.seq, kind: 'head', message: `the last entry (${last.seq}) is not the one the chain head names (seq ${head.seq}): the end of the log was rewritten` });
  }
  return problems;
}

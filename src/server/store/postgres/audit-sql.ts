// SQL for the audit log. An append locks the chain head (the one row of audit_head, created by the
// first append) until its transaction ends, so appends from any number of replicas take turns: each
// entry gets the next seq and links to the entry committed before it. Callers append last in their
// transaction, so the head is held only from the append to the commit.

import type { AuditDraft } from '../../../protocol/audit.ts';
import { AUDIT_GENESIS } from '../../../protocol/audit.ts';
import type { AuditEntry } from '../../../protocol/wire.ts';
import { AUDIT_COLUMNS, auditValues, sealAudit, toAuditEntry } from '../audit-chain.ts';
import type { AuditFilter } from '../operator-store.ts';
import type { Db } from './pool.ts';

/** Appends `draft`; `db` must be inside a transaction (inTransaction). */
export async function appendAudit(db: Db, draft: AuditDraft): Promise<AuditEntry> {
  // The first append creates the head; a concurrent first append waits on the row's unique key and then finds it.
  await db.query('INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING', [AUDIT_GENESIS]);
  const head = (await db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE')).rows[0]!;
  const entry = sealAudit(draft, head.seq === 0 ? null : head);
  await db.query(`INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (${AUDIT_COLUMNS.split(',').map((_, i) => `$${i + 1}`).join(', ')})`, auditValues(entry));
  await db.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [entry.seq, entry.hash]);
  return entry;
}

export async function listAudit(db: Db, f: AuditFilter): Promise<AuditEntry[]> {
  const params: unknown[] = [f.after ?? 0, f.limit];
  const where = ['seq > $1'];
  if (f.since) where.push(`at >= $${params.push(f.since)}`);
  if (f.operator) where.push(`actor_kind = 'operator' AND actor = $${params.push(f.operator)}`);
  if (f.action) where.push(`action = $${params.push(f.action)}`);
  const r = await db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $2`, params);
  return r.rows.map(toAuditEntry);
}

export async function auditHead(db: Db): Promise<{ seq: number; hash: string } | null> {
  const row = (await db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1')).rows[0];
  return row && row.seq > 0 ? { seq: row.seq, hash: row.hash } : null;
}

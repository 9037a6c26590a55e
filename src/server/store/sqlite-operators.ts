// Operators and the audit log for the SQLite store (sqlite-store.ts). Every write runs under
// BEGIN IMMEDIATE, which also serializes appends to the audit chain across instances on one file.

import type { DatabaseSync } from 'node:sqlite';
import { transaction } from '../../common/sqlite.ts';
import type { AuditDraft } from '../../protocol/audit.ts';
import type { AuditEntry } from '../../protocol/wire.ts';
import { AUDIT_COLUMNS, sealAudit, toAuditEntry, auditValues } from './audit-chain.ts';
import {
  bootstrapEntry, FIRST_ADMIN, type AddOperatorOutcome, type AuditFilter, type BootstrapOutcome, type NewOperator, type OperatorRow, type RemoveOperatorOutcome,
  type RotateOperatorOutcome,
} from './operator-store.ts';
import { toOperator, type Row } from './rows.ts';
import type { Statements } from './sqlite-statements.ts';

/** Appends `draft` to the chain; the caller holds the write transaction. */
export function appendAuditIn(stmt: Statements, draft: AuditDraft): AuditEntry {
  const head = stmt.auditHead.get() as { seq: number; hash: string } | undefined;
  const entry = sealAudit(draft, head ?? null);
  stmt.insertAudit.run(...auditValues(entry));
  stmt.setAuditHead.run(entry.seq, entry.hash);
  return entry;
}

/** A minute: how stale `last_used_at` may be before a use moves it (a write per request would be too many). */
const TOUCH_MS = 60_000;

export class SqliteOperators {
  readonly #db: DatabaseSync;
  readonly #stmt: Statements;

  constructor(db: DatabaseSync, stmt: Statements) {
    this.#db = db;
    this.#stmt = stmt;
  }

  async addOperator(op: NewOperator, tokenHash: string, now: string, audit?: AuditDraft): Promise<AddOperatorOutcome> {
    return transaction(this.#db, (): AddOperatorOutcome => {
      if (this.#stmt.operatorByName.get(op.name)) return { ok: false, reason: 'name_taken' };
      this.#stmt.addOperator.run(op.id, op.name, op.role, JSON.stringify(op.scope), now);
      this.#stmt.addOperatorToken.run(tokenHash, op.name, now, op.id);
      if (audit) appendAuditIn(this.#stmt, audit);
      return { ok: true, operator: this.#byName(op.name)! };
    });
  }

  async listOperators(): Promise<OperatorRow[]> {
    return (this.#stmt.listOperators.all() as Row[]).map(toOperator);
  }

  async operatorByTokenHash(tokenHash: string, now: string): Promise<OperatorRow | undefined> {
    const row = this.#stmt.operatorByTokenHash.get(tokenHash) as Row | undefined;
    if (!row) return undefined;
    const op = toOperator(row);
    const staleBefore = new Date(Date.parse(now) - TOUCH_MS).toISOString();
    if (op.last_used_at === null || op.last_used_at < staleBefore) {
      this.#stmt.touchOperator.run(now, op.id, staleBefore);
      op.last_used_at = now;
    }
    return op;
  }

  async removeOperator(name: string, audit?: AuditDraft): Promise<RemoveOperatorOutcome> {
    return transaction(this.#db, (): RemoveOperatorOutcome => {
      const op = this.#byName(name);
      if (!op) return { kind: 'not_found' };
      if (op.role === 'admin' && (this.#stmt.countAdmins.get() as { n: number }).n <= 1) return { kind: 'last_admin' };
      const sessions = Number(this.#stmt.endOperatorSessions.run(op.id).changes);
      this.#stmt.deleteOperatorTokens.run(op.id);
      this.#stmt.deleteOperator.run(op.id);
      if (audit) appendAuditIn(this.#stmt, audit);
      return { kind: 'removed', operator: op, sessions };
    });
  }

  async rotateOperator(name: string, tokenHash: string, now: string, audit?: AuditDraft): Promise<RotateOperatorOutcome> {
    return transaction(this.#db, (): RotateOperatorOutcome => {
      const op = this.#byName(name);
      if (!op) return { kind: 'not_found' };
      const sessions = Number(this.#stmt.endOperatorSessions.run(op.id).changes);
      this.#stmt.deleteOperatorTokens.run(op.id);
      this.#stmt.addOperatorToken.run(tokenHash, op.name, now, op.id);
      if (audit) appendAuditIn(this.#stmt, audit);
      return { kind: 'rotated', operator: op, sessions };
    });
  }

  async bootstrapAdmin(id: string, tokenHash: string, now: string, addToFirstAdmin: boolean): Promise<BootstrapOutcome> {
    return transaction(this.#db, (): BootstrapOutcome => {
      if (this.#stmt.operatorToken.get(tokenHash)) return 'known';
      const none = (this.#stmt.countOperators.get() as { n: number }).n === 0;
      if (none) this.#stmt.addOperator.run(id, FIRST_ADMIN, 'admin', '{}', now);
      const admin = this.#byName(FIRST_ADMIN);
      if (!none && (!addToFirstAdmin || admin?.role !== 'admin')) return 'refused';
      this.#stmt.addOperatorToken.run(tokenHash, FIRST_ADMIN, now, admin!.id);
      appendAuditIn(this.#stmt, bootstrapEntry(now, none));
      return none ? 'created' : 'added';
    });
  }

  async appendAudit(draft: AuditDraft): Promise<AuditEntry> {
    return transaction(this.#db, () => appendAuditIn(this.#stmt, draft));
  }

  async listAudit(f: AuditFilter): Promise<AuditEntry[]> {
    const where = ['seq > ?'];
    const params: (string | number)[] = [f.after ?? 0];
    if (f.since) where.push('at >= ?') && params.push(f.since);
    if (f.operator) where.push(`actor_kind = 'operator' AND actor = ?`) && params.push(f.operator);
    if (f.action) where.push('action = ?') && params.push(f.action);
    const sql = `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`;
    return (this.#db.prepare(sql).all(...params, f.limit) as Row[]).map(toAuditEntry);
  }

  async auditHead(): Promise<{ seq: number; hash: string } | null> {
    const head = this.#stmt.auditHead.get() as { seq: number; hash: string } | undefined;
    return head ? { seq: head.seq, hash: head.hash } : null;
  }

  #byName(name: string): OperatorRow | undefined {
    const row = this.#stmt.operatorByName.get(name) as Row | undefined;
    return row ? toOperator(row) : undefined;
  }
}

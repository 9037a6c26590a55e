// Operators and the audit log for the PostgreSQL store (postgres-store.ts). Changes to the set of
// operators take turns on an advisory lock; audit appends on the chain head's row lock (audit-sql.ts).

import type pg from 'pg';
import type { AuditDraft } from '../../../protocol/audit.ts';
import type { AuditEntry } from '../../../protocol/wire.ts';
import {
  bootstrapEntry, FIRST_ADMIN, type AddOperatorOutcome, type AuditFilter, type BootstrapOutcome, type NewOperator, type OperatorRow, type RemoveOperatorOutcome,
  type RotateOperatorOutcome,
} from '../operator-store.ts';
import { toOperator } from '../rows.ts';
import * as audit from './audit-sql.ts';
import * as ops from './operators-sql.ts';
import { inTransaction } from './pool.ts';

/** A minute: how stale `last_used_at` may be before a use moves it. */
const TOUCH_MS = 60_000;

export class PostgresOperators {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async addOperator(op: NewOperator, tokenHash: string, now: string, draft?: AuditDraft): Promise<AddOperatorOutcome> {
    return inTransaction(this.#pool, async (db): Promise<AddOperatorOutcome> => {
      await ops.lockOperators(db);
      if (await ops.operatorByName(db, op.name)) return { ok: false, reason: 'name_taken' };
      await ops.insertOperator(db, op, now);
      await ops.insertToken(db, tokenHash, op, now);
      if (draft) await audit.appendAudit(db, draft);
      return { ok: true, operator: toOperator((await ops.operatorByName(db, op.name))!) };
    });
  }

  async listOperators(): Promise<OperatorRow[]> {
    return (await ops.listOperators(this.#pool)).map(toOperator);
  }

  async operatorByTokenHash(tokenHash: string, now: string): Promise<OperatorRow | undefined> {
    const row = await ops.operatorByTokenHash(this.#pool, tokenHash);
    if (!row) return undefined;
    const op = toOperator(row);
    const staleBefore = new Date(Date.parse(now) - TOUCH_MS).toISOString();
    if (op.last_used_at === null || op.last_used_at < staleBefore) {
      await ops.touchOperator(this.#pool, op.id, now, staleBefore);
      op.last_used_at = now;
    }
    return op;
  }

  async removeOperator(name: string, draft?: AuditDraft): Promise<RemoveOperatorOutcome> {
    return inTransaction(this.#pool, async (db): Promise<RemoveOperatorOutcome> => {
      await ops.lockOperators(db);
      const row = await ops.operatorByName(db, name);
      if (!row) return { kind: 'not_found' };
      const op = toOperator(row);
      if (op.role === 'admin' && (await ops.countOperators(db, 'admin')) <= 1) return { kind: 'last_admin' };
      const sessions = await ops.dropCredentials(db, op.id);
      await ops.deleteOperator(db, op.id);
      if (draft) await audit.appendAudit(db, draft);
      return { kind: 'removed', operator: op, sessions };
    });
  }

  async rotateOperator(name: string, tokenHash: string, now: string, draft?: AuditDraft): Promise<RotateOperatorOutcome> {
    return inTransaction(this.#pool, async (db): Promise<RotateOperatorOutcome> => {
      await ops.lockOperators(db);
      const row = await ops.operatorByName(db, name);
      if (!row) return { kind: 'not_found' };
      const op = toOperator(row);
      const sessions = await ops.dropCredentials(db, op.id);
      await ops.insertToken(db, tokenHash, op, now);
      if (draft) await audit.appendAudit(db, draft);
      return { kind: 'rotated', operator: op, sessions };
    });
  }

  async bootstrapAdmin(id: string, tokenHash: string, now: string, addToFirstAdmin: boolean): Promise<BootstrapOutcome> {
    return inTransaction(this.#pool, async (db): Promise<BootstrapOutcome> => {
      await ops.lockOperators(db);
      if (await ops.tokenKnown(db, tokenHash)) return 'known';
      const none = (await ops.countOperators(db)) === 0;
      if (none) await ops.insertOperator(db, { id, name: FIRST_ADMIN, role: 'admin', scope: {} }, now);
      const admin = await ops.operatorByName(db, FIRST_ADMIN);
      if (!none && (!addToFirstAdmin || admin?.role !== 'admin')) return 'refused';
      await ops.insertToken(db, tokenHash, { id: admin!.id as string, name: FIRST_ADMIN }, now);
      await audit.appendAudit(db, bootstrapEntry(now, none));
      return none ? 'created' : 'added';
    });
  }

  async appendAudit(draft: AuditDraft): Promise<AuditEntry> {
    return inTransaction(this.#pool, (db) => audit.appendAudit(db, draft));
  }

  async listAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    return audit.listAudit(this.#pool, filter);
  }

  async auditHead(): Promise<{ seq: number; hash: string } | null> {
    return audit.auditHead(this.#pool);
  }
}

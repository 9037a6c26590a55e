// Webhooks and their deliveries for the PostgreSQL store (postgres-store.ts): additions take turns
// on an advisory lock (the cap), claims use FOR UPDATE SKIP LOCKED (any replica, one attempt at a
// time per delivery), and an attempt is recorded only under the claim that made it.

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { AuditDraft } from '../../../protocol/audit.ts';
import { attemptColumns, toClaimed, toDelivery, toWebhook } from '../webhook-rows.ts';
import type { AttemptOutcome, ClaimedDelivery, DeliveryRow, NewWebhook, WebhookRow, WebhookStore } from '../webhook-store.ts';
import { appendAudit } from './audit-sql.ts';
import { inTransaction } from './pool.ts';
import * as sql from './webhooks-sql.ts';

export class PostgresWebhooks implements WebhookStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async addWebhook(w: NewWebhook, now: string, max: number, audit?: AuditDraft): Promise<{ ok: true; webhook: WebhookRow } | { ok: false; reason: 'too_many' }> {
    return inTransaction(this.#pool, async (db) => {
      await sql.lockWebhooksCap(db);
      if ((await sql.countWebhooks(db)) >= max) return { ok: false as const, reason: 'too_many' as const };
      const row = await sql.insertWebhook(db, w, now);
      if (audit) await appendAudit(db, audit);
      return { ok: true as const, webhook: toWebhook(row) };
    });
  }

  async listWebhooks(): Promise<WebhookRow[]> {
    return (await sql.listWebhooks(this.#pool)).map(toWebhook);
  }

  async getWebhook(id: string): Promise<WebhookRow | undefined> {
    const row = await sql.webhookById(this.#pool, id);
    return row ? toWebhook(row) : undefined;
  }

  async removeWebhook(id: string, audit?: AuditDraft): Promise<{ undelivered: number } | undefined> {
    return inTransaction(this.#pool, async (db) => {
      const undelivered = await sql.deleteWebhook(db, id);
      if (undelivered === undefined) return undefined;
      if (audit) await appendAudit(db, audit);
      return { undelivered };
    });
  }

  async listDeliveries(webhookId: string, limit: number): Promise<DeliveryRow[]> {
    return (await sql.listDeliveries(this.#pool, webhookId, limit)).map(toDelivery);
  }

  async claimDeliveries(now: string, claimedUntil: string, limit: number): Promise<ClaimedDelivery[]> {
    const rows = await sql.claimDeliveries(this.#pool, now, claimedUntil, limit, randomUUID());
    return rows.map(toClaimed).sort((a, b) => (a.next_attempt_at ?? '').localeCompare(b.next_attempt_at ?? '') || a.created_at.localeCompare(b.created_at));
  }

  async pruneDeliveries(createdBefore: string, limit: number): Promise<number> {
    return sql.pruneDeliveries(this.#pool, createdBefore, limit);
  }

  async recordAttempt(deliveryId: string, claim: string, outcome: AttemptOutcome): Promise<boolean> {
    return inTransaction(this.#pool, async (db) => {
      const history = await sql.claimedHistory(db, deliveryId, claim);
      if (history === undefined) return false;
      return sql.recordAttempt(db, deliveryId, claim, attemptColumns(JSON.parse(history), outcome));
    });
  }
}

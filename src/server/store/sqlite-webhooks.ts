// Webhooks and their deliveries for the SQLite store (sqlite-store.ts). One writer at a time
// (BEGIN IMMEDIATE), so a claim's select and update are one step; deliveries are enqueued by the
// triggers of migration 0011 from the writes that end commands.

import { randomUUID } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { transaction } from '../../common/sqlite.ts';
import type { AuditDraft } from '../../protocol/audit.ts';
import type { Row } from './rows.ts';
import { appendAuditIn } from './sqlite-operators.ts';
import type { Statements } from './sqlite-statements.ts';
import { attemptColumns, toClaimed, toDelivery, toWebhook } from './webhook-rows.ts';
import type { AttemptOutcome, ClaimedDelivery, DeliveryRow, NewWebhook, WebhookRow, WebhookStore } from './webhook-store.ts';

/** Due: pending and its time came (a run.finished only once its run has no unfinished command), or sending under a claim that ran out. */
const DUE = `((d.state = 'pending' AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= :now)) OR (d.state = 'sending' AND d.claimed_until < :now))
  AND (d.event <> 'run.finished' OR NOT EXISTS (
    SELECT 1 FROM commands c WHERE c.run_id = d.subject_id AND c.status IN ('waiting', 'queued', 'dispatched', 'running')))`;

export class SqliteWebhooks implements WebhookStore {
  readonly #db: DatabaseSync;
  readonly #stmt: Statements;
  readonly #s: Record<string, StatementSync>;

  constructor(db: DatabaseSync, stmt: Statements) {
    this.#db = db;
    this.#stmt = stmt;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      count: p('SELECT COUNT(*) AS n FROM webhooks'),
      insert: p('INSERT INTO webhooks (id, url, events, secret, fingerprint, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      list: p('SELECT * FROM webhooks ORDER BY created_at, id'),
      get: p('SELECT * FROM webhooks WHERE id = ?'),
      undelivered: p(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND state <> 'delivered'`),
      remove: p('DELETE FROM webhooks WHERE id = ?'),
      deliveries: p('SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT ?'),
      anyDue: p(`SELECT 1 AS due FROM webhook_deliveries d WHERE ${DUE} LIMIT 1`),
      due: p(`SELECT d.id FROM webhook_deliveries d WHERE ${DUE} ORDER BY d.next_attempt_at IS NOT NULL, d.next_attempt_at, d.created_at LIMIT :limit`),
      claim: p(`UPDATE webhook_deliveries SET state = 'sending', claim = :claim, claimed_until = :until, attempts = attempts + 1, last_attempt_at = :now WHERE id = :id`),
      claimed: p(`SELECT d.*, w.url, w.secret, w.fingerprint FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
        WHERE d.claim = ? ORDER BY d.next_attempt_at IS NOT NULL, d.next_attempt_at, d.created_at`),
      history: p('SELECT history FROM webhook_deliveries WHERE id = ? AND claim = ?'),
      prune: p(`DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries WHERE state IN ('delivered', 'failed') AND created_at < ? LIMIT ?)`),
      record: p(`UPDATE webhook_deliveries SET state = :state, next_attempt_at = :next_attempt_at, last_status = :last_status, last_error = :last_error,
        delivered_at = :delivered_at, history = :history, claim = NULL, claimed_until = NULL WHERE id = :id AND claim = :claim`),
    };
  }

  async addWebhook(w: NewWebhook, now: string, max: number, audit?: AuditDraft): Promise<{ ok: true; webhook: WebhookRow } | { ok: false; reason: 'too_many' }> {
    return transaction(this.#db, () => {
      if ((this.#s.count!.get() as { n: number }).n >= max) return { ok: false as const, reason: 'too_many' as const };
      this.#s.insert!.run(w.id, w.url, JSON.stringify(w.events), w.secret, w.fingerprint, now, w.created_by);
      if (audit) appendAuditIn(this.#stmt, audit);
      return { ok: true as const, webhook: toWebhook(this.#s.get!.get(w.id) as Row) };
    });
  }

  async listWebhooks(): Promise<WebhookRow[]> {
    return (this.#s.list!.all() as Row[]).map(toWebhook);
  }

  async getWebhook(id: string): Promise<WebhookRow | undefined> {
    const row = this.#s.get!.get(id) as Row | undefined;
    return row ? toWebhook(row) : undefined;
  }

  async removeWebhook(id: string, audit?: AuditDraft): Promise<{ undelivered: number } | undefined> {
    return transaction(this.#db, () => {
      const undelivered = (this.#s.undelivered!.get(id) as { n: number }).n;
      if (Number(this.#s.remove!.run(id).changes) === 0) return undefined;
      if (audit) appendAuditIn(this.#stmt, audit);
      return { undelivered };
    });
  }

  async listDeliveries(webhookId: string, limit: number): Promise<DeliveryRow[]> {
    return (this.#s.deliveries!.all(webhookId, limit) as Row[]).map(toDelivery);
  }

  async claimDeliveries(now: string, claimedUntil: string, limit: number): Promise<ClaimedDelivery[]> {
    // looked for first without the write lock: every replica looks every second, mostly for nothing
    if (!this.#s.anyDue!.get({ now })) return [];
    const claim = randomUUID();
    return transaction(this.#db, () => {
      const ids = (this.#s.due!.all({ now, limit }) as { id: string }[]).map((r) => r.id);
      for (const id of ids) this.#s.claim!.run({ claim, until: claimedUntil, now, id });
      return ids.length === 0 ? [] : (this.#s.claimed!.all(claim) as Row[]).map(toClaimed);
    });
  }

  async pruneDeliveries(createdBefore: string, limit: number): Promise<number> {
    return Number(this.#s.prune!.run(createdBefore, limit).changes);
  }

  async recordAttempt(deliveryId: string, claim: string, outcome: AttemptOutcome): Promise<boolean> {
    return transaction(this.#db, () => {
      const row = this.#s.history!.get(deliveryId, claim) as { history: string } | undefined;
      if (!row) return false;
      const cols = attemptColumns(JSON.parse(row.history), outcome);
      return Number(this.#s.record!.run({ ...cols, id: deliveryId, claim }).changes) > 0;
    });
  }
}

// SQL for webhooks and their deliveries. Deliveries are enqueued by the triggers of migration 0009
// (from the writes that create runs and end commands); these claim and record them.

import type { Row } from '../rows.ts';
import type { NewWebhook } from '../webhook-store.ts';
import type { Db } from './pool.ts';

/** Advisory lock key ('myxw'): webhook additions take turns so the cap holds. */
const WEBHOOKS_CAP_LOCK = 0x6d797877;

export async function lockWebhooksCap(db: Db): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock($1)', [WEBHOOKS_CAP_LOCK]);
}

export async function countWebhooks(db: Db): Promise<number> {
  return Number((await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM webhooks')).rows[0]!.n);
}

export async function insertWebhook(db: Db, w: NewWebhook, now: string): Promise<Row> {
  const r = await db.query('INSERT INTO webhooks (id, url, events, secret, fingerprint, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *',
    [w.id, w.url, JSON.stringify(w.events), w.secret, w.fingerprint, now, w.created_by]);
  return r.rows[0] as Row;
}

export async function listWebhooks(db: Db): Promise<Row[]> {
  return (await db.query('SELECT * FROM webhooks ORDER BY created_at, id')).rows as Row[];
}

export async function webhookById(db: Db, id: string): Promise<Row | undefined> {
  return (await db.query('SELECT * FROM webhooks WHERE id = $1', [id])).rows[0] as Row | undefined;
}

/** Deletes the webhook (its deliveries go with it, ON DELETE CASCADE); how many of them were not delivered, or undefined when there was none. */
export async function deleteWebhook(db: Db, id: string): Promise<number | undefined> {
  const r = await db.query<{ n: number }>(
    `WITH gone AS (DELETE FROM webhooks WHERE id = $1 RETURNING id)
     SELECT (SELECT COUNT(*)::int FROM webhook_deliveries WHERE webhook_id = $1 AND state <> 'delivered') AS n FROM gone`, [id]);
  return r.rows[0]?.n;
}

export async function listDeliveries(db: Db, webhookId: string, limit: number): Promise<Row[]> {
  return (await db.query('SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2', [webhookId, limit])).rows as Row[];
}

/**
 * Claims due deliveries for one attempt each: pending and due (a run.finished only once no command
 * of its run is unfinished), or sending under a claim that ran out. SKIP LOCKED: a row another
 * replica is claiming is left to it; exactly the rows this changed come back, with their webhook's
 * URL and secret.
 */
export async function claimDeliveries(db: Db, now: string, until: string, limit: number, claim: string): Promise<Row[]> {
  const r = await db.query(
    `UPDATE webhook_deliveries d SET state = 'sending', claim = $4, claimed_until = $2, attempts = d.attempts + 1, last_attempt_at = $1
     FROM webhooks w
     WHERE w.id = d.webhook_id AND d.id IN (
       SELECT x.id FROM webhook_deliveries x
       WHERE ((x.state = 'pending' AND (x.next_attempt_at IS NULL OR x.next_attempt_at <= $1)) OR (x.state = 'sending' AND x.claimed_until < $1))
         AND (x.event <> 'run.finished' OR NOT EXISTS (
           SELECT 1 FROM commands c WHERE c.run_id = x.subject_id AND c.status IN ('waiting', 'queued', 'dispatched', 'running')))
       ORDER BY x.next_attempt_at NULLS FIRST, x.created_at LIMIT $3
       FOR UPDATE OF x SKIP LOCKED)
     RETURNING d.*, w.url, w.secret, w.fingerprint`, [now, until, limit, claim]);
  return r.rows as Row[];
}

/** Deletes deliveries that are over and old; a row another sweeper holds is left to it. */
export async function pruneDeliveries(db: Db, createdBefore: string, limit: number): Promise<number> {
  const r = await db.query(
    `DELETE FROM webhook_deliveries WHERE id IN (
       SELECT id FROM webhook_deliveries WHERE state IN ('delivered', 'failed') AND created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, [createdBefore, limit]);
  return r.rowCount!;
}

/** The history of a delivery while this claim holds it (locked until the transaction ends). */
export async function claimedHistory(db: Db, id: string, claim: string): Promise<string | undefined> {
  return (await db.query<{ history: string }>('SELECT history FROM webhook_deliveries WHERE id = $1 AND claim = $2 FOR UPDATE', [id, claim])).rows[0]?.history;
}

export async function recordAttempt(db: Db, id: string, claim: string, c: { state: string; next_attempt_at: string | null; last_status: number | null;
  last_error: string | null; delivered_at: string | null; history: string }): Promise<boolean> {
  const r = await db.query(
    `UPDATE webhook_deliveries SET state = $3, next_attempt_at = $4, last_status = $5, last_error = $6, delivered_at = $7, history = $8,
       claim = NULL, claimed_until = NULL WHERE id = $1 AND claim = $2`,
    [id, claim, c.state, c.next_attempt_at, c.last_status, c.last_error, c.delivered_at, c.history]);
  return r.rowCount! > 0;
}

// The part of the store contract about webhooks: the webhooks themselves (with the secret their
// deliveries are signed with, kept because it must be used, as agent tokens are) and their
// deliveries, rows that any replica claims, one attempt at a time.
//
// Deliveries are enqueued by the database itself, from the write that ends a command (a trigger on
// `commands`, whichever store method made the change: a result, a cancel, an expiry, a skip, a
// removal; STYLE.md 13): `command.finished` for each webhook that hears it, and, for each webhook
// that hears `run.finished`, one row per run that becomes due once no command of the run is left
// unfinished. Nothing between the change and its event can be lost to a dying replica.

import type { AuditDraft } from '../../protocol/audit.ts';
import type { WebhookAttempt, WebhookDeliveryView, WebhookView } from '../../protocol/wire.ts';

/** A webhook as stored: what the API shows, and the secret. */
export interface WebhookRow extends WebhookView {
  secret: string;
}

export type NewWebhook = Omit<WebhookRow, 'created_at'>;

/** A delivery as stored: what `GET /api/webhooks/:id/deliveries` shows, field for field. */
export type DeliveryRow = WebhookDeliveryView;

/** A delivery claimed for one attempt: the row (attempts counts this one), its claim, and where and how to send it. */
export interface ClaimedDelivery extends DeliveryRow {
  claim: string;
  url: string;
  secret: string;
  fingerprint: string | null;
}

/** What an attempt did. `retryAt`: when to try again after a failure; null: no more tries (it failed for good). */
export type AttemptOutcome =
  | { ok: true; attempt: WebhookAttempt }
  | { ok: false; attempt: WebhookAttempt; retryAt: string | null };

/** Attempts kept in a delivery's history, at most (the newest). */
export const DELIVERY_HISTORY_MAX = 20;

export interface WebhookStore {
  /** Adds a webhook unless `max` exist already (atomic: concurrent adds cannot go past it). Audits when added. */
  addWebhook(w: NewWebhook, now: string, max: number, audit?: AuditDraft): Promise<{ ok: true; webhook: WebhookRow } | { ok: false; reason: 'too_many' }>;
  /** Oldest first. */
  listWebhooks(): Promise<WebhookRow[]>;
  getWebhook(id: string): Promise<WebhookRow | undefined>;
  /**
   * Removes it and its deliveries in one step (an attempt on its way records nothing); undefined
   * when there is no such webhook. Of concurrent removals one gets the count. Audits when removed.
   */
  removeWebhook(id: string, audit?: AuditDraft): Promise<{ undelivered: number } | undefined>;
  /** The webhook's deliveries, newest first. */
  listDeliveries(webhookId: string, limit: number): Promise<DeliveryRow[]>;
  /**
   * Claims up to `limit` deliveries for one attempt each, oldest due first: pending ones due at
   * `now` (a `run.finished` only once its run has no unfinished command), and those whose claim ran
   * out (`sending` past its `claimedUntil`: the replica sending it died). Each claimed row is
   * `sending`, its attempts counted one more, under a claim of its own until `claimedUntil`.
   * Concurrent claimers (any instances) never get the same row: exactly the rows it changed.
   */
  claimDeliveries(now: string, claimedUntil: string, limit: number): Promise<ClaimedDelivery[]>;
  /**
   * Records the attempt of this claim: `delivered`; or `pending` again until `retryAt`; or
   * `failed`. The attempt joins the history (the last DELIVERY_HISTORY_MAX). No-op (false) when the
   * claim is no longer the row's (it ran out and another took it) or the row is gone.
   */
  recordAttempt(deliveryId: string, claim: string, outcome: AttemptOutcome): Promise<boolean>;
  /**
   * Deletes up to `limit` deliveries that are over (delivered or failed) and were created before
   * `createdBefore`; returns how many. Concurrent callers delete each row once (a row another is
   * deleting is left to it).
   */
  pruneDeliveries(createdBefore: string, limit: number): Promise<number>;
}

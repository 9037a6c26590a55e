// Webhook and delivery rows to records, for every backend (JSON in text columns; PostgreSQL hands
// over text as strings, numbers as numbers).

import type { WebhookAttempt, WebhookDeliveryState } from '../../protocol/wire.ts';
import type { WebhookEventType } from '../../protocol/webhooks.ts';
import type { Row } from './rows.ts';
import { DELIVERY_HISTORY_MAX, type AttemptOutcome, type ClaimedDelivery, type DeliveryRow, type WebhookRow } from './webhook-store.ts';

export function toWebhook(r: Row): WebhookRow {
  return {
    id: r.id as string, url: r.url as string, events: JSON.parse(r.events as string) as WebhookEventType[], secret: r.secret as string,
    fingerprint: r.fingerprint as string | null, created_at: r.created_at as string, created_by: r.created_by as string | null,
  };
}

export function toDelivery(r: Row): DeliveryRow {
  return {
    id: r.id as string, webhook_id: r.webhook_id as string, event: r.event as WebhookEventType, event_id: r.event_id as string,
    subject_id: r.subject_id as string, state: r.state as WebhookDeliveryState, attempts: Number(r.attempts), created_at: r.created_at as string,
    next_attempt_at: r.next_attempt_at as string | null, last_attempt_at: r.last_attempt_at as string | null,
    last_status: r.last_status === null ? null : Number(r.last_status), last_error: r.last_error as string | null,
    delivered_at: r.delivered_at as string | null, history: JSON.parse(r.history as string) as WebhookAttempt[],
  };
}

export function toClaimed(r: Row): ClaimedDelivery {
  return { ...toDelivery(r), claim: r.claim as string, url: r.url as string, secret: r.secret as string, fingerprint: r.fingerprint as string | null };
}

/** The columns recordAttempt writes, from the outcome and the history before it. */
export function attemptColumns(history: WebhookAttempt[], o: AttemptOutcome) {
  return {
    state: o.ok ? 'delivered' : o.retryAt === null ? 'failed' : 'pending',
    next_attempt_at: o.ok ? null : o.retryAt,
    last_status: o.attempt.status,
    last_error: o.attempt.error,
    delivered_at: o.ok ? o.attempt.at : null,
    history: JSON.stringify([...history, o.attempt].slice(-DELIVERY_HISTORY_MAX)),
  };
}

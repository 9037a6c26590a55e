// Wire types of webhooks: the operator API that manages them (GET/POST/DELETE /api/webhooks,
// GET /api/webhooks/:id/deliveries) and the events the control plane POSTs to receivers.
// wire.ts re-exports them with the others.

import type { CommandStatus } from './command-status.ts';
import type { FromSchema } from './schema-types.ts';
import type { addWebhookSchema } from './schemas.ts';
import type { WebhookEventType } from './webhooks.ts';
import type { CommandRecord, RunRecord } from './wire.ts';

/** POST /api/webhooks */
export type AddWebhookRequest = FromSchema<typeof addWebhookSchema>;

/** A webhook as GET /api/webhooks lists it: never its secret. */
export interface WebhookView {
  id: string;
  url: string;
  events: WebhookEventType[];
  /** The receiver's pinned certificate fingerprint; null: its certificate is checked against the system's CAs (or it is http). */
  fingerprint: string | null;
  created_at: string;
  /** The operator who added it. */
  created_by: string | null;
}

/** POST /api/webhooks: the webhook, and its secret when the control plane made it (shown this once; null when the request gave one). */
export interface AddWebhookResponse {
  webhook: WebhookView;
  secret: string | null;
}

export interface WebhooksResponse {
  webhooks: WebhookView[];
}

/** DELETE /api/webhooks/:id: it hears nothing more; its deliveries, sent or not, are dropped with it. */
export interface RemoveWebhookResponse {
  removed: string;
  /** Deliveries dropped that had not been delivered (pending, being sent, or failed). */
  undelivered: number;
}

/**
 * `pending`: waiting for its first attempt, a retry, or (run.finished) its run's end; `sending`:
 * an attempt is on its way; `delivered`: a 2xx answer; `failed`: every attempt failed, no more.
 */
export type WebhookDeliveryState = 'pending' | 'sending' | 'delivered' | 'failed';

/** One attempt of a delivery. */
export interface WebhookAttempt {
  at: string;
  /** The receiver's HTTP status; null when none came (refused, timed out, TLS). */
  status: number | null;
  /** Why it failed; null for a 2xx. */
  error: string | null;
  duration_ms: number;
}

/** GET /api/webhooks/:id/deliveries: one event on its way to one webhook. */
export interface WebhookDeliveryView {
  id: string;
  webhook_id: string;
  event: WebhookEventType;
  /** The event's id (X-Myx-Event-Id), the same on every attempt. */
  event_id: string;
  /** The run or command it is about. */
  subject_id: string;
  state: WebhookDeliveryState;
  /** Attempts made (or started) so far. */
  attempts: number;
  created_at: string;
  /** When the next attempt goes (pending); null when it is due now or there is none. */
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  /** The last attempt's HTTP status, null if it got none. */
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  /** The attempts, oldest first (the last 20). */
  history: WebhookAttempt[];
}

export interface WebhookDeliveriesResponse {
  deliveries: WebhookDeliveryView[];
}

/** A command as events carry it: its record with the names of its environment variables (never their values), its output cut to 4 KiB per stream (the sizes stay whole). */
export interface WebhookCommand extends Omit<CommandRecord, 'env'> {
  env_keys: string[];
}

/** A command of a finished run, in short. */
export interface WebhookRunCommand {
  id: string;
  agent_id: string;
  agent_name: string;
  status: CommandStatus;
  exit_code: number | null;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
}

/** The JSON body of a delivery. `occurred_at`: when the command or the run finished. */
export type WebhookEvent =
  | { id: string; type: 'command.finished'; occurred_at: string | null; data: { command: WebhookCommand } }
  | { id: string; type: 'run.finished'; occurred_at: string | null; data: { run: RunRecord; commands: WebhookRunCommand[] } };

// Webhooks, as both ends see them: the events the control plane POSTs, the headers it sends, and
// the exact bytes it signs, so a receiver in any language can check a delivery (docs/webhooks.md).
//
// X-Myx-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>
//
// `t` is when this attempt was sent (each retry signs again); the event id (X-Myx-Event-Id, and
// `id` in the body) is the same on every attempt. A receiver checks the HMAC over the raw body,
// refuses a `t` more than WEBHOOK_TOLERANCE_SECONDS away from its clock, and drops an event id it
// has taken already: a captured delivery cannot be replayed later, and a retry of one it took is
// not taken twice.

/** The events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = ['run.finished', 'command.finished'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export const WEBHOOK_HEADERS = {
  /** `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
  signature: 'x-myx-signature',
  /** The event's id: the same on every attempt (de-duplicate on it). */
  eventId: 'x-myx-event-id',
  /** `run.finished` or `command.finished`. */
  event: 'x-myx-event',
  /** The delivery's id (`myx webhooks deliveries` lists it). */
  delivery: 'x-myx-delivery',
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt: 'x-myx-attempt',
} as const;

/** How far a signature's time may be from the receiver's clock (seconds) before it refuses it: the replay window. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The text the HMAC covers: the signature's time, a dot, the body exactly as sent. */
export function webhookSignedText(t: number, body: string): string {
  return `${t}.${body}`;
}

/** The parts of an X-Myx-Signature header; null when it is not one. */
export function parseWebhookSignature(header: string): { t: number; v1: string[] } | null {
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === 't' && v && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && v && /^[0-9a-f]{64}$/.test(v)) v1.push(v);
  }
  return t === undefined || v1.length === 0 ? null : { t, v1 };
}

/** A generated secret: `whsec_` and 32 random bytes, base64url. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

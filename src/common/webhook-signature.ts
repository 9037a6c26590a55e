// The HMAC of webhook deliveries (the scheme is protocol/webhooks.ts): the control plane signs
// with it, and receivers written with the SDK check with it (verifyWebhookSignature), so both ends
// compute the same bytes the same way.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseWebhookSignature, WEBHOOK_TOLERANCE_SECONDS, webhookSignedText } from '../protocol/webhooks.ts';

/** The X-Myx-Signature value for `body` sent at `t` (unix seconds). */
export function signWebhook(secret: string, body: string, t: number): string {
  return `t=${t},v1=${hmac(secret, t, body)}`;
}

export interface WebhookCheck {
  /** The webhook's secret. */
  secret: string;
  /** The X-Myx-Signature header as received. */
  signature: string | undefined;
  /** The request body exactly as received (bytes, or text decoded as UTF-8), before any parsing. */
  body: string | Uint8Array;
  /** Seconds the signature's time may be from now. @default 300 (WEBHOOK_TOLERANCE_SECONDS) */
  toleranceSeconds?: number;
  /** The receiver's clock, unix seconds. @default now */
  now?: number;
}

/**
 * Whether a delivery is genuine and fresh: the HMAC over the raw body matches, and its time is
 * within the tolerance of the receiver's clock. (Also drop an X-Myx-Event-Id seen before: that is a
 * retry of an event already taken, or a replay within the window.)
 */
export function verifyWebhookSignature(c: WebhookCheck): boolean {
  const parsed = c.signature === undefined ? null : parseWebhookSignature(c.signature);
  if (!parsed) return false;
  const now = c.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - parsed.t) > (c.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS)) return false;
  const expected = Buffer.from(hmac(c.secret, parsed.t, c.body), 'hex');
  return parsed.v1.some((v) => timingSafeEqual(Buffer.from(v, 'hex'), expected));
}

/** HMAC-SHA256 of webhookSignedText(t, body), over the body's bytes as they are. */
function hmac(secret: string, t: number, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(webhookSignedText(t, ''), 'utf8').update(body).digest('hex');
}

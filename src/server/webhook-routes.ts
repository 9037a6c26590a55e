// The operator API for webhooks (admins only, each change audited): add one (its secret, when the
// control plane makes it, is answered this once), list them (never a secret), remove one, and see
// its deliveries. The URL may carry a token in its path or query, so logs and the audit log name
// only its origin; the secret is kept to sign with, never logged.

import type { FastifyInstance } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { normalizeFingerprint } from '../protocol/fingerprint.ts';
import { addWebhookSchema, idParamsSchema, limitQuerySchema } from '../protocol/schemas.ts';
import type {
  AddWebhookRequest, AddWebhookResponse, IdParams, LimitQuery, RemoveWebhookResponse, WebhookDeliveriesResponse, WebhooksResponse, WebhookView,
} from '../protocol/wire.ts';
import { auditEntry } from './audit.ts';
import { callingOperator, operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { newId, newToken } from './secrets.ts';
import type { WebhookRow } from './store/webhook-store.ts';
import { origin } from './webhook-sender.ts';

export function webhookRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;

  app.post<{ Body: AddWebhookRequest }>('/api/webhooks', { ...operatorRoute('admin', 'webhook.add'), schema: { body: addWebhookSchema } }, async (req, reply) => {
    const { url, events } = req.body;
    const audit = auditEntry(req, { targets: [], details: { url: origin(url), events, pinned: req.body.fingerprint !== undefined, secret: req.body.secret ? 'given' : 'generated' } });
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ApiError('BAD_REQUEST', 'the webhook URL is not a URL (http://HOST[:PORT]/PATH or https://…)');
    }
    if (parsed.hostname === '') throw new ApiError('BAD_REQUEST', 'the webhook URL needs a host');
    let fingerprint: string | null = null;
    if (req.body.fingerprint !== undefined) {
      if (parsed.protocol !== 'https:') throw new ApiError('BAD_REQUEST', 'a fingerprint pins an https:// receiver\'s certificate: this URL is http://');
      fingerprint = normalizeFingerprint(req.body.fingerprint) ?? null;
      if (!fingerprint) throw new ApiError('BAD_REQUEST', 'the fingerprint must be a SHA-256 fingerprint: 64 hex digits, colons optional');
    }
    const generated = req.body.secret === undefined;
    const secret = req.body.secret ?? newToken('webhook');
    const id = newId('whk');
    audit.targets = [id];
    const added = await store.addWebhook({ id, url, events, secret, fingerprint, created_by: callingOperator(req).name }, new Date().toISOString(), ctx.options.webhooks.max, audit);
    if (!added.ok) throw new ApiError('WEBHOOKS_TOO_MANY', `this control plane has ${ctx.options.webhooks.max} webhooks, as many as it takes: remove one first (\`myx webhooks list\`)`);
    ctx.log.info({ webhook: id, to: origin(url), events, pinned: fingerprint !== null, by: callingOperator(req).name }, 'webhook added');
    const body: AddWebhookResponse = { webhook: webhookView(added.webhook), secret: generated ? secret : null };
    return reply.code(201).send(body);
  });

  app.get('/api/webhooks', operatorRoute('admin'), async () => {
    const body: WebhooksResponse = { webhooks: (await store.listWebhooks()).map(webhookView) };
    return body;
  });

  app.delete<{ Params: IdParams }>('/api/webhooks/:id', { ...operatorRoute('admin', 'webhook.remove'), schema: { params: idParamsSchema } }, async (req) => {
    const { id } = req.params;
    const removed = await store.removeWebhook(id, auditEntry(req, { targets: [id] }));
    if (!removed) throw notFound(id);
    ctx.log.info({ webhook: id, undelivered: removed.undelivered, by: callingOperator(req).name }, 'webhook removed');
    const body: RemoveWebhookResponse = { removed: id, undelivered: removed.undelivered };
    return body;
  });

  app.get<{ Params: IdParams; Querystring: LimitQuery }>('/api/webhooks/:id/deliveries', { ...operatorRoute('admin'), schema: { params: idParamsSchema, querystring: limitQuerySchema } }, async (req) => {
    const { id } = req.params;
    if (!(await store.getWebhook(id))) throw notFound(id);
    const body: WebhookDeliveriesResponse = { deliveries: await store.listDeliveries(id, Math.max(1, Math.min(Number(req.query.limit ?? 50), 1000))) };
    return body;
  });
}

function notFound(id: string): ApiError {
  return new ApiError('WEBHOOK_NOT_FOUND', `no webhook with id ${id} (see \`myx webhooks list\`)`);
}

/** What the API shows of a webhook: everything but its secret. */
export function webhookView(w: WebhookRow): WebhookView {
  return { id: w.id, url: w.url, events: w.events, fingerprint: w.fingerprint, created_at: w.created_at, created_by: w.created_by };
}

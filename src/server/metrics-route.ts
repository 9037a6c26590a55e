// GET /metrics on the control plane's HTTPS API: the Prometheus text format, for any operator (a
// viewer is enough; Prometheus sends the token as `Authorization: Bearer`). The numbers are
// fleet-wide counts and timings that name no agent, command or label, so a scoped operator sees the
// same as any other. `--metrics-listen` serves the same text on a loopback address (metrics-listener.ts).

import type { FastifyInstance } from 'fastify';
import { operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';

export function metricsRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/metrics', operatorRoute('viewer'), async (_req, reply) => {
    const { contentType, text } = await ctx.metrics.render();
    return reply.header('cache-control', 'no-store').type(contentType).send(text);
  });
}

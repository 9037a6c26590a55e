// GET /api/replicas: the control plane's live replicas (`myx replicas`), from the replica registry
// every replica renews; the same list on every replica.

import type { FastifyInstance } from 'fastify';
import type { ReplicasResponse } from '../protocol/wire.ts';
import { operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';

export function replicaRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/api/replicas', operatorRoute('admin'), async () => {
    const body: ReplicasResponse = {
      replicas: (await ctx.replicas.list()).map((r) => ({ ...r, self: r.id === ctx.replicas.id })),
    };
    return body;
  });
}

// GET /install.sh: the agent installer, for anyone who trusts this control plane's certificate
// (the install line pins its public key). It holds nothing secret: the enrollment token stays in
// the environment of the host that runs it.

import type { FastifyInstance } from 'fastify';
import { MYX_VERSION } from '../protocol/version.ts';
import { PUBLIC_ROUTE } from './auth.ts';
import type { ServerContext } from './context.ts';
import { installScript } from './install/install-script.ts';

export function installRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/install.sh', PUBLIC_ROUTE, async (_req, reply) => {
    const script = installScript({ serverUrl: ctx.publicUrl(), pinnedPubkey: ctx.pinnedPubkey, version: MYX_VERSION });
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(script);
  });
}

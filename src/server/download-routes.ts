// Downloads from the release directory, for anyone who trusts this control plane's certificate:
// the installer fetches them before the host has any token, and nothing in them is secret. The
// fetcher checks the binary against SHA256SUMS, so a file replaced under us cannot install.

import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { PUBLIC_ROUTE } from './auth.ts';
import type { ServerContext } from './context.ts';

export function downloadRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/downloads/myx-agent', PUBLIC_ROUTE, async (_req, reply) => {
    const release = await ctx.release.agent();
    return reply
      .type('application/octet-stream')
      .header('content-length', release.size)
      .header('x-myx-sha256', release.sha256)
      .send(createReadStream(release.path));
  });

  app.get('/downloads/SHA256SUMS', PUBLIC_ROUTE, async (_req, reply) => {
    const release = await ctx.release.agent();
    return reply.type('text/plain; charset=utf-8').send(release.sums);
  });
}

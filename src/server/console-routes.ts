// Serves the web console on the control plane's own port: the page at `/` and its compiled
// script and style sheet under /assets/. They are public (they hold no data: the page signs in
// with /api/session); every answer of the control plane carries the headers of securityHeaders.

import type { FastifyInstance } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { PUBLIC_ROUTE } from './auth.ts';
import { loadConsoleFiles, type ConsoleFile } from './console-assets.ts';
import type { ServerContext } from './context.ts';

/** No inline script or style, nothing from elsewhere, no framing: the page runs only its own files. */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** On every answer of the control plane (JSON too: an API address opened in a browser is a page as well). */
export function securityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_req, reply) => {
    reply.header('content-security-policy', CONSOLE_CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-resource-policy', 'same-origin');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  });
}

export function consoleRoutes(app: FastifyInstance, ctx: ServerContext): void {
  let files: Promise<Map<string, ConsoleFile>> | undefined;
  const load = () => {
    files ??= loadConsoleFiles().then((list) => new Map(list.map((f) => [f.path, f])));
    files.catch((err: Error) => {
      ctx.log.error({ error: err.message }, 'the web console cannot be served');
      files = undefined; // tried again at the next request
    });
    return files;
  };
  void load().catch(() => {}); // compiled (when running from the sources) while the control plane starts

  const serve = async (path: string) => {
    const file = (await load()).get(path);
    if (!file) throw new ApiError('NOT_FOUND', `no such file: ${path}`);
    return file;
  };
  app.get('/', PUBLIC_ROUTE, async (_req, reply) => {
    const file = await serve('/');
    return reply.type(file.contentType).header('cache-control', 'no-store').send(file.body);
  });
  app.get<{ Params: { file: string } }>('/assets/:file', PUBLIC_ROUTE, async (req, reply) => {
    const file = await serve(`/assets/${req.params.file}`);
    return reply.type(file.contentType).header('cache-control', 'public, max-age=31536000, immutable').send(file.body);
  });
}

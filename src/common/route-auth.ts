// Who may call each route, decided from the route the router MATCHED, never from the raw request
// target: one path has many spellings (`/%61pi/status`, `https://host/api/status`, ...) and the
// router decodes them all. Both services use this, deny by default: every route declares its caller
// (`config.caller`), a route that does not fails when it is registered, and should one slip through
// it is refused at request time. A request that matches no route gets the plain 404.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import type { Logger } from './logger.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route: one of the names in the app's `callers`. Required. */
    caller?: string;
  }
}

/** Checks a request's credentials; throws an ApiError (401 or 403) when they do not hold. */
export type Authenticate = (req: FastifyRequest) => void | Promise<void>;

/** Each kind of caller and its check; `null` for a route anyone may call (e.g. /health). */
export type Callers = Record<string, Authenticate | null>;

/** Route options that declare the caller: `app.get(path, routeFor('operator'), handler)`. */
export function routeFor(caller: string): { config: { caller: string } } {
  return { config: { caller } };
}

const refused = new WeakSet<FastifyRequest>();

/** true when the route's authentication refused this request (the rate limiter counts those). */
export function authenticationFailed(req: FastifyRequest): boolean {
  return refused.has(req);
}

/** Must run before any route is added: routes added earlier are not checked at registration. */
export function authenticateByRoute(app: FastifyInstance, callers: Callers, log: Logger): void {
  const known = (caller: string | undefined): caller is string => caller !== undefined && Object.hasOwn(callers, caller);
  app.addHook('onRoute', (route) => {
    const caller = (route.config as { caller?: string } | undefined)?.caller;
    if (!known(caller)) {
      throw new Error(`route ${String(route.method)} ${route.url} must declare who may call it (config.caller: ${Object.keys(callers).join(' | ')})`);
    }
  });
  app.addHook('onRequest', async (req) => {
    if (req.is404) return; // the not-found handler answers, and says nothing about any route
    const caller = req.routeOptions.config.caller;
    if (!known(caller)) {
      log.error({ route: req.routeOptions.url, method: req.method }, 'a route without a declared caller was refused (a bug: declare config.caller)');
      throw new ApiError('NOT_FOUND');
    }
    const check = callers[caller];
    if (!check) return;
    try {
      await check(req);
    } catch (err) {
      refused.add(req);
      throw err;
    }
  });
}

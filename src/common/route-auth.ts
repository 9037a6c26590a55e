// Who may call each route, decided from the route the router MATCHED, never from the raw request
// target: one path has many spellings (`/%61pi/status`, `https://host/api/status`, ...) and the
// router decodes them all. Both services use this, deny by default: every route declares its caller
// (`config.caller`), and what that kind of caller's policy asks besides (the control plane's
// operators: the role a route needs); a route that does not fails when it is registered, and should
// one slip through it is refused at request time. A request that matches no route gets the plain 404.

import type { FastifyContextConfig, FastifyInstance, FastifyRequest } from 'fastify';
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

/**
 * What a kind of caller asks of each route besides its name, declared in the route's config: what
 * is missing or wrong there (`declared`: a message, or null), checked when the route is registered,
 * and the check of an authenticated request against it (`authorize`: throws an ApiError, which is
 * not counted as a failed authentication: the caller is who it says).
 */
export interface RoutePolicy {
  declared: (route: { method: string; url: string; config: FastifyContextConfig }) => string | null;
  authorize: (req: FastifyRequest) => void | Promise<void>;
}

/** A kind of caller: its check, `null` for a route anyone may call (e.g. /health), or its check and its policy. */
export type Caller = Authenticate | null | { authenticate: Authenticate; policy: RoutePolicy };

/** Each kind of caller, by the name routes declare. */
export type Callers = Record<string, Caller>;

/** Route options that declare the caller (and what its policy asks): `app.get(path, routeFor('agent'), handler)`. */
export function routeFor(caller: string, more: Omit<FastifyContextConfig, 'caller'> = {}): { config: FastifyContextConfig } {
  return { config: { ...more, caller } };
}

const refused = new WeakSet<FastifyRequest>();

/** true when the route's authentication refused this request (the rate limiter counts those). */
export function authenticationFailed(req: FastifyRequest): boolean {
  return refused.has(req);
}

/** Must run before any route is added: routes added earlier are not checked at registration. */
export function authenticateByRoute(app: FastifyInstance, callers: Callers, log: Logger): void {
  const known = (caller: string | undefined): caller is string => caller !== undefined && Object.hasOwn(callers, caller);
  const policyOf = (caller: string): RoutePolicy | undefined => {
    const c = callers[caller];
    return c !== null && typeof c === 'object' ? c.policy : undefined;
  };
  app.addHook('onRoute', (route) => {
    const config = (route.config ?? {}) as FastifyContextConfig;
    const caller = config.caller;
    if (!known(caller)) {
      throw new Error(`route ${String(route.method)} ${route.url} must declare who may call it (config.caller: ${Object.keys(callers).join(' | ')})`);
    }
    const policy = policyOf(caller);
    for (const method of [route.method].flat()) {
      const problem = policy?.declared({ method, url: route.url, config });
      if (problem) throw new Error(`route ${method} ${route.url} ${problem}`);
    }
  });
  app.addHook('onRequest', async (req) => {
    if (req.is404) return; // the not-found handler answers, and says nothing about any route
    const caller = req.routeOptions.config.caller;
    if (!known(caller)) {
      log.error({ route: req.routeOptions.url, method: req.method }, 'a route without a declared caller was refused (a bug: declare config.caller)');
      throw new ApiError('NOT_FOUND');
    }
    const c = callers[caller];
    if (!c) return;
    try {
      await (typeof c === 'function' ? c(req) : c.authenticate(req));
    } catch (err) {
      refused.add(req);
      throw err;
    }
    await policyOf(caller)?.authorize(req);
  });
}

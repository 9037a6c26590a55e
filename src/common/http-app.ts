// The Fastify set-up both HTTPS services share: the TLS policy of tls-policy.ts, authentication from the matched
// route (route-auth.ts), strict JSON validation (extra fields are errors, no type coercion), and every error as
// `{ error: { code, message } }`.

import type { Server as HttpsServer } from 'node:https';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { ApiError, ERRORS, type ErrorCode } from '../protocol/errors.ts';
import type { Logger } from './logger.ts';
import { AuthLimiter, type AuthLimiterOptions } from './auth-limiter.ts';
import { clientErrorHandler, frameworkErrors, hardenHttpApp, SLOW_CLIENT_LIMITS } from './http-hardening.ts';
import { authenticateByRoute, authenticationFailed, type Callers } from './route-auth.ts';
import { refuseRenegotiation, TLS_OPTIONS } from './tls-policy.ts';

export interface HttpAppOptions {
  logger: Logger;
  /** PEM pair; omitted only by tests that drive the app with inject(). */
  tls?: { certPem: string; keyPem: string };
  /** Ask clients for a certificate (not required: handlers check it where they need it). */
  requestClientCert?: boolean;
  /** @default 1 MiB */
  bodyLimit?: number;
  /** Every kind of caller the routes may declare (`config.caller`), with its check. */
  callers: Callers;
  /** Budget of failed authentications per source address. */
  authLimits?: AuthLimiterOptions;
  /**
   * A caller proven by TLS to be a known peer (the agent: the control plane's pinned client
   * certificate) is never rate limited as an anonymous address is: it must not lose its way in
   * because of what others sent from its address, or because it presented a wrong token.
   */
  trustedPeer?: (req: FastifyRequest) => boolean;
  /**
   * Told once per episode of failed authentications from an address (see AuthLimiter.fail): when it
   * starts, with the error code of its first failure, and when the address runs out of budget.
   */
  onAuthFailures?: (episode: AuthFailureEpisode) => void;
}

export interface AuthFailureEpisode {
  address: string;
  phase: 'started' | 'blocked';
  /** The error code the failed request got. */
  code: string | null;
  /** The route it was made to (as registered), when one matched. */
  route: string | null;
  method: string;
}

const errorCodes = new WeakMap<FastifyRequest, string>();

/** The error code this request was answered with, once answered (undefined for a success). */
export function errorCodeOf(req: FastifyRequest): string | undefined {
  return errorCodes.get(req);
}

/** Origin-form (`/path`) or absolute-form (`https://host/path`) request targets; anything else names no route. */
const NAMES_A_PATH = /^(?:\/|https?:\/\/)/i;

export function createHttpApp(opts: HttpAppOptions): FastifyInstance {
  const app = Fastify({
    // Fastify's own per-request and "listening" lines stay quiet: each process logs its own start
    // line, and failures (>= warn) still come through.
    loggerInstance: opts.logger.child({}, { level: opts.logger.isLevelEnabled('debug') ? 'debug' : 'warn' }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    requestTimeout: 120_000,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    forceCloseConnections: true, // long polls and event streams must not hold a shutdown
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    frameworkErrors,
    clientErrorHandler,
    ...(opts.tls
      ? { https: { key: opts.tls.keyPem, cert: opts.tls.certPem, ...TLS_OPTIONS, ...SLOW_CLIENT_LIMITS, ...(opts.requestClientCert ? { requestCert: true, rejectUnauthorized: false } : {}) } }
      : {}),
  }) as unknown as FastifyInstance;
  if (opts.tls) refuseRenegotiation(app.server as HttpsServer);
  hardenHttpApp(app, opts.tls !== undefined);
  limitAuthFailures(app, new AuthLimiter(opts.authLimits), opts.logger, opts.trustedPeer ?? (() => false), opts.onAuthFailures);
  // A request no route matches is answered before its body is read: Fastify would read and parse
  // it first (up to bodyLimit), for anyone, without credentials.
  // So is a target that names no path (`*`, `host:port`): the router would take it for `/`.
  app.addHook('onRequest', async (req, reply) => {
    if (req.is404 || !NAMES_A_PATH.test(req.raw.url ?? '')) return reply.code(404).send(notFound(req));
  });
  authenticateByRoute(app, opts.callers, opts.logger);

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    const { status, code, message } = describeError(err);
    // An ApiError is a condition its thrower knows and reports (a full disk, say); anything else is a bug.
    if (status >= 500 && !(err instanceof ApiError)) req.log.error({ err }, 'request failed');
    else req.log.debug({ code, url: req.url }, 'request rejected');
    errorCodes.set(req, code);
    void reply.code(status).send({ error: { code, message } });
  });
  app.setNotFoundHandler((req, reply) => {
    errorCodes.set(req, 'NOT_FOUND');
    void reply.code(404).send(notFound(req));
  });
  return app;
}

/** The same 404 for every path no route has: it names what was asked for, and nothing else. */
function notFound(req: FastifyRequest) {
  return new ApiError('NOT_FOUND', `no such endpoint: ${req.method} ${req.url.split('?')[0]}`).toBody();
}

/**
 * Every refused authentication (and every 401, such as an unknown enrollment token) counts against
 * the caller's address; an address over budget gets 429, but on /health and for a trusted peer.
 */
function limitAuthFailures(
  app: FastifyInstance, limiter: AuthLimiter, log: Logger, trustedPeer: (req: FastifyRequest) => boolean, report?: (e: AuthFailureEpisode) => void,
): void {
  app.addHook('onRequest', async (req, reply) => {
    const wait = limiter.retryAfter(req.ip);
    if (wait === 0 || (!req.is404 && req.routeOptions.url === '/health') || trustedPeer(req)) return;
    return reply.code(429).header('retry-after', String(wait)).send(new ApiError('AUTH_RATE_LIMITED').toBody());
  });
  app.addHook('onResponse', async (req, reply) => {
    if ((reply.statusCode !== 401 && !authenticationFailed(req)) || trustedPeer(req)) return;
    const phase = limiter.fail(req.ip);
    if (phase === null) return;
    if (phase === 'blocked') log.warn({ address: req.ip }, `too many failed authentications from ${req.ip}: answering 429 until it slows down`);
    report?.({ address: req.ip, phase, code: errorCodes.get(req) ?? null, route: req.is404 ? null : (req.routeOptions.url ?? null), method: req.method });
  });
}

function describeError(err: FastifyError | ApiError): { status: number; code: string; message: string } {
  if (err instanceof ApiError) return { status: err.status, code: err.code, message: err.message };
  const fe = err as FastifyError;
  if (fe.validation) return { status: 400, code: 'BAD_REQUEST', message: `invalid request: ${fe.message}` };
  const byFastifyCode: Record<string, ErrorCode> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'BODY_NOT_JSON',
    FST_ERR_CTP_INVALID_JSON_BODY: 'BODY_NOT_JSON',
  };
  const mapped = fe.code ? byFastifyCode[fe.code] : undefined;
  if (mapped) return { status: ERRORS[mapped].status, code: mapped, message: ERRORS[mapped].message };
  if (err instanceof SyntaxError || (fe.statusCode === 400 && /JSON/i.test(fe.message))) {
    return { status: 400, code: 'BODY_NOT_JSON', message: ERRORS.BODY_NOT_JSON.message };
  }
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, code: 'BAD_REQUEST', message: fe.message };
  }
  return { status: 500, code: 'INTERNAL', message: ERRORS.INTERNAL.message };
}

/** Plain `address` for logs and push targets: strips the IPv4-mapped IPv6 prefix. */
export function plainAddress(address: string | undefined): string | null {
  if (!address) return null;
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

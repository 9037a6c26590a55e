// The Fastify set-up both HTTPS services share: TLS 1.2+, strict JSON validation (extra fields
// are errors, no type coercion), and every error as `{ error: { code, message } }`.

import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { ApiError, ERRORS, type ErrorCode } from '../protocol/errors.ts';
import type { Logger } from './logger.ts';

export interface HttpAppOptions {
  logger: Logger;
  /** PEM pair; omitted only by tests that drive the app with inject(). */
  tls?: { certPem: string; keyPem: string };
  /** @default 1 MiB */
  bodyLimit?: number;
}

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
    ...(opts.tls ? { https: { key: opts.tls.keyPem, cert: opts.tls.certPem, minVersion: 'TLSv1.2' as const } } : {}),
  }) as unknown as FastifyInstance;

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    const { status, code, message } = describeError(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.debug({ code, url: req.url }, 'request rejected');
    void reply.code(status).send({ error: { code, message } });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new ApiError('NOT_FOUND', `no such endpoint: ${req.method} ${req.url.split('?')[0]}`).toBody());
  });
  return app;
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

// Web console sessions: an operator token traded once for a session cookie (HttpOnly, Secure,
// SameSite=Strict, host-only by its `__Host-` name), which operator routes accept as they accept
// the Bearer token (auth.ts). Only the SHA-256 of a session id is stored. A session ends 12 hours
// after sign-in, after an hour unused, at sign-out, or when its operator token is no longer known.
// Requests made with it must come from the console's own origin, and every one that changes
// something must carry the session's CSRF token in `X-Myx-CSRF`.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../protocol/errors.ts';

export const SESSION_COOKIE = '__Host-myx-session';
/** From sign-in to the absolute end. */
export const SESSION_LIFETIME_SECONDS = 12 * 3600;
/** Unused this long, a session ends. */
export const SESSION_IDLE_SECONDS = 3600;
export const CSRF_HEADER = 'x-myx-csrf';

const SAFE_METHODS = new Set(['GET', 'HEAD']);
const SESSION_ID = /^myxs_[A-Za-z0-9_-]{43}$/;

export function hashSessionId(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}

/**
 * The session's CSRF token, derived from its id (nothing more to store): it is only of use with the
 * cookie, and the cookie cannot be had from it. The page reads it from GET /api/session.
 */
export function csrfTokenFor(sessionId: string): string {
  return createHash('sha256').update(`myx-csrf:${sessionId}`, 'utf8').digest('base64url');
}

export function sessionCookie(id: string): string {
  return `${SESSION_COOKIE}=${id}; Max-Age=${SESSION_LIFETIME_SECONDS}; Path=/; Secure; HttpOnly; SameSite=Strict`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict`;
}

/** The session id the request's cookie names, when it is well formed. */
export function sessionIdOf(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return SESSION_ID.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/** True when the request carries a session cookie at all (well formed or not). */
export function hasSessionCookie(req: FastifyRequest): boolean {
  return typeof req.headers.cookie === 'string' && req.headers.cookie.includes(`${SESSION_COOKIE}=`);
}

/**
 * Refuses a request that a browser says comes from another site: `Sec-Fetch-Site` other than
 * same-origin (or `none`, a typed address, for reads), or an `Origin` that is not this host.
 * SameSite=Strict keeps the cookie off such requests already; this holds if a browser does not.
 */
export function refuseCrossSite(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && !(site === 'none' && SAFE_METHODS.has(req.method))) {
    throw new ApiError('CROSS_SITE_REQUEST', `a request from another site (Sec-Fetch-Site: ${site}) may not use the console session`);
  }
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin.toLowerCase() !== `https://${String(req.headers.host ?? '')}`.toLowerCase()) {
    throw new ApiError('CROSS_SITE_REQUEST', 'a request from another origin may not use the console session');
  }
}

/** Every method but GET and HEAD needs the session's CSRF token in X-Myx-CSRF. */
export function requireCsrfToken(req: FastifyRequest, sessionId: string): void {
  if (SAFE_METHODS.has(req.method)) return;
  const sent = req.headers[CSRF_HEADER];
  const want = Buffer.from(csrfTokenFor(sessionId));
  if (typeof sent !== 'string' || Buffer.byteLength(sent) !== want.length || !timingSafeEqual(Buffer.from(sent), want)) {
    throw new ApiError('CSRF_TOKEN_INVALID');
  }
}

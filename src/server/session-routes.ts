// Signing in to the web console and out: POST /api/session trades an operator token for a session
// cookie, GET /api/session tells the page its CSRF token and when the session ends, DELETE signs
// out. What the cookie opens, and what protects it, is in sessions.ts and auth.ts.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { signInSchema } from '../protocol/schemas.ts';
import type { SessionView, SignInRequest, SignOutResponse } from '../protocol/wire.ts';
import { OPERATOR_ROUTE, operatorSession, PUBLIC_ROUTE } from './auth.ts';
import type { ServerContext } from './context.ts';
import { hashToken, looksLikeAgentToken, newToken } from './secrets.ts';
import {
  clearedSessionCookie, csrfTokenFor, hashSessionId, refuseCrossSite, SESSION_IDLE_SECONDS, SESSION_LIFETIME_SECONDS, sessionCookie,
} from './sessions.ts';
import type { SessionRow } from './store/store.ts';

export function sessionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;

  // Public: the token in the body is the credential. A wrong one answers 401, which counts against
  // the caller's address like any failed authentication (http-app.ts).
  app.post<{ Body: SignInRequest }>('/api/session', { ...PUBLIC_ROUTE, schema: { body: signInSchema } }, async (req, reply) => {
    refuseCrossSite(req);
    const token = req.body.token.trim();
    if (looksLikeAgentToken(token)) throw new ApiError('OPERATOR_TOKEN_INVALID', 'an agent token cannot sign in to the console');
    const tokenHash = hashToken(token);
    if (!(await store.operatorTokenExists(tokenHash))) throw new ApiError('OPERATOR_TOKEN_INVALID');
    const now = new Date();
    // sessions end by themselves; their rows go at the next sign-in, which is the only way to add one
    await store.deleteStaleSessions(now.toISOString(), new Date(now.getTime() - SESSION_IDLE_SECONDS * 1000).toISOString());
    const id = newToken('session');
    const expiresAt = new Date(now.getTime() + SESSION_LIFETIME_SECONDS * 1000).toISOString();
    await store.createSession({ idHash: hashSessionId(id), operatorTokenHash: tokenHash, expiresAt }, now.toISOString());
    ctx.log.info({ address: req.ip, expires_at: expiresAt }, 'console session started');
    const row: SessionRow = { id_hash: hashSessionId(id), operator_token_hash: tokenHash, created_at: now.toISOString(), last_seen_at: now.toISOString(), expires_at: expiresAt };
    return noStore(reply).code(201).header('set-cookie', sessionCookie(id)).send(view(id, row));
  });

  app.get('/api/session', OPERATOR_ROUTE, async (req) => {
    const session = operatorSession(req);
    const body: SessionView = session ? view(session.id, session.row) : { via: 'token' };
    return body;
  });

  app.delete('/api/session', OPERATOR_ROUTE, async (req, reply) => {
    const session = operatorSession(req);
    const ended = session ? await store.endSession(session.row.id_hash) : false;
    if (ended) ctx.log.info({ address: req.ip }, 'console session ended (signed out)');
    const body: SignOutResponse = { signed_out: ended };
    return noStore(reply).header('set-cookie', clearedSessionCookie()).send(body);
  });
}

function view(id: string, row: SessionRow): SessionView {
  const idleEnd = new Date(Date.parse(row.last_seen_at) + SESSION_IDLE_SECONDS * 1000).toISOString();
  return {
    via: 'session', csrf_token: csrfTokenFor(id), created_at: row.created_at, expires_at: row.expires_at,
    idle_expires_at: idleEnd < row.expires_at ? idleEnd : row.expires_at,
  };
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store');
}

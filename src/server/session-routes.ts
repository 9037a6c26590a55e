// Signing in to the web console and out: POST /api/session trades an operator token for a session
// cookie, GET /api/session tells the page its CSRF token, when the session ends and whose it is,
// DELETE signs out. What the cookie opens, and what protects it, is in sessions.ts and auth.ts.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { signInSchema } from '../protocol/schemas.ts';
import type { OperatorIdentity, SessionView, SignInRequest, SignOutResponse } from '../protocol/wire.ts';
import { auditEntry } from './audit.ts';
import { callingOperator, operatorRoute, operatorSession, publicRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { hashToken, looksLikeAgentToken, newToken } from './secrets.ts';
import {
  clearedSessionCookie, csrfTokenFor, hashSessionId, refuseCrossSite, SESSION_IDLE_SECONDS, SESSION_LIFETIME_SECONDS, sessionCookie,
} from './sessions.ts';
import type { OperatorRow } from './store/operator-store.ts';
import type { SessionRow } from './store/store.ts';

export function sessionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;

  // Public: the token in the body is the credential. A wrong one answers 401, which counts against
  // the caller's address like any failed authentication (http-app.ts).
  app.post<{ Body: SignInRequest }>('/api/session', { ...publicRoute('session.sign_in'), schema: { body: signInSchema } }, async (req, reply) => {
    refuseCrossSite(req);
    const token = req.body.token.trim();
    if (looksLikeAgentToken(token)) throw new ApiError('OPERATOR_TOKEN_INVALID', 'an agent token cannot sign in to the console');
    const tokenHash = hashToken(token);
    const now = new Date();
    const op = await store.operatorByTokenHash(tokenHash, now.toISOString());
    if (!op) throw new ApiError('OPERATOR_TOKEN_INVALID');
    // sessions end by themselves; their rows go at the next sign-in, which is the only way to add one
    await store.deleteStaleSessions(now.toISOString(), new Date(now.getTime() - SESSION_IDLE_SECONDS * 1000).toISOString());
    const id = newToken('session');
    const expiresAt = new Date(now.getTime() + SESSION_LIFETIME_SECONDS * 1000).toISOString();
    const audit = auditEntry(req, { targets: [op.name], actor: { actor_kind: 'operator', actor: op.name, actor_id: op.id }, details: { expires_at: expiresAt } });
    await store.createSession({ idHash: hashSessionId(id), operatorTokenHash: tokenHash, expiresAt }, now.toISOString(), audit);
    ctx.log.info({ address: req.ip, operator: op.name, expires_at: expiresAt }, 'console session started');
    const row: SessionRow = { id_hash: hashSessionId(id), operator_token_hash: tokenHash, created_at: now.toISOString(), last_seen_at: now.toISOString(), expires_at: expiresAt };
    return noStore(reply).code(201).header('set-cookie', sessionCookie(id)).send(view(id, row, op));
  });

  app.get('/api/session', operatorRoute('viewer'), async (req) => {
    const session = operatorSession(req);
    const op = callingOperator(req);
    const body: SessionView = session ? view(session.id, session.row, op) : { via: 'token', operator: identity(op) };
    return body;
  });

  app.delete('/api/session', operatorRoute('viewer', 'session.sign_out'), async (req, reply) => {
    const session = operatorSession(req);
    // with the Bearer token there is no session to end, and nothing to record
    const audit = auditEntry(req, { targets: [callingOperator(req).name] });
    const ended = session ? await store.endSession(session.row.id_hash, audit) : false;
    if (ended) ctx.log.info({ address: req.ip, operator: callingOperator(req).name }, 'console session ended (signed out)');
    const body: SignOutResponse = { signed_out: ended };
    return noStore(reply).header('set-cookie', clearedSessionCookie()).send(body);
  });
}

function identity(op: OperatorRow): OperatorIdentity {
  return { name: op.name, role: op.role, scope: op.scope };
}

function view(id: string, row: SessionRow, op: OperatorRow): SessionView {
  const idleEnd = new Date(Date.parse(row.last_seen_at) + SESSION_IDLE_SECONDS * 1000).toISOString();
  return {
    via: 'session', operator: identity(op), csrf_token: csrfTokenFor(id), created_at: row.created_at, expires_at: row.expires_at,
    idle_expires_at: idleEnd < row.expires_at ? idleEnd : row.expires_at,
  };
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store');
}

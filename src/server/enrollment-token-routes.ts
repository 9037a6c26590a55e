// The operator API for enrollment tokens: create one (at most MAX_ENROLLMENT_TTL_SECONDS, and
// at most MAX_OUTSTANDING_ENROLLMENT_TOKENS outstanding), list them, revoke one. Secrets are
// shown once, when created; the list names tokens by id.

import type { FastifyInstance } from 'fastify';
import { formatEnrollmentToken, MAX_ENROLLMENT_TTL_SECONDS, MAX_OUTSTANDING_ENROLLMENT_TOKENS } from '../protocol/enrollment-token.ts';
import { ApiError } from '../protocol/errors.ts';
import { installLine } from '../protocol/install-line.ts';
import { createEnrollmentTokenSchema, idParamsSchema, limitQuerySchema } from '../protocol/schemas.ts';
import type { CreateEnrollmentTokenRequest, EnrollmentTokenResponse, EnrollmentTokenView, IdParams, LimitQuery, RevokeEnrollmentTokenResponse } from '../protocol/wire.ts';
import { auditEntry } from './audit.ts';
import { operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { hashToken, newId, newToken } from './secrets.ts';
import type { EnrollmentTokenRow } from './store/store.ts';

const DEFAULT_ENROLLMENT_TTL_SECONDS = 3600;

const REVOKE_OUTCOMES = { revoked: 'revoked', used: 'already_used', expired: 'already_expired', already_revoked: 'already_revoked' } as const;

export function enrollmentTokenRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;

  app.post<{ Body: CreateEnrollmentTokenRequest }>('/api/enrollment-tokens', { ...operatorRoute('admin', 'enrollment_token.create'), schema: { body: createEnrollmentTokenSchema } }, async (req, reply) => {
    const ttl = req.body?.ttl_seconds ?? DEFAULT_ENROLLMENT_TTL_SECONDS;
    const audit = auditEntry(req, { targets: [], details: { ttl_seconds: ttl } });
    if (ttl > MAX_ENROLLMENT_TTL_SECONDS) {
      throw new ApiError('ENROLLMENT_TOKEN_TTL_TOO_LONG', `an enrollment token may stay valid 7 days at most (asked for ${ttl} s); enroll within a week, or create a token when the host is ready`);
    }
    const secret = newToken('enrollment');
    const now = new Date();
    const id = newId('enr');
    const expiresAt = new Date(now.getTime() + ttl * 1000).toISOString();
    audit.targets = [id];
    audit.details = { ...audit.details, expires_at: expiresAt };
    const created = await store.createEnrollmentToken({ id, tokenHash: hashToken(secret), expiresAt }, now.toISOString(), MAX_OUTSTANDING_ENROLLMENT_TOKENS, audit);
    if (!created.ok) {
      throw new ApiError('ENROLLMENT_TOKENS_TOO_MANY', `${MAX_OUTSTANDING_ENROLLMENT_TOKENS} enrollment tokens are outstanding (unused and unexpired): revoke some (\`myx token list\`, \`myx token revoke ID\`) or let them expire`);
    }
    ctx.log.info({ token_id: id, expires_at: expiresAt }, 'enrollment token created');
    const token = formatEnrollmentToken(secret, ctx.fingerprint);
    const body: EnrollmentTokenResponse = {
      id, token, expires_at: expiresAt,
      join: `MYX_ENROLL_TOKEN=${token} myx-agent enroll --server ${ctx.publicUrl()}`,
      install: installLine({ serverUrl: ctx.publicUrl(), pinnedPubkey: ctx.pinnedPubkey, token }),
    };
    return reply.code(201).send(body);
  });

  app.get<{ Querystring: LimitQuery }>('/api/enrollment-tokens', { ...operatorRoute('admin'), schema: { querystring: limitQuerySchema } }, async (req) => {
    const now = new Date().toISOString();
    const rows = await store.listEnrollmentTokens(Math.min(Number(req.query.limit ?? 100), 1000));
    return { tokens: rows.map((r) => tokenView(r, now)) };
  });

  app.delete<{ Params: IdParams }>('/api/enrollment-tokens/:id', { ...operatorRoute('admin', 'enrollment_token.revoke'), schema: { params: idParamsSchema } }, async (req) => {
    const now = new Date().toISOString();
    const outcome = await store.revokeEnrollmentToken(req.params.id, now, auditEntry(req, { targets: [req.params.id] }));
    if (outcome.kind === 'not_found') throw new ApiError('ENROLLMENT_TOKEN_NOT_FOUND', `no enrollment token with id ${req.params.id} (see \`myx token list\`)`);
    if (outcome.kind === 'revoked') ctx.log.info({ token_id: req.params.id }, 'enrollment token revoked');
    const body: RevokeEnrollmentTokenResponse = { token: tokenView(outcome.token, now), outcome: REVOKE_OUTCOMES[outcome.kind] };
    return body;
  });
}

function tokenView(r: EnrollmentTokenRow, now: string): EnrollmentTokenView {
  const state = r.used_at !== null ? 'used' : r.revoked_at !== null ? 'revoked' : r.expires_at <= now ? 'expired' : 'usable';
  return { id: r.id, created_at: r.created_at, expires_at: r.expires_at, state, used_at: r.used_at, used_by_agent: r.used_by_agent, revoked_at: r.revoked_at };
}

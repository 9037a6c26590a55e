// The audit log for admins: GET /api/audit (entries in order, filtered, a page at a time: what
// `myx audit` prints and its JSON lines export for a SIEM) and GET /api/audit/verify (the chain checked).

import type { FastifyInstance } from 'fastify';
import { auditQuerySchema } from '../protocol/schemas.ts';
import type { AuditQuery, AuditResponse, AuditVerifyResponse } from '../protocol/wire.ts';
import { verifyAudit } from './audit-verify.ts';
import { operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';

const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 5000;

export function auditRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Querystring: AuditQuery }>('/api/audit', { ...operatorRoute('admin'), schema: { querystring: auditQuerySchema } }, async (req) => {
    const q = req.query;
    const limit = Math.max(1, Math.min(Number(q.limit ?? DEFAULT_LIMIT), MAX_LIMIT));
    const entries = await ctx.store.listAudit({
      after: Number(q.after ?? 0), limit, ...(q.since ? { since: q.since } : {}), ...(q.operator ? { operator: q.operator } : {}), ...(q.action ? { action: q.action } : {}),
    });
    const body: AuditResponse = { entries, next_after: entries.length === limit ? entries[entries.length - 1]!.seq : null };
    return body;
  });

  app.get('/api/audit/verify', operatorRoute('admin'), async () => {
    const body: AuditVerifyResponse = await verifyAudit(ctx.store);
    return body;
  });
}

// The operator API for operators themselves (admins only): add one (its token is shown once, only
// its hash is kept), list them, remove one (its tokens and console sessions stop working at once),
// rotate one's token (the old one, and the sessions made with it, stop working).

import type { FastifyInstance } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { scopeText } from '../protocol/roles.ts';
import { addOperatorSchema, operatorParamsSchema } from '../protocol/schemas.ts';
import type { AddOperatorRequest, OperatorParams, OperatorsResponse, OperatorTokenResponse, OperatorView, RemoveOperatorResponse } from '../protocol/wire.ts';
import { auditEntry } from './audit.ts';
import { callingOperator, operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { hashToken, newId, newToken } from './secrets.ts';
import type { OperatorRow } from './store/operator-store.ts';

export function operatorsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;

  app.get('/api/operators', operatorRoute('admin'), async () => {
    const body: OperatorsResponse = { operators: (await store.listOperators()).map(operatorView) };
    return body;
  });

  app.post<{ Body: AddOperatorRequest }>('/api/operators', { ...operatorRoute('admin', 'operator.add'), schema: { body: addOperatorSchema } }, async (req, reply) => {
    const { name, role } = req.body;
    const scope = req.body.scope ?? {};
    const audit = auditEntry(req, { targets: [name], details: { role, scope } });
    // an admin does everything, operators included: a scope would hold it no more than it can hold itself
    if (role === 'admin' && Object.keys(scope).length > 0) throw new ApiError('BAD_REQUEST', 'an admin sees and does everything: give a scope to viewers and operators only');
    const token = newToken('operator');
    const added = await store.addOperator({ id: newId('op'), name, role, scope }, hashToken(token), new Date().toISOString(), audit);
    if (!added.ok) throw new ApiError('OPERATOR_NAME_TAKEN', `an operator named "${name}" exists already (see \`myx operators list\`)`);
    ctx.log.info({ operator: name, role, scope: scopeText(scope), by: callingOperator(req).name }, 'operator added');
    const body: OperatorTokenResponse = { operator: operatorView(added.operator), token, self: false };
    return reply.code(201).send(body);
  });

  app.delete<{ Params: OperatorParams }>('/api/operators/:name', { ...operatorRoute('admin', 'operator.remove'), schema: { params: operatorParamsSchema } }, async (req) => {
    const { name } = req.params;
    const outcome = await store.removeOperator(name, auditEntry(req, { targets: [name] }));
    if (outcome.kind === 'not_found') throw new ApiError('OPERATOR_NOT_FOUND', `no operator named "${name}" (see \`myx operators list\`)`);
    if (outcome.kind === 'last_admin') throw new ApiError('LAST_ADMIN', `${name} is the last admin: add another admin first (\`myx operators add NAME --role admin\`)`);
    ctx.log.info({ operator: name, sessions_ended: outcome.sessions, by: callingOperator(req).name }, 'operator removed: its tokens and sessions no longer work');
    const body: RemoveOperatorResponse = { removed: name, sessions_ended: outcome.sessions };
    return body;
  });

  app.post<{ Params: OperatorParams }>('/api/operators/:name/rotate', { ...operatorRoute('admin', 'operator.rotate'), schema: { params: operatorParamsSchema } }, async (req) => {
    const { name } = req.params;
    const token = newToken('operator');
    const outcome = await store.rotateOperator(name, hashToken(token), new Date().toISOString(), auditEntry(req, { targets: [name] }));
    if (outcome.kind === 'not_found') throw new ApiError('OPERATOR_NOT_FOUND', `no operator named "${name}" (see \`myx operators list\`)`);
    ctx.log.info({ operator: name, sessions_ended: outcome.sessions, by: callingOperator(req).name }, 'operator token rotated: the old one no longer works');
    const body: OperatorTokenResponse = { operator: operatorView(outcome.operator), token, self: outcome.operator.id === callingOperator(req).id };
    return body;
  });
}

export function operatorView(op: OperatorRow): OperatorView {
  return { id: op.id, name: op.name, role: op.role, scope: op.scope, created_at: op.created_at, last_used_at: op.last_used_at };
}

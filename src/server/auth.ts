// Who is calling the control plane: operators present `Authorization: Bearer <operator token>` or
// the web console's session cookie (sessions.ts: same origin only, and the CSRF token on every call
// that changes something), agents present `X-Agent-Token` (never a cookie), and a few routes
// (health, enrollment, sign-in, the console's files) take anyone. Each route declares which, and an
// operator route also the role it needs and, when it changes something, its audit action
// (`operatorRoute('viewer')`, `operatorRoute('admin', 'agent.remove')`, `AGENT_ROUTE`,
// `PUBLIC_ROUTE`); the shared route-auth mechanism checks them from the matched route before the
// body is parsed, and refuses to register a route that declares less.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { routeFor, type Callers } from '../common/route-auth.ts';
import type { AuditAction } from '../protocol/audit.ts';
import { ApiError } from '../protocol/errors.ts';
import { isRole, roleAllows, type OperatorRole } from '../protocol/roles.ts';
import { hashToken, looksLikeAgentToken } from './secrets.ts';
import { hashSessionId, hasSessionCookie, refuseCrossSite, requireCsrfToken, SESSION_IDLE_SECONDS, sessionIdOf } from './sessions.ts';
import type { OperatorRow } from './store/operator-store.ts';
import type { AgentRow, SessionRow, Store } from './store/store.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Operator routes: the least role that may call it (viewer < operator < admin). Required. */
    role?: OperatorRole;
    /**
     * Routes that change something: the action its audit entries record (audit.ts). Required on an
     * operator route whose method is not GET; `false` for one that changes nothing (a wait, a preview).
     */
    audit?: AuditAction | false;
  }
}

/** Route options for an operator endpoint: the role it needs, and its audit action when it changes something. */
export function operatorRoute(role: OperatorRole, audit?: AuditAction | false) {
  return routeFor('operator', { role, ...(audit === undefined ? {} : { audit }) });
}
export const AGENT_ROUTE = routeFor('agent');
export const PUBLIC_ROUTE = routeFor('public');
/** A public route that changes something (enrollment, sign-in): its action, audited when it succeeds. */
export function publicRoute(audit: AuditAction) {
  return routeFor('public', { audit });
}

const READS = new Set(['GET', 'HEAD']);
const callingAgents = new WeakMap<FastifyRequest, AgentRow>();
const callingOperators = new WeakMap<FastifyRequest, OperatorRow>();
const callingSessions = new WeakMap<FastifyRequest, { id: string; row: SessionRow }>();

/** The control plane's kinds of caller, for createHttpApp. */
export function serverCallers(store: Store): Callers {
  return {
    public: null,
    operator: {
      authenticate: async (req) => {
        callingOperators.set(req, await requireOperator(store, req));
      },
      policy: {
        declared: ({ method, config }) => {
          if (!isRole(config.role)) return 'must declare the role it needs (config.role: viewer | operator | admin)';
          if (!READS.has(method) && config.audit === undefined) return 'changes something, so it must declare its audit action (config.audit, or false for one that changes nothing)';
          return null;
        },
        authorize: (req) => requireRole(callingOperator(req), req.routeOptions.config.role!),
      },
    },
    agent: async (req) => {
      callingAgents.set(req, await requireAgent(store, req));
    },
  };
}

/** The agent whose token authenticated this request (agent routes only). */
export function callingAgent(req: FastifyRequest): AgentRow {
  const agent = callingAgents.get(req);
  if (!agent) throw new Error(`${req.url} is not an agent route`);
  return agent;
}

/** The operator this request runs as (operator routes only). */
export function callingOperator(req: FastifyRequest): OperatorRow {
  const op = callingOperators.get(req);
  if (!op) throw new Error(`${req.url} is not an operator route`);
  return op;
}

/** The operator, when the request was authenticated as one (undefined before, or on other routes). */
export function operatorOf(req: FastifyRequest): OperatorRow | undefined {
  return callingOperators.get(req);
}

/** The console session an operator request was made with; null when it came with the Bearer token. */
export function operatorSession(req: FastifyRequest): { id: string; row: SessionRow } | null {
  return callingSessions.get(req) ?? null;
}

function requireRole(op: OperatorRow, need: OperatorRole): void {
  if (roleAllows(op.role, need)) return;
  throw new ApiError('ROLE_FORBIDDEN', `this needs the ${need} role${need === 'admin' ? '' : ' or higher'}; operator ${op.name} is ${op.role === 'admin' ? 'an' : 'a'} ${op.role}`);
}

/** The Bearer token when the request has an Authorization header (whatever else it has), else the session cookie. */
async function requireOperator(store: Store, req: FastifyRequest): Promise<OperatorRow> {
  const header = req.headers.authorization;
  if (header === undefined && hasSessionCookie(req)) return requireSession(store, req);
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) throw new ApiError('OPERATOR_TOKEN_MISSING');
  const token = header.slice(7).trim();
  if (looksLikeAgentToken(token)) throw new ApiError('OPERATOR_TOKEN_INVALID', 'an agent token cannot call operator endpoints');
  const op = await store.operatorByTokenHash(hashToken(token), new Date().toISOString());
  if (!op) throw new ApiError('OPERATOR_TOKEN_INVALID');
  return op;
}

/** A live session whose operator is still there (removing an operator, or rotating its token, ends its sessions). */
async function requireSession(store: Store, req: FastifyRequest): Promise<OperatorRow> {
  refuseCrossSite(req);
  const id = sessionIdOf(req);
  if (id === undefined) throw new ApiError('SESSION_INVALID');
  const now = Date.now();
  const row = await store.useSession(hashSessionId(id), new Date(now).toISOString(), new Date(now - SESSION_IDLE_SECONDS * 1000).toISOString());
  const op = row && (await store.operatorByTokenHash(row.operator_token_hash, new Date(now).toISOString()));
  if (!row || !op) throw new ApiError('SESSION_INVALID');
  requireCsrfToken(req, id);
  callingSessions.set(req, { id, row });
  return op;
}

async function requireAgent(store: Store, req: FastifyRequest): Promise<AgentRow> {
  const token = req.headers['x-agent-token'];
  if (typeof token !== 'string' || token.length === 0) throw new ApiError('AGENT_TOKEN_MISSING');
  const hash = hashToken(token);
  const agent = await store.agentByTokenHash(hash);
  // The lookup is by hash, so timing says nothing about the token; compare anyway, in constant time.
  if (!agent) throw new ApiError('AGENT_TOKEN_INVALID');
  // Found by the hash of its token, so the caller holds it: say plainly that it was removed (once told,
  // the agent slows down) instead of calling a genuine token invalid.
  if (agent.removed_at !== null) throw new ApiError('AGENT_REMOVED');
  if (!timingSafeEqual(Buffer.from(hashToken(agent.token)), Buffer.from(hash))) throw new ApiError('AGENT_TOKEN_INVALID');
  return agent;
}

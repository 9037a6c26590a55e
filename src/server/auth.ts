// Who is calling the control plane: operators present `Authorization: Bearer <operator token>` or
// the web console's session cookie (sessions.ts: same origin only, and the CSRF token on every call
// that changes something), agents present `X-Agent-Token` (never a cookie), and a few routes
// (health, enrollment, sign-in, the console's files) take anyone. Each route
// declares which (`...OPERATOR_ROUTE`, `...AGENT_ROUTE`, `...PUBLIC_ROUTE`); the shared route-auth
// mechanism checks it from the matched route before the body is parsed, and refuses a route that
// declares nothing.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { routeFor, type Callers } from '../common/route-auth.ts';
import { ApiError } from '../protocol/errors.ts';
import { hashToken, looksLikeAgentToken } from './secrets.ts';
import { hashSessionId, hasSessionCookie, refuseCrossSite, requireCsrfToken, SESSION_IDLE_SECONDS, sessionIdOf } from './sessions.ts';
import type { AgentRow, SessionRow, Store } from './store/store.ts';

/** Route options for the endpoints operators call, those agents call, and those anyone may call. */
export const OPERATOR_ROUTE = routeFor('operator');
export const AGENT_ROUTE = routeFor('agent');
export const PUBLIC_ROUTE = routeFor('public');

const callingAgents = new WeakMap<FastifyRequest, AgentRow>();
const callingSessions = new WeakMap<FastifyRequest, { id: string; row: SessionRow }>();

/** The control plane's kinds of caller, for createHttpApp. */
export function serverCallers(store: Store): Callers {
  return {
    public: null,
    operator: (req) => requireOperator(store, req),
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

/** The console session an operator request was made with; null when it came with the Bearer token. */
export function operatorSession(req: FastifyRequest): { id: string; row: SessionRow } | null {
  return callingSessions.get(req) ?? null;
}

/** The Bearer token when the request has an Authorization header (whatever else it has), else the session cookie. */
async function requireOperator(store: Store, req: FastifyRequest): Promise<void> {
  const header = req.headers.authorization;
  if (header === undefined && hasSessionCookie(req)) return requireSession(store, req);
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) throw new ApiError('OPERATOR_TOKEN_MISSING');
  const token = header.slice(7).trim();
  if (looksLikeAgentToken(token)) throw new ApiError('OPERATOR_TOKEN_INVALID', 'an agent token cannot call operator endpoints');
  if (!(await store.operatorTokenExists(hashToken(token)))) throw new ApiError('OPERATOR_TOKEN_INVALID');
}

async function requireSession(store: Store, req: FastifyRequest): Promise<void> {
  refuseCrossSite(req);
  const id = sessionIdOf(req);
  if (id === undefined) throw new ApiError('SESSION_INVALID');
  const now = Date.now();
  const row = await store.useSession(hashSessionId(id), new Date(now).toISOString(), new Date(now - SESSION_IDLE_SECONDS * 1000).toISOString());
  if (!row) throw new ApiError('SESSION_INVALID');
  requireCsrfToken(req, id);
  callingSessions.set(req, { id, row });
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

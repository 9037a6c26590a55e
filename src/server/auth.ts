// Who is calling the control plane: operators present `Authorization: Bearer <operator token>`,
// agents present `X-Agent-Token`, and a few routes (health, enrollment) take anyone. Each route
// declares which (`...OPERATOR_ROUTE`, `...AGENT_ROUTE`, `...PUBLIC_ROUTE`); the shared route-auth
// mechanism checks it from the matched route before the body is parsed, and refuses a route that
// declares nothing.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { routeFor, type Callers } from '../common/route-auth.ts';
import { ApiError } from '../protocol/errors.ts';
import { hashToken, looksLikeAgentToken } from './secrets.ts';
import type { AgentRow, Store } from './store/store.ts';

/** Route options for the endpoints operators call, those agents call, and those anyone may call. */
export const OPERATOR_ROUTE = routeFor('operator');
export const AGENT_ROUTE = routeFor('agent');
export const PUBLIC_ROUTE = routeFor('public');

const callingAgents = new WeakMap<FastifyRequest, AgentRow>();

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

async function requireOperator(store: Store, req: FastifyRequest): Promise<void> {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) throw new ApiError('OPERATOR_TOKEN_MISSING');
  const token = header.slice(7).trim();
  if (looksLikeAgentToken(token)) throw new ApiError('OPERATOR_TOKEN_INVALID', 'an agent token cannot call operator endpoints');
  if (!(await store.operatorTokenExists(hashToken(token)))) throw new ApiError('OPERATOR_TOKEN_INVALID');
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

// Who is calling: operators present `Authorization: Bearer <operator token>`, agents present
// `X-Agent-Token`. Each route says which caller it takes (`config.caller`, operator when unsaid),
// and one hook checks it before the body is even parsed: a caller without the right token learns
// nothing about what the endpoint expects.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { hashToken, looksLikeAgentToken } from './secrets.ts';
import type { AgentRow, Store } from './store/store.ts';

export type Caller = 'operator' | 'agent' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route. @default 'operator' */
    caller?: Caller;
  }
}

/** Route options for the endpoints agents call, and for those anyone may call. */
export const AGENT_ROUTE = { config: { caller: 'agent' as Caller } };
export const PUBLIC_ROUTE = { config: { caller: 'public' as Caller } };

const callingAgents = new WeakMap<FastifyRequest, AgentRow>();

export function authenticateRoutes(app: FastifyInstance, store: Store): void {
  app.addHook('onRequest', async (req) => {
    if (req.is404) return;
    const caller = req.routeOptions.config.caller ?? 'operator';
    if (caller === 'agent') callingAgents.set(req, await requireAgent(store, req));
    else if (caller === 'operator') await requireOperator(store, req);
  });
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

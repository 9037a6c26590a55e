// Who is calling: operators present `Authorization: Bearer <operator token>`, agents present
// `X-Agent-Token`. Each kind only opens its own endpoints.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { hashToken, looksLikeAgentToken } from './secrets.ts';
import type { AgentRow, Store } from './store/store.ts';

export async function requireOperator(store: Store, req: FastifyRequest): Promise<void> {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) throw new ApiError('OPERATOR_TOKEN_MISSING');
  const token = header.slice(7).trim();
  if (looksLikeAgentToken(token)) throw new ApiError('OPERATOR_TOKEN_INVALID', 'an agent token cannot call operator endpoints');
  if (!(await store.operatorTokenExists(hashToken(token)))) throw new ApiError('OPERATOR_TOKEN_INVALID');
}

export async function requireAgent(store: Store, req: FastifyRequest): Promise<AgentRow> {
  const token = req.headers['x-agent-token'];
  if (typeof token !== 'string' || token.length === 0) throw new ApiError('AGENT_TOKEN_MISSING');
  const hash = hashToken(token);
  const agent = await store.agentByTokenHash(hash);
  // The lookup is by hash, so timing says nothing about the token; compare anyway, in constant time.
  if (!agent || !timingSafeEqual(Buffer.from(hashToken(agent.token)), Buffer.from(hash))) {
    throw new ApiError('AGENT_TOKEN_INVALID');
  }
  return agent;
}

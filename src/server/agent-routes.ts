// The agent-facing API under /api/agents/: enrollment, heartbeats and results.

import type { FastifyInstance } from 'fastify';
import { plainAddress } from '../common/http-app.ts';
import { parseEnrollmentToken } from '../protocol/enrollment-token.ts';
import { ApiError } from '../protocol/errors.ts';
import { isFinal } from '../protocol/command-status.ts';
import { heartbeatSchema, idParamsSchema, pollQuerySchema, progressSchema, registerSchema, resultSchema } from '../protocol/schemas.ts';
import type {
  AgentFacts, CommandResult, HeartbeatRequest, HeartbeatResponse, PollResponse, ProgressAck, ProgressRequest, RegisterRequest,
  RegisterResponse, ResultAck,
} from '../protocol/wire.ts';
import { deliveryFor, isEmpty } from './agent-delivery.ts';
import { AGENT_ROUTE, callingAgent, PUBLIC_ROUTE } from './auth.ts';
import type { ServerContext } from './context.ts';
import { hashToken, newId, newToken } from './secrets.ts';

/** A long poll is held at most this long (agents ask for ~25 s). */
const MAX_POLL_WAIT_SECONDS = 30;
/** Live output kept per command (the final result carries its own capped head and tail). */
export const LIVE_OUTPUT_LIMIT = 1024 * 1024;

const ENROLL_FAILURES = {
  unknown: 'ENROLLMENT_TOKEN_UNKNOWN', used: 'ENROLLMENT_TOKEN_USED', expired: 'ENROLLMENT_TOKEN_EXPIRED', revoked: 'ENROLLMENT_TOKEN_REVOKED',
} as const;

export function agentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store, log } = ctx;

  app.post<{ Body: RegisterRequest }>('/api/agents/register', { ...PUBLIC_ROUTE, schema: { body: registerSchema } }, async (req, reply) => {
    const parsed = parseEnrollmentToken(req.body.enrollment_token);
    if (!parsed) throw new ApiError('ENROLLMENT_TOKEN_MALFORMED');
    const token = newToken('agent');
    const facts = factsOf(req.body);
    const outcome = await store.enrollAgent(
      hashToken(parsed.secret),
      { ...facts, id: newId('agt'), token, tokenHash: hashToken(token), remote_address: plainAddress(req.socket.remoteAddress) },
      new Date().toISOString(),
    );
    if (!outcome.ok) {
      if (outcome.reason === 'name_taken') {
        throw new ApiError('AGENT_NAME_TAKEN', `an agent named "${facts.name}" is already enrolled; enroll with --name, or remove it with \`myx agents remove ${facts.name}\``);
      }
      throw new ApiError(ENROLL_FAILURES[outcome.reason]);
    }
    log.info({ agent_id: outcome.agent.id, agent: outcome.agent.name, mode: facts.mode, fingerprint: facts.fingerprint }, 'agent enrolled');
    const body: RegisterResponse = {
      agent_id: outcome.agent.id,
      agent_token: token,
      name: outcome.agent.name,
      heartbeat_interval_seconds: ctx.options.heartbeatIntervalSeconds,
    };
    return reply.code(201).send(body);
  });

  app.post<{ Body: HeartbeatRequest }>('/api/agents/heartbeat', { ...AGENT_ROUTE, schema: { body: heartbeatSchema } }, async (req) => {
    const agent = callingAgent(req);
    const facts = { ...factsOf(req.body), name: agent.name };
    const address = plainAddress(req.socket.remoteAddress);
    if (facts.fingerprint !== agent.fingerprint && agent.fingerprint !== null) {
      log.info({ agent: agent.name, old: agent.fingerprint, new: facts.fingerprint }, 'agent reported a new certificate');
      ctx.agentClient.forget(agent.id);
    }
    if (facts.mode !== agent.mode) log.info({ agent: agent.name, mode: facts.mode }, `agent switched to ${facts.mode} mode`);
    if (facts.fingerprint !== agent.fingerprint || facts.mode !== agent.mode || facts.web_port !== agent.web_port
      || (facts.advertise_address ?? address) !== (agent.advertise_address ?? agent.remote_address)) {
      ctx.dispatcher.resetHealth(agent.id);
    }
    const updated = await store.recordHeartbeat(agent.id, facts, address, new Date().toISOString());
    const body: HeartbeatResponse = {
      agent_id: agent.id, heartbeat_interval_seconds: ctx.options.heartbeatIntervalSeconds, ...(await deliveryFor(ctx, updated, 'heartbeat')),
    };
    return body;
  });

  app.get<{ Querystring: { wait?: string } }>('/api/agents/poll', { ...AGENT_ROUTE, schema: { querystring: pollQuerySchema } }, async (req) => {
    const agent = callingAgent(req);
    const deadline = Date.now() + Math.min(Number(req.query.wait ?? 25), MAX_POLL_WAIT_SECONDS) * 1000;
    const gone = new AbortController();
    req.raw.once('close', () => gone.abort());
    for (;;) {
      const delivery: PollResponse = await deliveryFor(ctx, agent, 'poll');
      const left = deadline - Date.now();
      if (!isEmpty(delivery) || left <= 0 || gone.signal.aborted) return delivery;
      await ctx.events.waitForAgent(agent.id, left, gone.signal);
    }
  });

  app.post<{ Params: { id: string }; Body: ProgressRequest }>(
    '/api/agents/commands/:id/progress',
    { ...AGENT_ROUTE, schema: { params: idParamsSchema, body: progressSchema }, bodyLimit: 8 * 1024 * 1024 },
    async (req) => {
      const agent = callingAgent(req);
      const started = await store.markStarted(req.params.id, agent.id, req.body.started_at);
      if (started.kind === 'not_found') throw new ApiError('COMMAND_NOT_FOUND');
      if (started.kind === 'not_yours') throw new ApiError('COMMAND_NOT_YOURS');
      const out = await store.appendOutput(req.params.id, agent.id, req.body.chunks, LIVE_OUTPUT_LIMIT);
      if (out.kind === 'ok') ctx.events.output(req.params.id, out.accepted);
      const ack: ProgressAck = { next_offset: out.kind === 'ok' ? out.nextOffset : 0, cancel: started.command.cancel_requested_at !== null };
      return ack;
    },
  );

  app.post<{ Params: { id: string }; Body: CommandResult }>(
    '/api/agents/commands/:id/result',
    { ...AGENT_ROUTE, schema: { params: idParamsSchema, body: resultSchema }, bodyLimit: 40 * 1024 * 1024 },
    async (req) => {
      const agent = callingAgent(req);
      const outcome = await store.recordResult(req.params.id, agent.id, req.body, new Date().toISOString());
      if (outcome.kind === 'not_found') throw new ApiError('COMMAND_NOT_FOUND');
      if (outcome.kind === 'not_yours') throw new ApiError('COMMAND_NOT_YOURS');
      if (outcome.kind === 'recorded' && isFinal(outcome.command.status)) await ctx.runs.commandEnded(outcome.command);
      const ack: ResultAck = { command_id: outcome.command.id, status: outcome.command.status };
      return ack;
    },
  );
}

function factsOf(b: AgentFacts): AgentFacts {
  return {
    name: b.name, hostname: b.hostname, os: b.os, version: b.version, mode: b.mode, web_port: b.web_port,
    fingerprint: b.fingerprint, advertise_address: b.advertise_address, labels: b.labels,
  };
}

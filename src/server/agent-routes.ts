// The agent-facing API under /api/agents/: enrollment, heartbeats and results.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { plainAddress } from '../common/http-app.ts';
import { LargeBodies } from '../common/large-bodies.ts';
import { parseEnrollmentToken } from '../protocol/enrollment-token.ts';
import { ApiError } from '../protocol/errors.ts';
import { isFinal } from '../protocol/command-status.ts';
import { normalizeFingerprint } from '../protocol/fingerprint.ts';
import { AGENT_FACTS_BODY_LIMIT, PROGRESS_BODY_LIMIT, RESULT_BODY_LIMIT } from '../protocol/limits.ts';
import { heartbeatSchema, idParamsSchema, requireWellFormedId, pollQuerySchema, progressSchema, registerSchema, resultSchema } from '../protocol/schemas.ts';
import type {
  AgentFacts, CommandResult, HeartbeatRequest, HeartbeatResponse, IdParams, PollQuery, PollResponse, ProgressAck, ProgressRequest, RegisterRequest,
  RegisterResponse, ResultAck,
} from '../protocol/wire.ts';
import { deliveryFor, isEmpty, Receiver } from './agent-delivery.ts';
import { auditEntry } from './audit.ts';
import { AGENT_ROUTE, callingAgent, publicRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { hashToken, newId, newToken } from './secrets.ts';

/** A long poll is held at most this long (agents ask for ~25 s). */
const MAX_POLL_WAIT_SECONDS = 30;

const ENROLL_FAILURES = {
  unknown: 'ENROLLMENT_TOKEN_UNKNOWN', used: 'ENROLLMENT_TOKEN_USED', expired: 'ENROLLMENT_TOKEN_EXPIRED', revoked: 'ENROLLMENT_TOKEN_REVOKED',
} as const;

export function agentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store, log } = ctx;

  // Anyone may try to enroll, and the enrollment token is in the body: bodies are kept to what an
  // agent's facts can take, and an address may send only a couple of unusually large ones at once.
  const enrollmentsInFlight = new LargeBodies({ largeBytes: 32 * 1024 });
  const enrollBeforeBody = async (req: FastifyRequest, reply: FastifyReply) => enrollmentsInFlight.admit(req.ip, req, reply);

  app.post<{ Body: RegisterRequest }>('/api/agents/register', {
    ...publicRoute('agent.enroll'), schema: { body: registerSchema }, bodyLimit: AGENT_FACTS_BODY_LIMIT, preParsing: enrollBeforeBody,
  }, async (req, reply) => {
    const parsed = parseEnrollmentToken(req.body.enrollment_token);
    if (!parsed) throw new ApiError('ENROLLMENT_TOKEN_MALFORMED');
    const token = newToken('agent');
    const facts = factsOf(req.body);
    const id = newId('agt');
    // recorded when it enrolls (a refused enrollment is a failed authentication: counted per episode)
    const audit = auditEntry(req, {
      actor: { actor_kind: 'agent', actor: facts.name, actor_id: id }, targets: [facts.name, id],
      details: { hostname: facts.hostname, mode: facts.mode, labels: facts.labels, fingerprint: facts.fingerprint },
    });
    const outcome = await store.enrollAgent(
      hashToken(parsed.secret),
      { ...facts, id, token, tokenHash: hashToken(token), remote_address: plainAddress(req.socket.remoteAddress) },
      new Date().toISOString(),
      audit,
    );
    if (!outcome.ok) {
      if (outcome.reason === 'name_taken') {
        throw new ApiError('AGENT_NAME_TAKEN', `an agent named "${facts.name}" is already enrolled; enroll with --name, or remove it with \`myx agents remove ${facts.name}\``);
      }
      throw new ApiError(ENROLL_FAILURES[outcome.reason]);
    }
    log.info({ agent_id: outcome.agent.id, agent: outcome.agent.name, mode: facts.mode, fingerprint: facts.fingerprint }, 'agent enrolled');
    await warnIfCertificateShared(outcome.agent.id, outcome.agent.name, facts.fingerprint);
    const body: RegisterResponse = {
      agent_id: outcome.agent.id,
      agent_token: token,
      name: outcome.agent.name,
      heartbeat_interval_seconds: ctx.pacing.intervalSeconds,
    };
    return reply.code(201).send(body);
  });

  app.post<{ Body: HeartbeatRequest }>('/api/agents/heartbeat', { ...AGENT_ROUTE, schema: { body: heartbeatSchema }, bodyLimit: AGENT_FACTS_BODY_LIMIT }, async (req, reply) => {
    const agent = callingAgent(req);
    const facts = { ...factsOf(req.body), name: agent.name };
    const address = plainAddress(req.socket.remoteAddress);
    if (facts.fingerprint !== agent.fingerprint && agent.fingerprint !== null) {
      log.info({ agent: agent.name, old: agent.fingerprint, new: facts.fingerprint }, 'agent reported a new certificate');
      ctx.agentClient.forget(agent.id);
    }
    if (facts.fingerprint !== agent.fingerprint) await warnIfCertificateShared(agent.id, agent.name, facts.fingerprint);
    if (facts.mode !== agent.mode) log.info({ agent: agent.name, mode: facts.mode }, `agent switched to ${facts.mode} mode`);
    // push health starts over, in the store, when the address, port, mode or certificate changed
    const updated = await store.recordHeartbeat(agent.id, facts, address, new Date().toISOString());
    ctx.versions.seen(updated);
    const body: HeartbeatResponse = {
      agent_id: agent.id, heartbeat_interval_seconds: ctx.pacing.intervalSeconds, control_plane_urls: ctx.replicas.urls(),
      ...(await deliveryFor(ctx, updated, 'heartbeat', new Receiver(req, reply))),
    };
    return body;
  });

  app.get<{ Querystring: PollQuery }>('/api/agents/poll', { ...AGENT_ROUTE, schema: { querystring: pollQuerySchema } }, async (req, reply) => {
    const agent = callingAgent(req);
    const deadline = Date.now() + Math.min(Number(req.query.wait ?? 25), MAX_POLL_WAIT_SECONDS) * 1000;
    const receiver = new Receiver(req, reply);
    let held = false;
    try {
      for (;;) {
        const delivery: PollResponse = await deliveryFor(ctx, agent, 'poll', receiver);
        const left = deadline - Date.now();
        if (!isEmpty(delivery) || left <= 0 || !receiver.alive) return delivery;
        if (!held) {
          req.log.debug({ agent: agent.name }, 'long poll held: nothing for the agent yet');
          ctx.metrics.pollHeld();
          held = true;
        }
        await ctx.events.waitForAgent(agent.id, left, receiver);
      }
    } finally {
      if (held) ctx.metrics.pollEnded();
    }
  });

  /**
   * Said once per change of certificate, not refused: agents may share a certificate on purpose (one
   * CA-signed certificate for a fleet), and since an agent's certificate is public (any client sees
   * it), refusing a second agent that reports it would let any agent lock another out by reporting
   * its fingerprint first. One that reports another's certificate and address only misdirects its
   * own pushes: they carry its own token, which the other agent refuses (without rate limiting the
   * control plane, whose client certificate it knows), and its commands fall back to its heartbeat.
   */
  async function warnIfCertificateShared(agentId: string, name: string, fingerprint: string | null): Promise<void> {
    const canonical = fingerprint === null ? undefined : normalizeFingerprint(fingerprint);
    if (canonical === undefined) return;
    const other = await store.agentSharingCertificate(agentId, canonical);
    if (other === undefined) return;
    log.warn({ agent: name, other, fingerprint },
      `agent ${name} reports the same certificate as agent ${other} (a shared or copied certificate, or one agent posing as the other)`);
  }

  // Reports are checked before their body is read: the command is the caller's, and the caller has
  // room for one more large body. Body limits are what a real agent can send (protocol/limits.ts).
  const reportsInFlight = new LargeBodies();
  const reportBeforeBody = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const agent = callingAgent(req);
    requireWellFormedId(req.params.id);
    const owner = await store.commandOwner(req.params.id);
    if (owner === undefined) throw new ApiError('COMMAND_NOT_FOUND');
    if (owner !== agent.id) throw new ApiError('COMMAND_NOT_YOURS');
    reportsInFlight.admit(agent.id, req, reply);
  };

  app.post<{ Params: IdParams; Body: ProgressRequest }>(
    '/api/agents/commands/:id/progress',
    { ...AGENT_ROUTE, schema: { params: idParamsSchema, body: progressSchema }, bodyLimit: PROGRESS_BODY_LIMIT, preParsing: reportBeforeBody },
    async (req) => {
      const agent = callingAgent(req);
      const started = await store.markStarted(req.params.id, agent.id, req.body.started_at);
      if (started.kind === 'not_found') throw new ApiError('COMMAND_NOT_FOUND');
      if (started.kind === 'not_yours') throw new ApiError('COMMAND_NOT_YOURS');
      const { chunks, pieces = [], totals } = req.body;
      const out = await store.appendOutput(req.params.id, agent.id, {
        chunks, totals,
        pieces: pieces.map((p) => ({ stream: p.stream, offset: p.offset, at: p.at, data: Buffer.from(p.data, 'base64'), ...(p.tail ? { tail: true } : {}) })),
      }, ctx.options.output.keep);
      if (out.kind !== 'ok') throw new ApiError(out.kind === 'not_found' ? 'COMMAND_NOT_FOUND' : 'COMMAND_NOT_YOURS');
      const ack: ProgressAck = {
        next_offset: out.nextOffset, cancel: started.command.cancel_requested_at !== null, next: out.next, keep: out.keep,
        ...(out.final ? { final: true } : {}),
      };
      return ack;
    },
  );

  app.post<{ Params: IdParams; Body: CommandResult }>(
    '/api/agents/commands/:id/result',
    { ...AGENT_ROUTE, schema: { params: idParamsSchema, body: resultSchema }, bodyLimit: RESULT_BODY_LIMIT, preParsing: reportBeforeBody },
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

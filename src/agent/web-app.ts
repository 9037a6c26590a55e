// The agent's web service (HTTPS only): /health for anyone; every /api/ route for the control
// plane alone, which must present both the agent token and its own client certificate, pinned at
// enrollment. Routes only; daemon.ts listens.
//
// Why the certificate for reading too (status, a command's output), not only for execute and
// cancel: the control plane keeps agent tokens in its database, so a copy of that database alone
// would otherwise read every command's output (secrets that commands print) from every agent.
// With the certificate, it takes the control plane's private key as well. Nothing else calls these
// routes: `myx agents` and `myx show` read the control plane, which has it all.

import { timingSafeEqual, createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHttpApp } from '../common/http-app.ts';
import { LargeBodies } from '../common/large-bodies.ts';
import type { Logger } from '../common/logger.ts';
import { routeFor } from '../common/route-auth.ts';
import type { LoadedCertificate } from '../common/tls-cert.ts';
import { ApiError } from '../protocol/errors.ts';
import { sameFingerprint } from '../protocol/fingerprint.ts';
import { RESULT_BODY_LIMIT } from '../protocol/limits.ts';
import { executeSchema, idParamsSchema, requireWellFormedId, resultSchema } from '../protocol/schemas.ts';
import type { AgentStatus, CommandResult, ExecuteRequest, ExecuteResponse, IdParams } from '../protocol/wire.ts';
import type { AgentCounters } from './agent-counters.ts';
import type { CommandRunner } from './command-runner.ts';

export interface AgentAppDeps {
  log: Logger;
  runner: CommandRunner;
  agentToken: string;
  /** The control plane's certificate fingerprint, pinned at enrollment: every /api/ call must present it (mutual TLS). */
  serverFingerprint: string;
  status: () => Omit<AgentStatus, 'running'>;
  tls?: LoadedCertificate;
  /** Counts the requests answered (the metrics). */
  counters?: AgentCounters;
}

const PUBLIC = routeFor('public');
const CONTROL_PLANE = routeFor('control-plane');

export function buildAgentApp(deps: AgentAppDeps): FastifyInstance {
  const expected = digest(deps.agentToken);
  const fromControlPlane = (req: FastifyRequest) => {
    const presented = presentedFingerprint(req);
    return presented !== undefined && sameFingerprint(presented, deps.serverFingerprint);
  };
  const app = createHttpApp({
    logger: deps.log,
    requestClientCert: true,
    ...(deps.tls ? { tls: deps.tls } : {}),
    callers: {
      public: null,
      // the certificate first: a caller without it learns nothing about tokens, and no token is compared for it
      'control-plane': (req) => {
        requireClientCertificate(req, deps.serverFingerprint);
        const token = req.headers['x-agent-token'];
        if (typeof token !== 'string' || token.length === 0) throw new ApiError('AGENT_TOKEN_MISSING');
        // Comparing fixed-length digests keeps the comparison constant-time whatever the input length.
        if (!timingSafeEqual(digest(token), expected)) throw new ApiError('AGENT_TOKEN_INVALID');
      },
    },
    trustedPeer: fromControlPlane,
  });
  deps.counters?.countRequests(app);

  app.get('/health', PUBLIC, async () => ({ status: 'ok' }));

  app.get('/api/status', CONTROL_PLANE, async (): Promise<AgentStatus> => ({ ...deps.status(), running: deps.runner.running() }));

  app.post<{ Body: ExecuteRequest }>('/api/execute', { ...CONTROL_PLANE, schema: { body: executeSchema } }, async (req, reply) => {
    const { duplicate, state } = deps.runner.execute(req.body); // a full disk: 507, logged once by the journal
    const body: ExecuteResponse = { status: 'accepted', command_id: req.body.command_id, duplicate, state };
    return reply.code(duplicate ? 200 : 202).send(body);
  });

  app.get<{ Params: IdParams }>('/api/commands/:id', { ...CONTROL_PLANE, schema: { params: idParamsSchema } }, async (req) => {
    const entry = deps.runner.get(req.params.id);
    if (!entry) throw new ApiError('COMMAND_NOT_FOUND', `this agent has no command ${req.params.id}`);
    return { command_id: entry.id, state: entry.state, accepted_at: entry.accepted_at, result: entry.result, reported: entry.reported_at !== null };
  });

  app.post<{ Params: IdParams }>('/api/commands/:id/cancel', { ...CONTROL_PLANE, schema: { params: idParamsSchema } }, async (req) => {
    const entry = deps.runner.get(req.params.id);
    if (!entry) throw new ApiError('COMMAND_NOT_FOUND', `this agent has no command ${req.params.id}`);
    return { command_id: entry.id, cancelling: deps.runner.cancel(entry.id), state: entry.state };
  });

  // Internal, and nothing calls it today: the control plane only (certificate), and like the
  // control plane's own result route, the command is checked before a body of up to
  // RESULT_BODY_LIMIT is read, with one caller's large bodies in flight bounded.
  const resultsInFlight = new LargeBodies();
  const resultBeforeBody = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    requireWellFormedId(req.params.id);
    deps.runner.checkExternal(req.params.id);
    resultsInFlight.admit('control-plane', req, reply);
  };
  app.post<{ Params: IdParams; Body: CommandResult }>(
    '/api/commands/:id/result',
    { ...CONTROL_PLANE, schema: { params: idParamsSchema, body: resultSchema }, bodyLimit: RESULT_BODY_LIMIT, preParsing: resultBeforeBody },
    async (req) => {
      const entry = deps.runner.recordExternal(req.params.id, req.body);
      return { command_id: entry.id, state: entry.state };
    },
  );
  return app;
}

/** Per connection: its client certificate cannot change (renegotiation is refused). */
const peerFingerprints = new WeakMap<object, string | null>();

function presentedFingerprint(req: FastifyRequest): string | undefined {
  const socket = req.raw.socket as TLSSocket;
  let known = peerFingerprints.get(socket);
  if (known === undefined) {
    known = (typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate()?.fingerprint256 : undefined) || null;
    peerFingerprints.set(socket, known);
  }
  return known ?? undefined;
}

function requireClientCertificate(req: FastifyRequest, fingerprint: string): void {
  const presented = presentedFingerprint(req);
  if (!presented) throw new ApiError('CLIENT_CERT_REQUIRED');
  if (!sameFingerprint(presented, fingerprint)) throw new ApiError('CLIENT_CERT_MISMATCH');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

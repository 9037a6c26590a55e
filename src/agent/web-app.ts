// The agent's web service (HTTPS only): /health for anyone, everything under /api/ for holders
// of the agent token. Routes only; daemon.ts listens.

import { timingSafeEqual, createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createHttpApp } from '../common/http-app.ts';
import type { Logger } from '../common/logger.ts';
import type { LoadedCertificate } from '../common/tls-cert.ts';
import { ApiError } from '../protocol/errors.ts';
import { sameFingerprint } from '../protocol/fingerprint.ts';
import { executeSchema, idParamsSchema, resultSchema } from '../protocol/schemas.ts';
import type { AgentStatus, CommandResult, ExecuteRequest, ExecuteResponse } from '../protocol/wire.ts';
import type { CommandRunner } from './command-runner.ts';

export interface AgentAppDeps {
  log: Logger;
  runner: CommandRunner;
  agentToken: string;
  /** The control plane's certificate fingerprint, pinned at enrollment: pushes must present it (mutual TLS). */
  serverFingerprint: string;
  status: () => Omit<AgentStatus, 'running'>;
  tls?: LoadedCertificate;
}

export function buildAgentApp(deps: AgentAppDeps): FastifyInstance {
  const app = createHttpApp({ logger: deps.log, requestClientCert: true, ...(deps.tls ? { tls: deps.tls } : {}) });
  const expected = digest(deps.agentToken);

  app.get('/health', async () => ({ status: 'ok' }));

  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/api/')) return;
    const token = req.headers['x-agent-token'];
    if (typeof token !== 'string' || token.length === 0) throw new ApiError('AGENT_TOKEN_MISSING');
    // Comparing fixed-length digests keeps the comparison constant-time whatever the input length.
    if (!timingSafeEqual(digest(token), expected)) throw new ApiError('AGENT_TOKEN_INVALID');
  });

  app.get('/api/status', async (): Promise<AgentStatus> => ({ ...deps.status(), running: deps.runner.running() }));

  // Running or stopping a command takes both the token and the control plane's own certificate, so a
  // copy of the control plane's database (which holds agent tokens) cannot run commands by itself.
  const fromControlPlane = async (req: FastifyRequest) => requireClientCertificate(req, deps.serverFingerprint);

  app.post<{ Body: ExecuteRequest }>('/api/execute', { schema: { body: executeSchema }, preHandler: fromControlPlane }, async (req, reply) => {
    const { duplicate, state } = deps.runner.execute(req.body); // a full disk: 507, logged once by the journal
    const body: ExecuteResponse = { status: 'accepted', command_id: req.body.command_id, duplicate, state };
    return reply.code(duplicate ? 200 : 202).send(body);
  });

  app.get<{ Params: { id: string } }>('/api/commands/:id', { schema: { params: idParamsSchema } }, async (req) => {
    const entry = deps.runner.get(req.params.id);
    if (!entry) throw new ApiError('COMMAND_NOT_FOUND', `this agent has no command ${req.params.id}`);
    return { command_id: entry.id, state: entry.state, accepted_at: entry.accepted_at, result: entry.result, reported: entry.reported_at !== null };
  });

  app.post<{ Params: { id: string } }>('/api/commands/:id/cancel', { schema: { params: idParamsSchema }, preHandler: fromControlPlane }, async (req) => {
    const entry = deps.runner.get(req.params.id);
    if (!entry) throw new ApiError('COMMAND_NOT_FOUND', `this agent has no command ${req.params.id}`);
    return { command_id: entry.id, cancelling: deps.runner.cancel(entry.id), state: entry.state };
  });

  app.post<{ Params: { id: string }; Body: CommandResult }>(
    '/api/commands/:id/result',
    { schema: { params: idParamsSchema, body: resultSchema }, bodyLimit: 40 * 1024 * 1024 },
    async (req) => {
      const entry = deps.runner.recordExternal(req.params.id, req.body);
      return { command_id: entry.id, state: entry.state };
    },
  );
  return app;
}

function requireClientCertificate(req: FastifyRequest, fingerprint: string): void {
  const socket = req.raw.socket as TLSSocket;
  const presented = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate()?.fingerprint256 : undefined;
  if (!presented) throw new ApiError('CLIENT_CERT_REQUIRED');
  if (!sameFingerprint(presented, fingerprint)) throw new ApiError('CLIENT_CERT_MISMATCH');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

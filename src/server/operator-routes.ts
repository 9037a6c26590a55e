// The operator API: agents, enrollment tokens, commands and waiting for them. Bearer token auth.

import type { FastifyInstance } from 'fastify';
import { formatEnrollmentToken } from '../protocol/enrollment-token.ts';
import { ApiError } from '../protocol/errors.ts';
import { isFinal, type CommandStatus } from '../protocol/command-status.ts';
import { createCommandsSchema, createEnrollmentTokenSchema, idParamsSchema, listCommandsQuerySchema, waitSchema } from '../protocol/schemas.ts';
import type {
  AgentView, CommandsResponse, CreateCommandsRequest, CreateEnrollmentTokenRequest, EnrollmentTokenResponse,
  WaitRequest, WaitResponse,
} from '../protocol/wire.ts';
import { requireOperator } from './auth.ts';
import type { ServerContext } from './context.ts';
import { hashToken, newId, newToken } from './secrets.ts';
import type { AgentRow } from './store/store.ts';

const DEFAULT_TIMEOUT_SECONDS = 300;
const DEFAULT_ENROLLMENT_TTL_SECONDS = 3600;
const DEFAULT_TTL_SECONDS = 3600;

export function operatorRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;
  app.get('/api/agents', async (req) => {
    await requireOperator(store, req);
    const now = Date.now();
    return { agents: (await store.listAgents()).map((a) => agentView(a, now, ctx)) };
  });

  app.delete<{ Params: { id: string } }>('/api/agents/:id', { schema: { params: idParamsSchema } }, async (req) => {
    await requireOperator(store, req);
    const [agent] = resolveAgents(await store.listAgents(), [req.params.id]);
    await store.removeAgent(agent!.id);
    ctx.agentClient.forget(agent!.id);
    ctx.log.info({ agent_id: agent!.id, agent: agent!.name }, 'agent removed');
    return { removed: agent!.id };
  });

  app.post<{ Body: CreateEnrollmentTokenRequest }>('/api/enrollment-tokens', { schema: { body: createEnrollmentTokenSchema } }, async (req, reply) => {
    await requireOperator(store, req);
    const secret = newToken('enrollment');
    const now = new Date();
    const expiresAt = new Date(now.getTime() + (req.body?.ttl_seconds ?? DEFAULT_ENROLLMENT_TTL_SECONDS) * 1000).toISOString();
    await store.createEnrollmentToken(hashToken(secret), expiresAt, now.toISOString());
    const token = formatEnrollmentToken(secret, ctx.fingerprint);
    const body: EnrollmentTokenResponse = { token, expires_at: expiresAt, join: `myx-agent enroll --server ${ctx.publicUrl()} --token ${token}` };
    return reply.code(201).send(body);
  });

  app.post<{ Body: CreateCommandsRequest }>('/api/commands', { schema: { body: createCommandsSchema } }, async (req, reply) => {
    await requireOperator(store, req);
    const b = req.body;
    const all = await store.listAgents();
    const targets = b.targets.all ? all : resolveAgents(all, b.targets.agents ?? []);
    if (targets.length === 0) {
      throw new ApiError('NO_TARGETS', b.targets.all ? 'no agents are enrolled yet; enroll one with `myx token create`' : 'name at least one agent, or use --all');
    }
    const now = new Date();
    const expiresAt = new Date(now.getTime() + (b.ttl ?? DEFAULT_TTL_SECONDS) * 1000).toISOString();
    const commands = await store.enqueue(
      targets.map((a) => ({
        id: newId('cmd'), agent_id: a.id, command: b.command, args: b.args ?? [], timeout: b.timeout ?? DEFAULT_TIMEOUT_SECONDS,
        env: b.env ?? null, cwd: b.cwd ?? null, expires_at: expiresAt,
      })),
      now.toISOString(),
    );
    ctx.log.info({ command: b.command, targets: targets.length }, 'commands queued');
    for (const a of targets) if (a.mode === 'poll') ctx.events.wakeAgent(a.id);
    void ctx.dispatcher.dispatch(commands, new Map(targets.map((a) => [a.id, a])));
    const body: CommandsResponse = { commands };
    return reply.code(201).send(body);
  });

  app.get<{ Params: { id: string } }>('/api/commands/:id', { schema: { params: idParamsSchema } }, async (req) => {
    await requireOperator(store, req);
    const [command] = await store.getCommands([req.params.id]);
    if (!command) throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${req.params.id}`);
    return command;
  });

  app.get<{ Querystring: { agent?: string; status?: CommandStatus; limit?: string } }>(
    '/api/commands', { schema: { querystring: listCommandsQuerySchema } }, async (req) => {
      await requireOperator(store, req);
      const agent = req.query.agent ? resolveAgents(await store.listAgents(), [req.query.agent])[0] : undefined;
      const commands = await store.listCommands({
        ...(agent ? { agentId: agent.id } : {}),
        ...(req.query.status ? { status: req.query.status } : {}),
        limit: Math.min(Number(req.query.limit ?? 50), 1000),
      });
      const body: CommandsResponse = { commands };
      return body;
    },
  );

  app.post<{ Params: { id: string } }>('/api/commands/:id/cancel', { schema: { params: idParamsSchema } }, async (req) => {
    await requireOperator(store, req);
    const outcome = await store.requestCancel(req.params.id, new Date().toISOString());
    if (outcome.kind === 'not_found') throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${req.params.id}`);
    const c = outcome.command;
    if (outcome.kind === 'cancelled') ctx.events.finished(c.id);
    if (outcome.kind === 'requested') {
      ctx.log.info({ command_id: c.id, agent: c.agent_name }, 'cancel requested');
      const agent = (await store.listAgents()).find((a) => a.id === c.agent_id);
      const pushed = agent ? await ctx.dispatcher.pushCancel(agent, c.id) : false;
      if (!pushed) ctx.events.wakeAgent(c.agent_id);
    }
    return { command: c, outcome: outcome.kind };
  });

  app.post<{ Body: WaitRequest }>('/api/commands/wait', { schema: { body: waitSchema } }, async (req) => {
    await requireOperator(store, req);
    const ids = [...new Set(req.body.ids)];
    const deadline = Date.now() + (req.body.timeout ?? 25) * 1000;
    const gone = new AbortController();
    req.raw.once('close', () => gone.abort());
    for (;;) {
      const commands = await store.getCommands(ids);
      if (commands.length < ids.length) {
        const known = new Set(commands.map((c) => c.id));
        throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${ids.find((id) => !known.has(id))}`);
      }
      const pending = commands.filter((c) => !isFinal(c.status));
      const left = deadline - Date.now();
      if (pending.length === 0 || left <= 0 || gone.signal.aborted) {
        const body: WaitResponse = { commands, done: pending.length === 0 };
        return body;
      }
      await ctx.events.waitAny(pending.map((c) => c.id), left, gone.signal);
    }
  });
}

/** Finds agents by id or name; an unknown one is an error naming it. */
function resolveAgents(all: AgentRow[], wanted: string[]): AgentRow[] {
  const out = new Map<string, AgentRow>();
  for (const w of wanted) {
    const agent = all.find((a) => a.id === w) ?? all.find((a) => a.name === w);
    if (!agent) throw new ApiError('AGENT_NOT_FOUND', `no agent with name or id "${w}" (see \`myx agents\`)`);
    out.set(agent.id, agent);
  }
  return [...out.values()];
}

function agentView(a: AgentRow, now: number, ctx: ServerContext): AgentView {
  const seen = a.last_heartbeat_at ? Date.parse(a.last_heartbeat_at) : 0;
  return {
    id: a.id, name: a.name, hostname: a.hostname, os: a.os, version: a.version,
    status: now - seen <= ctx.options.offlineAfterSeconds * 1000 ? 'online' : 'offline', push: ctx.dispatcher.health(a),
    mode: a.mode, address: a.advertise_address ?? a.remote_address, web_port: a.web_port, fingerprint: a.fingerprint,
    labels: a.labels, enrolled_at: a.enrolled_at, last_heartbeat_at: a.last_heartbeat_at,
  };
}

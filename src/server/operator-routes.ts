// The operator API: agents, commands and waiting for them. Bearer token auth.

import type { FastifyInstance } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { isFinal, type CommandStatus } from '../protocol/command-status.ts';
import {
  agentParamsSchema, createRunSchema, idParamsSchema, limitQuerySchema, listAgentsQuerySchema, listCommandsQuerySchema, setLabelsSchema,
  waitSchema,
} from '../protocol/schemas.ts';
import type {
  AgentView, CommandsResponse, CreateRunRequest, Labels, RemoveAgentResponse, RunResponse, Targets, WaitRequest, WaitResponse,
} from '../protocol/wire.ts';
import { removeAgent } from './agent-removal.ts';
import { pushHealth } from './dispatcher.ts';
import { OPERATOR_ROUTE } from './auth.ts';
import type { ServerContext } from './context.ts';
import { newId } from './secrets.ts';
import type { AgentRow } from './store/store.ts';
import { resolveLimit } from './run-control.ts';

const DEFAULT_TIMEOUT_SECONDS = 300;
const DEFAULT_TTL_SECONDS = 3600;

export function operatorRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;
  app.get<{ Querystring: { removed?: 'true' | 'false' } }>('/api/agents', { ...OPERATOR_ROUTE, schema: { querystring: listAgentsQuerySchema } }, async (req) => {
    const now = Date.now();
    return { agents: (await store.listAgents(req.query.removed === 'true' ? 'removed' : 'active')).map((a) => agentView(a, now, ctx)) };
  });

  app.delete<{ Params: { id: string } }>('/api/agents/:id', { ...OPERATOR_ROUTE, schema: { params: agentParamsSchema } }, async (req) => {
    const [agent] = resolveAgents(await store.listAgents(), [req.params.id]);
    const body: RemoveAgentResponse = await removeAgent(ctx, agent!.id);
    return body;
  });

  app.post<{ Body: CreateRunRequest }>('/api/runs', { ...OPERATOR_ROUTE, schema: { body: createRunSchema } }, async (req, reply) => {
    const b = req.body;
    const { agents: targets, description } = selectTargets(await store.listAgents(), b.targets);
    const maxConcurrency = resolveLimit(b.max_concurrency, targets.length);
    const maxErrors = resolveLimit(b.max_errors, targets.length);
    if (maxConcurrency !== null && maxConcurrency < 1) throw new ApiError('BAD_REQUEST', '--max-concurrency must be at least 1 (or a percentage above 0)');
    const now = new Date();
    const expiresAt = new Date(now.getTime() + (b.ttl ?? DEFAULT_TTL_SECONDS) * 1000).toISOString();
    const created = await store.createRun(
      {
        id: newId('run'), command: b.command, args: b.args ?? [], target: description,
        max_concurrency: maxConcurrency, max_errors: maxErrors === null ? null : Math.max(1, maxErrors),
      },
      targets.map((a, i) => ({
        id: newId('cmd'), status: maxConcurrency === null || i < maxConcurrency ? 'queued' : 'waiting', agent_id: a.id,
        command: b.command, args: b.args ?? [], timeout: b.timeout ?? DEFAULT_TIMEOUT_SECONDS, env: b.env ?? null, cwd: b.cwd ?? null,
        expires_at: expiresAt,
      })),
      now.toISOString(),
    );
    ctx.log.info({ run_id: created.run.id, command: b.command, target: description, targets: targets.length, max_concurrency: maxConcurrency, max_errors: maxErrors }, 'run created');
    ctx.runs.inBackground('the fan-out', async () => {
      await ctx.runs.deliver(created.commands);
      // a target removed while the run was created has its command cancelled already: its slot is free
      if (created.commands.some((c) => isFinal(c.status))) await ctx.runs.advance(created.run.id);
    });
    const body: RunResponse = created;
    return reply.code(201).send(body);
  });

  app.get<{ Querystring: { limit?: string } }>('/api/runs', { ...OPERATOR_ROUTE, schema: { querystring: limitQuerySchema } }, async (req) => {
    return { runs: await store.listRuns(Math.min(Number(req.query.limit ?? 20), 1000)) };
  });

  app.get<{ Params: { id: string } }>('/api/runs/:id', { ...OPERATOR_ROUTE, schema: { params: idParamsSchema } }, async (req) => {
    const run = await store.getRun(req.params.id);
    if (!run) throw new ApiError('RUN_NOT_FOUND', `no run with id ${req.params.id}`);
    const body: RunResponse = { run, commands: await store.commandsOfRun(run.id) };
    return body;
  });

  app.post<{ Params: { id: string }; Body: { set?: Labels; remove?: string[] } }>(
    '/api/agents/:id/labels', { ...OPERATOR_ROUTE, schema: { params: agentParamsSchema, body: setLabelsSchema } }, async (req) => {
      const [agent] = resolveAgents(await store.listAgents(), [req.params.id]);
      const labels = { ...agent!.operator_labels, ...req.body.set };
      for (const k of req.body.remove ?? []) delete labels[k];
      await store.setOperatorLabels(agent!.id, labels);
      ctx.log.info({ agent: agent!.name, labels }, 'operator labels set');
      return { agent_id: agent!.id, operator_labels: labels, labels: { ...agent!.labels, ...labels } };
    },
  );

  app.get<{ Params: { id: string } }>('/api/commands/:id', { ...OPERATOR_ROUTE, schema: { params: idParamsSchema } }, async (req) => {
    const [command] = await store.getCommands([req.params.id]);
    if (!command) throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${req.params.id}`);
    return command;
  });

  app.get<{ Querystring: { agent?: string; status?: CommandStatus; limit?: string } }>(
    '/api/commands', { ...OPERATOR_ROUTE, schema: { querystring: listCommandsQuerySchema } }, async (req) => {
      // a removed agent's commands stay listed: by id, or by name when no enrolled agent has it now
      const agent = req.query.agent
        ? resolveAgents([...await store.listAgents(), ...await store.listAgents('removed')], [req.query.agent])[0]
        : undefined;
      const commands = await store.listCommands({
        ...(agent ? { agentId: agent.id } : {}),
        ...(req.query.status ? { status: req.query.status } : {}),
        limit: Math.min(Number(req.query.limit ?? 50), 1000),
      });
      const body: CommandsResponse = { commands };
      return body;
    },
  );

  app.post<{ Params: { id: string } }>('/api/commands/:id/cancel', { ...OPERATOR_ROUTE, schema: { params: idParamsSchema } }, async (req) => {
    const outcome = await store.requestCancel(req.params.id, new Date().toISOString());
    if (outcome.kind === 'not_found') throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${req.params.id}`);
    const c = outcome.command;
    if (outcome.kind === 'cancelled') await ctx.runs.commandEnded(c);
    if (outcome.kind === 'requested') {
      ctx.log.info({ command_id: c.id, agent: c.agent_name }, 'cancel requested');
      // none once removed: nothing to push to; otherwise its heartbeat or poll carries the request (the store told them)
      const agent = (await store.listAgents()).find((a) => a.id === c.agent_id);
      if (agent) await ctx.dispatcher.pushCancel(agent, c.id);
    }
    return { command: c, outcome: outcome.kind };
  });

  app.post<{ Body: WaitRequest }>('/api/commands/wait', { ...OPERATOR_ROUTE, schema: { body: waitSchema } }, async (req, reply) => {
    const ids = [...new Set(req.body.ids)];
    const gone = new AbortController();
    // the response's close: answered, or the client went away first (the request's own 'close' only says its body was read)
    reply.raw.once('close', () => gone.abort());
    const known = async () => {
      const commands = await store.getCommands(ids);
      if (commands.length < ids.length) {
        const have = new Set(commands.map((c) => c.id));
        throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${ids.find((id) => !have.has(id))}`);
      }
      return commands;
    };
    let told = false;
    await ctx.events.waitAll(ids, (req.body.timeout ?? 25) * 1000, async () => {
      const open = (await known()).filter((c) => !isFinal(c.status)).map((c) => c.id);
      if (open.length > 0 && !told) req.log.debug({ open: open.length }, 'wait held: commands not final yet');
      told = true;
      return open;
    }, gone.signal);
    const commands = await known();
    const body: WaitResponse = { commands, done: commands.every((c) => isFinal(c.status)) };
    return body;
  });
}

/** The agents a run targets, and a description of how they were chosen. */
function selectTargets(all: AgentRow[], t: Targets): { agents: AgentRow[]; description: string } {
  const ways = [t.all === true, (t.agents?.length ?? 0) > 0, t.labels !== undefined].filter(Boolean).length;
  if (ways !== 1) throw new ApiError('BAD_REQUEST', 'choose targets one way: named agents, labels, or all');
  if (t.all) {
    if (all.length === 0) throw new ApiError('NO_TARGETS', 'no agents are enrolled yet; enroll one with `myx token create`');
    return { agents: all, description: 'all' };
  }
  if (t.labels) {
    const wanted = Object.entries(t.labels);
    const description = `label ${wanted.map(([k, v]) => `${k}=${v}`).join(',')}`;
    const agents = all.filter((a) => {
      const labels = { ...a.labels, ...a.operator_labels };
      return wanted.every(([k, v]) => labels[k] === v);
    });
    if (agents.length === 0) throw new ApiError('NO_TARGETS', `no agent carries ${description.slice(6)} (see \`myx agents\`)`);
    return { agents, description };
  }
  const agents = resolveAgents(all, t.agents!);
  return { agents, description: `agents ${agents.map((a) => a.name).join(',')}` };
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
    status: a.removed_at === null && now - seen <= ctx.options.offlineAfterSeconds * 1000 ? 'online' : 'offline', push: pushHealth(a),
    mode: a.mode, address: a.advertise_address ?? a.remote_address, web_port: a.web_port, fingerprint: a.fingerprint,
    labels: { ...a.labels, ...a.operator_labels }, operator_labels: a.operator_labels, enrolled_at: a.enrolled_at, last_heartbeat_at: a.last_heartbeat_at,
    removed_at: a.removed_at,
  };
}

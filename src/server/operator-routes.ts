// The operator API: agents, runs, commands and waiting for them. Each route declares the role it
// needs (auth.ts) and shows or targets only what the caller's scope takes in (scope.ts); each that
// changes something hands its audit entry (audit.ts) to the store write that makes the change.

import type { FastifyInstance } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { isFinal } from '../protocol/command-status.ts';
import {
  agentParamsSchema, createRunQuerySchema, createRunSchema, idParamsSchema, limitQuerySchema, listAgentsQuerySchema, listCommandsQuerySchema, runPreviewSchema,
  runQuerySchema, setLabelsSchema, waitSchema,
} from '../protocol/schemas.ts';
import type {
  AgentListResponse, AgentParams, AgentView, CommandRecord, CommandsResponse, CreateRunQuery, CreateRunRequest, IdParams, LimitQuery, ListAgentsQuery,
  ListCommandsQuery, RemoveAgentResponse, RunBriefResponse, RunPreviewRequest, RunPreviewResponse, RunQuery, RunResponse, SetLabelsRequest, WaitRequest,
  WaitResponse,
} from '../protocol/wire.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import { removeAgent } from './agent-removal.ts';
import { auditEntry } from './audit.ts';
import { pushHealth } from './dispatcher.ts';
import { callingOperator, operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { launchRun } from './run-launch.ts';
import { inYourScope, scopedRun, scopeOf, visibleAgentIds, visibleAgents, visibleCommand, visibleCommands, visibleNames } from './scope.ts';
import type { AgentRow } from './store/store.ts';
import { resolveAgents, selectTargets } from './targets.ts';

const DEFAULT_TIMEOUT_SECONDS = 300;
const DEFAULT_TTL_SECONDS = 3600;
/** `GET /api/runs/:id?output=head`: characters of each stream shown (a run's grid and grouped outputs, on 1,000 agents). */
const OUTPUT_HEAD_CHARS = 2000;

export function operatorRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;
  app.get<{ Querystring: ListAgentsQuery }>('/api/agents', { ...operatorRoute('viewer'), schema: { querystring: listAgentsQuerySchema } }, async (req) => {
    const now = Date.now();
    const agents = (await visibleAgents(ctx, req, req.query.removed === 'true' ? 'removed' : 'active')).map((a) => agentView(a, now, ctx));
    const body: AgentListResponse = { agents, control_plane_version: MYX_VERSION };
    return body;
  });

  app.delete<{ Params: AgentParams }>('/api/agents/:id', { ...operatorRoute('admin', 'agent.remove'), schema: { params: agentParamsSchema } }, async (req) => {
    const audit = auditEntry(req, { targets: [req.params.id] });
    const [agent] = resolveAgents(await visibleAgents(ctx, req), [req.params.id], inYourScope(req));
    audit.targets = [agent!.name, agent!.id];
    const body: RemoveAgentResponse = await removeAgent(ctx, agent!.id, audit);
    return body;
  });

  // `?commands=brief`: the commands as id, agent and status only (a run on 10,000 agents answers in
  // a megabyte instead of seven); their records come with the run's stream.
  app.post<{ Body: CreateRunRequest; Querystring: CreateRunQuery }>('/api/runs', {
    ...operatorRoute('operator', 'run.create'), schema: { body: createRunSchema, querystring: createRunQuerySchema },
  }, async (req, reply) => {
    const b = req.body;
    const audit = auditEntry(req, { targets: [], details: { command: b.command, args: b.args ?? [], targets: b.targets } });
    const { agents: targets, description } = selectTargets(await visibleAgents(ctx, req), b.targets, scopeOf(req));
    const body: RunResponse = await launchRun(ctx, targets, {
      command: b.command, args: b.args ?? [], timeout: b.timeout ?? DEFAULT_TIMEOUT_SECONDS, env: b.env ?? null, cwd: b.cwd ?? null,
      ttl: b.ttl ?? DEFAULT_TTL_SECONDS, target: description, maxConcurrency: b.max_concurrency, maxErrors: b.max_errors,
      requestedBy: callingOperator(req).name,
    }, undefined, audit);
    if (req.query.commands !== 'brief') return reply.code(201).send(body);
    const brief: RunBriefResponse = {
      run: body.run, commands: body.commands.map((c) => ({ id: c.id, agent_id: c.agent_id, agent_name: c.agent_name, status: c.status })),
    };
    return reply.code(201).send(brief);
  });

  // What POST /api/runs would target now, chosen by the same function: the console shows it before launch.
  app.post<{ Body: RunPreviewRequest }>('/api/runs/preview', { ...operatorRoute('viewer', false), schema: { body: runPreviewSchema } }, async (req) => {
    const now = Date.now();
    const { agents, description } = selectTargets(await visibleAgents(ctx, req), req.body.targets, scopeOf(req));
    const body: RunPreviewResponse = { target: description, agents: agents.map((a) => agentView(a, now, ctx)) };
    return body;
  });

  app.get<{ Querystring: LimitQuery }>('/api/runs', { ...operatorRoute('viewer'), schema: { querystring: limitQuerySchema } }, async (req) => {
    const runs = await store.listRuns(Math.min(Number(req.query.limit ?? 20), 1000), await visibleAgentIds(ctx, req));
    const names = await visibleNames(ctx, req);
    return { runs: names ? runs.map((r) => scopedRun(r, names)) : runs };
  });

  app.get<{ Params: IdParams; Querystring: RunQuery }>(
    '/api/runs/:id', { ...operatorRoute('viewer'), schema: { params: idParamsSchema, querystring: runQuerySchema } }, async (req) => {
      const seen = await visibleAgentIds(ctx, req);
      const run = await store.getRun(req.params.id, seen);
      if (!run) throw new ApiError('RUN_NOT_FOUND', `no run with id ${req.params.id}${inYourScope(req)}`);
      const ok = seen && new Set(seen);
      const commands = (await store.commandsOfRun(run.id)).filter((c) => !ok || ok.has(c.agent_id));
      const names = await visibleNames(ctx, req);
      const body: RunResponse = { run: names ? scopedRun(run, names) : run, commands: req.query.output === 'head' ? commands.map(outputHead) : commands };
      return body;
    },
  );

  // Operator labels are an admin's: a scope is a label selector, so whoever sets labels decides what scopes take in.
  app.post<{ Params: AgentParams; Body: SetLabelsRequest }>(
    '/api/agents/:id/labels', { ...operatorRoute('admin', 'agent.labels'), schema: { params: agentParamsSchema, body: setLabelsSchema } }, async (req) => {
      const audit = auditEntry(req, { targets: [req.params.id], details: { set: req.body.set ?? {}, remove: req.body.remove ?? [] } });
      const [agent] = resolveAgents(await visibleAgents(ctx, req), [req.params.id], inYourScope(req));
      const labels = { ...agent!.operator_labels, ...req.body.set };
      for (const k of req.body.remove ?? []) delete labels[k];
      audit.targets = [agent!.name, agent!.id];
      audit.details = { ...audit.details, before: agent!.operator_labels, operator_labels: labels };
      await store.setOperatorLabels(agent!.id, labels, audit);
      ctx.log.info({ agent: agent!.name, labels, by: callingOperator(req).name }, 'operator labels set');
      return { agent_id: agent!.id, operator_labels: labels, labels: { ...agent!.labels, ...labels } };
    },
  );

  app.get<{ Params: IdParams }>('/api/commands/:id', { ...operatorRoute('viewer'), schema: { params: idParamsSchema } }, async (req) => {
    return visibleCommand(ctx, req, req.params.id);
  });

  app.get<{ Querystring: ListCommandsQuery }>(
    '/api/commands', { ...operatorRoute('viewer'), schema: { querystring: listCommandsQuerySchema } }, async (req) => {
      // a removed agent's commands stay listed: by id, or by name when no enrolled agent has it now
      const agent = req.query.agent
        ? resolveAgents([...await visibleAgents(ctx, req), ...await visibleAgents(ctx, req, 'removed')], [req.query.agent], inYourScope(req))[0]
        : undefined;
      const seen = agent ? undefined : await visibleAgentIds(ctx, req);
      const commands = await store.listCommands({
        ...(agent ? { agentId: agent.id } : {}),
        ...(seen ? { agentIds: seen } : {}),
        ...(req.query.status ? { status: req.query.status } : {}),
        limit: Math.min(Number(req.query.limit ?? 50), 1000),
      });
      const body: CommandsResponse = { commands };
      return body;
    },
  );

  app.post<{ Params: IdParams }>('/api/commands/:id/cancel', { ...operatorRoute('operator', 'command.cancel'), schema: { params: idParamsSchema } }, async (req) => {
    const audit = auditEntry(req, { targets: [req.params.id] });
    const seen = await visibleCommand(ctx, req, req.params.id);
    audit.targets = [seen.id, seen.agent_name];
    audit.details = { run_id: seen.run_id, command: seen.command, args: seen.args };
    const outcome = await store.requestCancel(req.params.id, new Date().toISOString(), audit);
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

  app.post<{ Body: WaitRequest }>('/api/commands/wait', { ...operatorRoute('viewer', false), schema: { body: waitSchema } }, async (req, reply) => {
    const ids = [...new Set(req.body.ids)];
    await visibleCommands(ctx, req, ids); // all of them the caller's to see, or none
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

/** The record with each stream cut to its first OUTPUT_HEAD_CHARS characters (`*_bytes` still say the whole size). */
function outputHead(c: CommandRecord): CommandRecord {
  return { ...c, stdout: c.stdout.slice(0, OUTPUT_HEAD_CHARS), stderr: c.stderr.slice(0, OUTPUT_HEAD_CHARS) };
}

function agentView(a: AgentRow, now: number, ctx: ServerContext): AgentView {
  const status = a.removed_at !== null ? 'offline'
    : a.last_heartbeat_at === null ? 'enrolled'
    : now - Date.parse(a.last_heartbeat_at) <= ctx.pacing.offlineAfterMs(now) ? 'online' : 'offline';
  return {
    id: a.id, name: a.name, hostname: a.hostname, os: a.os, version: a.version,
    status, push: pushHealth(a),
    mode: a.mode, address: a.advertise_address ?? a.remote_address, web_port: a.web_port, fingerprint: a.fingerprint,
    labels: { ...a.labels, ...a.operator_labels }, operator_labels: a.operator_labels, enrolled_at: a.enrolled_at, last_heartbeat_at: a.last_heartbeat_at,
    removed_at: a.removed_at,
  };
}

// What an operator's scope (a label selector) lets it see and target, for every operator route: the
// agents whose effective labels (their own, overlaid with the operators') match it now, their
// commands, and the runs with at least one such command (shown with those commands only, counted
// over them). Outside its scope, nothing exists for it: an agent, command or run there is "not
// found", so no answer names what it may not see. An unscoped operator (and every admin) sees all.
// Visibility follows the agents' labels as they are at each request: relabel an agent and it (with
// its commands) moves in or out of scopes at once.

import type { FastifyRequest } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { inScope, scopeText } from '../protocol/roles.ts';
import type { CommandRecord, Labels, RunRecord } from '../protocol/wire.ts';
import { callingOperator } from './auth.ts';
import type { ServerContext } from './context.ts';
import type { AgentRow } from './store/store.ts';

export function effectiveLabels(a: AgentRow): Labels {
  return { ...a.labels, ...a.operator_labels };
}

/** The caller's scope; null when it sees everything. */
export function scopeOf(req: FastifyRequest): Labels | null {
  const scope = callingOperator(req).scope;
  return Object.keys(scope).length === 0 ? null : scope;
}

/** ` in your scope (env=staging)`, for messages to a scoped caller; '' for the others. */
export function inYourScope(req: FastifyRequest): string {
  const scope = scopeOf(req);
  return scope ? ` in your scope (${scopeText(scope)})` : '';
}

/** The enrolled (or removed) agents the caller sees. */
export async function visibleAgents(ctx: ServerContext, req: FastifyRequest, which: 'active' | 'removed' = 'active'): Promise<AgentRow[]> {
  const all = await ctx.store.listAgents(which);
  const scope = scopeOf(req);
  return scope ? all.filter((a) => inScope(scope, effectiveLabels(a))) : all;
}

/** Ids of every agent the caller sees, enrolled or removed (for the store's filters); undefined when it sees all. */
export async function visibleAgentIds(ctx: ServerContext, req: FastifyRequest): Promise<string[] | undefined> {
  if (!scopeOf(req)) return undefined;
  return [...await visibleAgents(ctx, req), ...await visibleAgents(ctx, req, 'removed')].map((a) => a.id);
}

/** These commands, in order, when the caller sees every one; else COMMAND_NOT_FOUND for the first it does not (or that does not exist). */
export async function visibleCommands(ctx: ServerContext, req: FastifyRequest, ids: string[]): Promise<CommandRecord[]> {
  const found = await ctx.store.getCommands(ids);
  const seen = await visibleAgentIds(ctx, req);
  const ok = seen && new Set(seen);
  const shown = ok ? found.filter((c) => ok.has(c.agent_id)) : found;
  if (shown.length < ids.length) {
    const have = new Set(shown.map((c) => c.id));
    throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${ids.find((id) => !have.has(id))}${inYourScope(req)}`);
  }
  return shown;
}

/** One command the caller sees, or COMMAND_NOT_FOUND. For every route that names a command (its record, output, cancel). */
export async function visibleCommand(ctx: ServerContext, req: FastifyRequest, id: string): Promise<CommandRecord> {
  return (await visibleCommands(ctx, req, [id]))[0]!;
}

/**
 * A run as a scoped caller sees it: its commands on agents it sees (the counts in `run` are over
 * those already, see Store.getRun), and a target that names only agents it sees.
 */
export function scopedRun(run: RunRecord, visible: Set<string>): RunRecord {
  if (!run.target.startsWith('agents ')) return run;
  const names = run.target.slice(7).split(',').filter((n) => visible.has(n));
  return { ...run, target: `agents ${names.join(',')}` };
}

/** Names of the agents the caller sees, enrolled or removed; undefined when it sees all. */
export async function visibleNames(ctx: ServerContext, req: FastifyRequest): Promise<Set<string> | undefined> {
  if (!scopeOf(req)) return undefined;
  return new Set([...await visibleAgents(ctx, req), ...await visibleAgents(ctx, req, 'removed')].map((a) => a.name));
}

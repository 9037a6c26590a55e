// Creating a run, for `myx run` and `myx agents upgrade` alike: one command per target, the first
// --max-concurrency of them queued and the rest waiting, then delivered. From here on a run is a
// run, whatever its commands do: RunControl paces it.

import type { AuditDraft } from '../protocol/audit.ts';
import { isFinal } from '../protocol/command-status.ts';
import { ApiError } from '../protocol/errors.ts';
import type { RunResponse } from '../protocol/wire.ts';
import type { ServerContext } from './context.ts';
import { resolveLimit } from './run-control.ts';
import { newId } from './secrets.ts';
import type { AgentRow, NewCommand } from './store/store.ts';

export interface RunSpec {
  command: string;
  args: string[];
  timeout: number;
  env: Record<string, string> | null;
  cwd: string | null;
  /** Delivery TTL, seconds. */
  ttl: number;
  /** How the targets were chosen, e.g. `label env=prod`. */
  target: string;
  maxConcurrency: string | undefined;
  maxErrors: string | undefined;
  /** The operator who asks for it (recorded on the run and each command). */
  requestedBy: string;
}

/** What is special about one target's command; `status: 'succeeded'` when it has nothing to do. */
export type PerTarget = (agent: AgentRow) => Pick<NewCommand, 'upgrade' | 'stdout'> & { status?: 'succeeded' };

/**
 * `audit`: the request's entry (audit.ts), completed here with the run's id and its agents as
 * targets and what the run is, and appended in the run's own transaction.
 */
export async function launchRun(
  ctx: ServerContext, targets: AgentRow[], spec: RunSpec, perTarget: PerTarget = () => ({}), audit?: AuditDraft,
): Promise<RunResponse> {
  const maxConcurrency = resolveLimit(spec.maxConcurrency, targets.length);
  const maxErrors = resolveLimit(spec.maxErrors, targets.length);
  if (maxConcurrency !== null && maxConcurrency < 1) throw new ApiError('BAD_REQUEST', '--max-concurrency must be at least 1 (or a percentage above 0)');
  const now = new Date();
  const expiresAt = new Date(now.getTime() + spec.ttl * 1000).toISOString();
  let started = 0; // commands with something to do take the concurrency slots, in target order
  const commands: NewCommand[] = targets.map((a) => {
    const { status, ...special } = perTarget(a);
    const queued = maxConcurrency === null || started < maxConcurrency;
    if (status === undefined) started++;
    return {
      id: newId('cmd'), status: status ?? (queued ? 'queued' : 'waiting'), agent_id: a.id,
      command: spec.command, args: spec.args, timeout: spec.timeout, env: spec.env, cwd: spec.cwd, expires_at: expiresAt, ...special,
    };
  });
  const run = {
    id: newId('run'), command: spec.command, args: spec.args, target: spec.target,
    max_concurrency: maxConcurrency, max_errors: maxErrors === null ? null : Math.max(1, maxErrors), requested_by: spec.requestedBy,
  };
  if (audit) {
    audit.targets = [run.id, ...targets.map((a) => a.name)];
    audit.details = {
      ...audit.details, run_id: run.id, command: spec.command, args: spec.args, target: spec.target, agents: targets.length,
      timeout: spec.timeout, ttl: spec.ttl, max_concurrency: run.max_concurrency, max_errors: run.max_errors,
      ...(spec.cwd ? { cwd: spec.cwd } : {}), ...(spec.env ? { env_keys: Object.keys(spec.env) } : {}),
    };
  }
  const created = await ctx.store.createRun(run, commands, now.toISOString(), audit);
  ctx.log.info({
    run_id: created.run.id, requested_by: spec.requestedBy, command: spec.command, target: spec.target, targets: targets.length, max_concurrency: maxConcurrency, max_errors: maxErrors,
  }, 'run created');
  ctx.runs.inBackground('the fan-out', async () => {
    await ctx.runs.deliver(created.commands, targets);
    // a target removed while the run was created has its command cancelled already, and one with
    // nothing to do has succeeded: their slots are free
    if (created.commands.some((c) => isFinal(c.status))) await ctx.runs.advance(created.run.id);
  });
  return created;
}

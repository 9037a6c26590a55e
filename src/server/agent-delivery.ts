// What the control plane hands an agent when it asks (heartbeat reply or long poll): its queued
// commands, claimed under a lease, and the ids it should cancel.

import type { Delivery, ExecuteRequest, CommandRecord } from '../protocol/wire.ts';
import type { ServerContext } from './context.ts';
import type { AgentRow } from './store/store.ts';

/** Commands handed out per answer; the rest come with the next one. */
const BATCH = 100;
/** A command for a web-mode agent goes by heartbeat once its push failed, or after this long unpushed. */
const PUSH_GRACE_MS = 10_000;

/**
 * `channel`: a long poll (poll mode) takes every queued command; a heartbeat takes them for a
 * poll-mode agent, and for a web-mode agent only as the fallback of pushes that did not happen.
 */
export async function deliveryFor(ctx: ServerContext, agent: AgentRow, channel: 'poll' | 'heartbeat'): Promise<Delivery> {
  const now = Date.now();
  const fallbackOnly = channel === 'heartbeat' && agent.mode === 'web' && ctx.dispatcher.health(agent).state !== 'failing'
    ? { queuedBefore: new Date(now - PUSH_GRACE_MS).toISOString() }
    : undefined;
  const claimed = await ctx.store.claimForAgent(
    agent.id, new Date(now).toISOString(), new Date(now + ctx.options.leaseSeconds * 1000).toISOString(), BATCH, fallbackOnly,
  );
  return { commands: claimed.map(toExecute), cancel: await ctx.store.pendingCancels(agent.id) };
}

export function isEmpty(d: Delivery): boolean {
  return d.commands.length === 0 && d.cancel.length === 0;
}

function toExecute(c: CommandRecord): ExecuteRequest {
  return {
    command_id: c.id, command: c.command, args: c.args, timeout: c.timeout,
    ...(c.env ? { env: c.env } : {}),
    ...(c.cwd ? { cwd: c.cwd } : {}),
  };
}

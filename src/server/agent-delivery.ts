// What the control plane hands an agent when it asks (heartbeat reply or long poll): its queued
// commands, claimed under a lease, and the ids it should cancel.

import type { Delivery, ExecuteRequest, CommandRecord } from '../protocol/wire.ts';
import type { ServerContext } from './context.ts';

/** Commands handed out per answer; the rest come with the next one. */
const BATCH = 100;

export async function deliveryFor(ctx: ServerContext, agentId: string): Promise<Delivery> {
  const now = Date.now();
  const claimed = await ctx.store.claimForAgent(
    agentId, new Date(now).toISOString(), new Date(now + ctx.options.leaseSeconds * 1000).toISOString(), BATCH,
  );
  return { commands: claimed.map(toExecute), cancel: await ctx.store.pendingCancels(agentId) };
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

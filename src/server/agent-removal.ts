// `myx agents remove`: the agent's token stops working and its unfinished commands end, while
// every record stays. The store does the removal in one step (see Store.removeAgent), and its
// events tell waiting clients and the agent's held long poll, on every replica; this module moves
// the runs on and asks the agent itself to stop what it runs (a cancel push).

import type { AuditDraft } from '../protocol/audit.ts';
import { ApiError } from '../protocol/errors.ts';
import type { RemoveAgentResponse } from '../protocol/wire.ts';
import type { ServerContext } from './context.ts';

/** `audit`: the request's entry, appended in the removal's own transaction. */
export async function removeAgent(ctx: ServerContext, agentId: string, audit?: AuditDraft): Promise<RemoveAgentResponse> {
  const outcome = await ctx.store.removeAgent(agentId, new Date().toISOString(), audit);
  if (outcome.kind === 'not_found') throw new ApiError('AGENT_NOT_FOUND', `no agent with id "${agentId}" (removed already?)`);
  const { agent, ended, handedOut } = outcome;
  ctx.versions.forget(agent.id);
  // Rate control starts the next commands of their runs.
  for (const c of ended) await ctx.runs.commandEnded(c);
  // A web-mode agent is asked to stop what it runs now, with the token it had; any agent stops its
  // commands itself when it is next told it was removed (heartbeat, every few seconds).
  const pushed = await Promise.all(handedOut.map((id) => ctx.dispatcher.pushCancel(agent, id)));
  ctx.agentClient.forget(agent.id);
  const body: RemoveAgentResponse = {
    removed: agent.id, name: agent.name, cancelled: ended.length, running: handedOut.length, cancel_pushed: pushed.filter(Boolean).length,
  };
  ctx.log.info(
    { agent_id: agent.id, agent: agent.name, cancelled: body.cancelled, running: body.running, cancel_pushed: body.cancel_pushed },
    'agent removed: its token no longer works and its unfinished commands are cancelled',
  );
  return body;
}

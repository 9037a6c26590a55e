// Choosing agents: the targets of a run (named, by labels, or all) and agents named by the operator.

import { ApiError } from '../protocol/errors.ts';
import type { Targets } from '../protocol/wire.ts';
import type { AgentRow } from './store/store.ts';

/** The agents a run targets, and a description of how they were chosen. */
export function selectTargets(all: AgentRow[], t: Targets): { agents: AgentRow[]; description: string } {
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
export function resolveAgents(all: AgentRow[], wanted: string[]): AgentRow[] {
  const out = new Map<string, AgentRow>();
  for (const w of wanted) {
    const agent = all.find((a) => a.id === w) ?? all.find((a) => a.name === w);
    if (!agent) throw new ApiError('AGENT_NOT_FOUND', `no agent with name or id "${w}" (see \`myx agents\`)`);
    out.set(agent.id, agent);
  }
  return [...out.values()];
}

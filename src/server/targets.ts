// Choosing agents: the targets of a run (named, by labels, or all) and agents named by the operator,
// among the agents the caller sees (scope.ts): `all` is all of those, and a target outside them is
// refused, never dropped silently.

import { ApiError } from '../protocol/errors.ts';
import { scopeText } from '../protocol/roles.ts';
import type { Labels, Targets } from '../protocol/wire.ts';
import { effectiveLabels } from './scope.ts';
import type { AgentRow } from './store/store.ts';

/**
 * The agents a run targets among `visible` (the caller's, see scope.ts), and a description of how
 * they were chosen. `scope`: the caller's, for its messages (null: unscoped). A label selector that
 * contradicts the scope (env=prod in env=staging) is TARGET_OUT_OF_SCOPE; a name the caller does not
 * see is AGENT_NOT_FOUND, whether the agent is elsewhere or nowhere.
 */
export function selectTargets(visible: AgentRow[], t: Targets, scope: Labels | null = null): { agents: AgentRow[]; description: string } {
  const ways = [t.all === true, (t.agents?.length ?? 0) > 0, t.labels !== undefined].filter(Boolean).length;
  if (ways !== 1) throw new ApiError('BAD_REQUEST', 'choose targets one way: named agents, labels, or all');
  const where = scope ? ` in your scope (${scopeText(scope)})` : '';
  if (t.all) {
    if (visible.length === 0) {
      throw new ApiError('NO_TARGETS', scope ? `no agent${where} is enrolled` : 'no agents are enrolled yet; enroll one with `myx token create`');
    }
    return { agents: visible, description: 'all' };
  }
  if (t.labels) {
    const wanted = Object.entries(t.labels);
    const description = `label ${wanted.map(([k, v]) => `${k}=${v}`).join(',')}`;
    const clash = scope ? wanted.filter(([k, v]) => scope[k] !== undefined && scope[k] !== v) : [];
    if (clash.length > 0) {
      throw new ApiError('TARGET_OUT_OF_SCOPE', `${clash.map(([k, v]) => `${k}=${v}`).join(',')} is outside your scope (${scopeText(scope!)}): you may target only agents with ${scopeText(scope!)}`);
    }
    const agents = visible.filter((a) => {
      const labels = effectiveLabels(a);
      return wanted.every(([k, v]) => labels[k] === v);
    });
    if (agents.length === 0) throw new ApiError('NO_TARGETS', `no agent${where} carries ${description.slice(6)} (see \`myx agents\`)`);
    return { agents, description };
  }
  const agents = resolveAgents(visible, t.agents!, where);
  return { agents, description: `agents ${agents.map((a) => a.name).join(',')}` };
}

/** Finds agents by id or name among `all`; an unknown one is an error naming it (`where`: e.g. ` in your scope (env=staging)`). */
export function resolveAgents(all: AgentRow[], wanted: string[], where = ''): AgentRow[] {
  const out = new Map<string, AgentRow>();
  for (const w of wanted) {
    const agent = all.find((a) => a.id === w) ?? all.find((a) => a.name === w);
    if (!agent) throw new ApiError('AGENT_NOT_FOUND', `no agent with name or id "${w}"${where} (see \`myx agents\`)`);
    out.set(agent.id, agent);
  }
  return [...out.values()];
}

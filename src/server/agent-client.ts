// The control plane's HTTPS client to agents' web services: one keep-alive pool per agent,
// pinned to the fingerprint the agent reported over its authenticated channel.

import type { Agent } from 'undici';
import { createPinnedDispatcher } from '../common/pinned-dispatcher.ts';
import { requestJson } from '../common/json-client.ts';
import type { ExecuteRequest, ExecuteResponse } from '../protocol/wire.ts';
import type { AgentRow } from './store/store.ts';
import { urlHost } from './options.ts';

interface Pool {
  fingerprint: string;
  dispatcher: Agent;
}

export class AgentClient {
  readonly #pools = new Map<string, Pool>();
  readonly #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Where a push to this agent goes, or why it cannot go anywhere. */
  static target(agent: AgentRow): { url: string } | { reason: string } {
    if (agent.mode !== 'web') return { reason: 'agent is in poll mode' };
    if (!agent.web_port || !agent.fingerprint) return { reason: 'agent has not reported its web port and certificate' };
    const address = agent.advertise_address ?? agent.remote_address;
    if (!address) return { reason: 'agent address unknown' };
    return { url: `https://${urlHost(address)}:${agent.web_port}` };
  }

  async execute(agent: AgentRow, url: string, body: ExecuteRequest): Promise<ExecuteResponse> {
    const res = await requestJson<ExecuteResponse>({
      method: 'POST',
      url: `${url}/api/execute`,
      dispatcher: this.#poolFor(agent),
      headers: { 'x-agent-token': agent.token },
      body,
      timeoutMs: this.#timeoutMs,
    });
    return res.body;
  }

  async cancel(agent: AgentRow, url: string, commandId: string): Promise<void> {
    await requestJson({
      method: 'POST',
      url: `${url}/api/commands/${encodeURIComponent(commandId)}/cancel`,
      dispatcher: this.#poolFor(agent),
      headers: { 'x-agent-token': agent.token },
      timeoutMs: this.#timeoutMs,
    });
  }

  /** Drops the pool of an agent whose certificate or enrollment changed. */
  forget(agentId: string): void {
    const pool = this.#pools.get(agentId);
    if (pool) void pool.dispatcher.close().catch(() => {});
    this.#pools.delete(agentId);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.dispatcher.destroy().catch(() => {})));
    this.#pools.clear();
  }

  #poolFor(agent: AgentRow): Agent {
    const fingerprint = agent.fingerprint!;
    const existing = this.#pools.get(agent.id);
    if (existing && existing.fingerprint === fingerprint) return existing.dispatcher;
    this.forget(agent.id);
    const dispatcher = createPinnedDispatcher({ fingerprint, connections: 4 });
    this.#pools.set(agent.id, { fingerprint, dispatcher });
    return dispatcher;
  }
}

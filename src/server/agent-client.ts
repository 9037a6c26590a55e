// The control plane's HTTPS client to agents' web services: one keep-alive pool per agent,
// pinned to the fingerprint the agent reported over its authenticated channel, presenting the
// control plane's own certificate (mutual TLS).

import { PinnedPool } from '../common/pinned-pool.ts';
import { requestJson } from '../common/json-client.ts';
import type { ExecuteRequest, ExecuteResponse } from '../protocol/wire.ts';
import type { PushMetrics } from './metrics.ts';
import type { AgentRow } from './store/store.ts';
import { urlHost } from './options.ts';

interface Pool {
  fingerprint: string;
  connections: PinnedPool;
}

export class AgentClient {
  readonly #pools = new Map<string, Pool>();
  readonly #timeoutMs: number;
  readonly #identity: { certPem: string; keyPem: string };
  readonly #metrics: PushMetrics | undefined;

  /** `identity`: the control plane's own certificate, presented to agents (they accept pushes only with it). */
  constructor(timeoutMs: number, identity: { certPem: string; keyPem: string }, metrics?: PushMetrics) {
    this.#timeoutMs = timeoutMs;
    this.#identity = identity;
    this.#metrics = metrics;
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
    const started = performance.now();
    try {
      const res = await requestJson<ExecuteResponse>({
        method: 'POST',
        url: `${url}/api/execute`,
        pool: this.#poolFor(agent),
        headers: { 'x-agent-token': agent.token },
        body,
        timeoutMs: this.#timeoutMs,
      });
      this.#metrics?.pushed(started);
      return res.body;
    } catch (err) {
      this.#metrics?.pushed(started, err);
      throw err;
    }
  }

  async cancel(agent: AgentRow, url: string, commandId: string): Promise<void> {
    await requestJson({
      method: 'POST',
      url: `${url}/api/commands/${encodeURIComponent(commandId)}/cancel`,
      pool: this.#poolFor(agent),
      headers: { 'x-agent-token': agent.token },
      timeoutMs: this.#timeoutMs,
    });
  }

  /** Drops the pool of an agent whose certificate or enrollment changed. */
  forget(agentId: string): void {
    const pool = this.#pools.get(agentId);
    pool?.connections.destroy();
    this.#pools.delete(agentId);
  }

  async close(): Promise<void> {
    for (const p of this.#pools.values()) p.connections.destroy();
    this.#pools.clear();
  }

  #poolFor(agent: AgentRow): PinnedPool {
    const fingerprint = agent.fingerprint!;
    const existing = this.#pools.get(agent.id);
    if (existing && existing.fingerprint === fingerprint) return existing.connections;
    this.forget(agent.id);
    const connections = new PinnedPool({ fingerprint, connections: 4, clientCertificate: this.#identity });
    this.#pools.set(agent.id, { fingerprint, connections });
    return connections;
  }
}

// The agent's HTTPS client to the control plane, pinned to the fingerprint from the enrollment
// token. Every call after enrollment carries the agent token.

import type { IncomingMessage } from 'node:http';
import { openStream, RequestFailedError, requestJson } from '../common/json-client.ts';
import { PinnedPool } from '../common/pinned-pool.ts';
import type {
  CommandResult, HeartbeatRequest, HeartbeatResponse, PollResponse, ProgressAck, ProgressRequest, RegisterRequest,
  RegisterResponse, ResultAck,
} from '../protocol/wire.ts';

/**
 * How often a removed agent asks again (heartbeat, poll, results): rarely, since only an operator
 * restoring the control plane's database could make its token work again.
 */
export const REMOVED_RETRY_MS = 5 * 60_000;

/** The control plane says this agent was removed (`myx agents remove`): its token will not work again. */
export function agentRemoved(err: unknown): boolean {
  return err instanceof RequestFailedError && err.code === 'AGENT_REMOVED';
}

export class ControlClient {
  readonly #url: string;
  readonly #token: string;
  readonly #pool: PinnedPool;

  constructor(serverUrl: string, serverFingerprint: string, agentToken: string) {
    this.#url = serverUrl;
    this.#token = agentToken;
    this.#pool = new PinnedPool({ fingerprint: serverFingerprint, connections: 4 });
  }

  static async register(serverUrl: string, serverFingerprint: string, body: RegisterRequest): Promise<RegisterResponse> {
    const pool = new PinnedPool({ fingerprint: serverFingerprint, connections: 1 });
    try {
      const res = await requestJson<RegisterResponse>({ method: 'POST', url: `${serverUrl}/api/agents/register`, pool, body });
      return res.body;
    } finally {
      pool.destroy();
    }
  }

  async heartbeat(body: HeartbeatRequest): Promise<HeartbeatResponse> {
    return (await this.#post<HeartbeatResponse>('/api/agents/heartbeat', body)).body;
  }

  async sendResult(commandId: string, result: CommandResult): Promise<ResultAck> {
    return (await this.#post<ResultAck>(`/api/agents/commands/${encodeURIComponent(commandId)}/result`, result, 30_000)).body;
  }

  async progress(commandId: string, report: ProgressRequest): Promise<ProgressAck> {
    return (await this.#post<ProgressAck>(`/api/agents/commands/${encodeURIComponent(commandId)}/progress`, report, 30_000)).body;
  }

  /** Long poll: answers as soon as there is something for this agent, or after `waitSeconds`. */
  async poll(waitSeconds: number): Promise<PollResponse> {
    const res = await requestJson<PollResponse>({
      method: 'GET', url: `${this.#url}/api/agents/poll?wait=${waitSeconds}`, pool: this.#pool,
      headers: { 'x-agent-token': this.#token }, timeoutMs: (waitSeconds + 10) * 1000,
    });
    return res.body;
  }

  /** A download from the control plane's release (`/downloads/...`), over the same pinned connections; the caller reads it. */
  async openDownload(path: string): Promise<IncomingMessage> {
    return openStream({ url: this.#url + path, pool: this.#pool, timeoutMs: 60_000 }, 'application/octet-stream');
  }

  async close(): Promise<void> {
    this.#pool.destroy();
  }

  #post<T>(path: string, body: unknown, timeoutMs = 10_000) {
    return requestJson<T>({
      method: 'POST', url: this.#url + path, pool: this.#pool, headers: { 'x-agent-token': this.#token }, body, timeoutMs,
    });
  }
}

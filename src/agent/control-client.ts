// The agent's HTTPS client to the control plane, pinned to the fingerprint from the enrollment
// token. Every call after enrollment carries the agent token. Calls go to the control plane's
// URLs (its replicas) through ServerUrls: every agent call may be resent to another replica
// (results and output are idempotent writes, a hand-out that never arrived is given back).

import type { IncomingMessage } from 'node:http';
import { openStream, RequestFailedError, requestJson } from '../common/json-client.ts';
import { PinnedPool } from '../common/pinned-pool.ts';
import { ServerUrls, type UrlSwitch } from '../common/server-urls.ts';
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
  readonly #urls: ServerUrls;
  readonly #token: string;
  readonly #pool: PinnedPool;

  /** `serverUrls`: the control plane's URLs, the first tried first; `onSwitch` hears each move to another. */
  constructor(serverUrls: string[], serverFingerprint: string, agentToken: string, onSwitch?: (s: UrlSwitch) => void) {
    this.#urls = new ServerUrls(serverUrls, onSwitch);
    this.#token = agentToken;
    // a few connections per replica: calls move between them
    this.#pool = new PinnedPool({ fingerprint: serverFingerprint, connections: 4 });
  }

  /**
   * Enrollment: the one-time token is used up by the first replica that reads it, so the request
   * goes to the next URL only when it surely reached none. Returns the answer and the URL that gave it.
   */
  static async register(serverUrls: string[], serverFingerprint: string, body: RegisterRequest): Promise<RegisterResponse & { url: string }> {
    const pool = new PinnedPool({ fingerprint: serverFingerprint, connections: 1 });
    try {
      return await new ServerUrls(serverUrls).call(async (url) => {
        const res = await requestJson<RegisterResponse>({ method: 'POST', url: `${url}/api/agents/register`, pool, body, sendOnce: true });
        return { ...res.body, url };
      }, 'unsent');
    } finally {
      pool.destroy();
    }
  }

  /** The URLs calls go to, the current one first. */
  get urls(): readonly string[] {
    return this.#urls.urls;
  }

  get currentUrl(): string {
    return this.#urls.current;
  }

  /** Replaces the URLs (enrolled and learned); the current one stays current while listed. */
  setUrls(urls: string[]): void {
    this.#urls.replace(urls);
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
    return this.#urls.call(async (url) => (await requestJson<PollResponse>({
      method: 'GET', url: `${url}/api/agents/poll?wait=${waitSeconds}`, pool: this.#pool,
      headers: { 'x-agent-token': this.#token }, timeoutMs: (waitSeconds + 10) * 1000,
    })).body, 'idempotent');
  }

  /** A download from the control plane's release (`/downloads/...`), over the same pinned connections; the caller reads it. */
  async openDownload(path: string): Promise<IncomingMessage> {
    return this.#urls.call((url) => openStream({ url: url + path, pool: this.#pool, timeoutMs: 60_000 }, 'application/octet-stream'), 'idempotent');
  }

  async close(): Promise<void> {
    this.#pool.destroy();
  }

  #post<T>(path: string, body: unknown, timeoutMs = 10_000) {
    return this.#urls.call((url) => requestJson<T>({
      method: 'POST', url: url + path, pool: this.#pool, headers: { 'x-agent-token': this.#token }, body, timeoutMs,
    }), 'idempotent');
  }
}

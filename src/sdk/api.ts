// The control plane's operator API, one method per endpoint, with the wire types: the one client
// the SDK (client.ts) and the CLI are built on. Pinned TLS (the certificate's fingerprint, like SSH
// known_hosts) and failover across replicas: a call that failed on one replica goes to the next when
// that cannot do anything twice (reads, waits and other calls that may be repeated on any failure of
// the replica; calls that create something only when they surely reached no replica: ServerUrls).
// Every failure is a MyxError.

import { openStream, requestJson } from '../common/json-client.ts';
import { PinnedPool } from '../common/pinned-pool.ts';
import { ServerUrls, type Resend, type UrlSwitch } from '../common/server-urls.ts';
import type {
  AddOperatorRequest, AgentListResponse, AgentView, AuditResponse, AuditVerifyResponse, CommandRecord, CommandsResponse, CreateRunRequest,
  EnrollmentTokenResponse, EnrollmentTokenView, OperatorsResponse, OperatorTokenResponse, OperatorView, OutputPage, OutputStream, RemoveAgentResponse,
  RemoveOperatorResponse, ReplicasResponse, ReplicaView, RevokeEnrollmentTokenResponse, RunBriefResponse, RunRecord, RunResponse, SessionView,
  UpgradeAgentsRequest, UpgradeAgentsResponse, WaitResponse, AddWebhookRequest, AddWebhookResponse, RemoveWebhookResponse, WebhookDeliveriesResponse,
  WebhookDeliveryView, WebhooksResponse, WebhookView,
} from '../protocol/wire.ts';
import type { Connection } from './connection.ts';
import { MyxError } from './errors.ts';
import { readEvents, type SseEvent } from './event-stream.ts';

export type { Connection } from './connection.ts';
export type { SseEvent } from './event-stream.ts';

/** What a cancel did: `cancelled` before it was delivered, a cancel `requested` of its agent, or the command was `final` already. */
export interface CancelResponse {
  command: CommandRecord;
  outcome: 'cancelled' | 'requested' | 'final';
}

export interface MyxApiOptions {
  /** Told each time calls move to another replica's URL (the one before failed). */
  onSwitch?: (s: UrlSwitch) => void;
}

export class MyxApi {
  readonly #conn: Connection;
  readonly #pool: PinnedPool;
  readonly #urls: ServerUrls;

  constructor(conn: Connection, opts: MyxApiOptions = {}) {
    this.#conn = conn;
    this.#pool = new PinnedPool({ fingerprint: conn.fingerprint, connections: 2 });
    this.#urls = new ServerUrls(conn.urls, opts.onSwitch);
  }

  /** The URL calls go to first (the one that answered last). */
  get url(): string {
    return this.#urls.current;
  }

  /** Enrolled agents, or (`removed`) the removed ones. */
  async agents(removed = false): Promise<AgentView[]> {
    return (await this.agentList(removed)).agents;
  }

  /** The agents and the control plane's version (which they are compared with). */
  async agentList(removed = false): Promise<AgentListResponse> {
    return this.#call<AgentListResponse>('GET', `/api/agents${removed ? '?removed=true' : ''}`);
  }

  /** Starts a run that upgrades the targets to the release's agent binary. */
  async upgradeAgents(req: UpgradeAgentsRequest): Promise<UpgradeAgentsResponse> {
    return this.#call('POST', '/api/agents/upgrade', req, 60_000, 'unsent');
  }

  async removeAgent(nameOrId: string): Promise<RemoveAgentResponse> {
    // cancel pushes to the agent's web service happen within the request
    return this.#call('DELETE', `/api/agents/${encodeURIComponent(nameOrId)}`, undefined, 30_000, 'unsent');
  }

  async createEnrollmentToken(ttlSeconds: number): Promise<EnrollmentTokenResponse> {
    return this.#call('POST', '/api/enrollment-tokens', { ttl_seconds: ttlSeconds }, undefined, 'unsent');
  }

  async enrollmentTokens(limit: number): Promise<EnrollmentTokenView[]> {
    return (await this.#call<{ tokens: EnrollmentTokenView[] }>('GET', `/api/enrollment-tokens?limit=${limit}`)).tokens;
  }

  async revokeEnrollmentToken(id: string): Promise<RevokeEnrollmentTokenResponse> {
    return this.#call('DELETE', `/api/enrollment-tokens/${encodeURIComponent(id)}`, undefined, undefined, 'unsent');
  }

  async createRun(req: CreateRunRequest): Promise<RunResponse> {
    return this.#call('POST', '/api/runs', req, 60_000, 'unsent'); // a run on thousands of agents is a big answer
  }

  /**
   * Creates a run and lists its commands as id, agent and status only; their records come with
   * runEvents. (A control plane from before `?commands=brief` answers with whole records: they fit.)
   */
  async createRunBrief(req: CreateRunRequest): Promise<RunBriefResponse> {
    return this.#call('POST', '/api/runs?commands=brief', req, 60_000, 'unsent');
  }

  /** Creates a run and returns just its commands. */
  async createCommands(req: CreateRunRequest): Promise<CommandRecord[]> {
    return (await this.createRun(req)).commands;
  }

  /** One run and its commands (`output: 'head'`: each command's stdout and stderr cut to their first 2,000 characters). */
  async getRun(id: string, output?: 'full' | 'head'): Promise<RunResponse> {
    return this.#call('GET', `/api/runs/${encodeURIComponent(id)}${output ? `?output=${output}` : ''}`);
  }

  async replicas(): Promise<ReplicaView[]> {
    return (await this.#call<ReplicasResponse>('GET', '/api/replicas')).replicas;
  }

  async runs(limit: number): Promise<RunRecord[]> {
    return (await this.#call<{ runs: RunRecord[] }>('GET', `/api/runs?limit=${limit}`)).runs;
  }

  async setLabels(nameOrId: string, set: Record<string, string>, remove: string[]): Promise<{ labels: Record<string, string> }> {
    return this.#call('POST', `/api/agents/${encodeURIComponent(nameOrId)}/labels`, { set, remove });
  }

  async command(id: string): Promise<CommandRecord> {
    return this.#call('GET', `/api/commands/${encodeURIComponent(id)}`);
  }

  async wait(ids: string[], timeoutSeconds: number): Promise<WaitResponse> {
    return this.#call('POST', '/api/commands/wait', { ids, timeout: timeoutSeconds }, (timeoutSeconds + 15) * 1000);
  }

  async cancel(id: string): Promise<CancelResponse> {
    return this.#call('POST', `/api/commands/${encodeURIComponent(id)}/cancel`);
  }

  async commands(filter: { agent?: string; status?: string; limit?: number }): Promise<CommandRecord[]> {
    const q = new URLSearchParams();
    if (filter.agent) q.set('agent', filter.agent);
    if (filter.status) q.set('status', filter.status);
    if (filter.limit) q.set('limit', String(filter.limit));
    return (await this.#call<CommandsResponse>('GET', `/api/commands?${q}`)).commands;
  }

  /** Who this client is (`via: 'token'`, with its operator's name, role and scope). */
  async session(): Promise<SessionView> {
    return this.#call('GET', '/api/session');
  }

  async operators(): Promise<OperatorView[]> {
    return (await this.#call<OperatorsResponse>('GET', '/api/operators')).operators;
  }

  async addOperator(req: AddOperatorRequest): Promise<OperatorTokenResponse> {
    return this.#call('POST', '/api/operators', req, undefined, 'unsent'); // prints a token once: never sent twice
  }

  async removeOperator(name: string): Promise<RemoveOperatorResponse> {
    return this.#call('DELETE', `/api/operators/${encodeURIComponent(name)}`, undefined, undefined, 'unsent');
  }

  async rotateOperator(name: string): Promise<OperatorTokenResponse> {
    return this.#call('POST', `/api/operators/${encodeURIComponent(name)}/rotate`, undefined, undefined, 'unsent'); // a second rotation would void the token printed
  }

  /** A page of the audit log (`after`: the seq to go on from). */
  async audit(filter: { since?: string; operator?: string; action?: string; after?: number; limit?: number }): Promise<AuditResponse> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, String(v));
    return this.#call('GET', `/api/audit?${q}`);
  }

  /** Adds a webhook (admins); the answer carries its secret when the control plane made it, this once. */
  async addWebhook(req: AddWebhookRequest): Promise<AddWebhookResponse> {
    return this.#call('POST', '/api/webhooks', req, undefined, 'unsent'); // a generated secret is shown once: never sent twice
  }

  async webhooks(): Promise<WebhookView[]> {
    return (await this.#call<WebhooksResponse>('GET', '/api/webhooks')).webhooks;
  }

  async removeWebhook(id: string): Promise<RemoveWebhookResponse> {
    return this.#call('DELETE', `/api/webhooks/${encodeURIComponent(id)}`, undefined, undefined, 'unsent');
  }

  /** A webhook's deliveries, newest first. */
  async webhookDeliveries(id: string, limit = 50): Promise<WebhookDeliveryView[]> {
    return (await this.#call<WebhookDeliveriesResponse>('GET', `/api/webhooks/${encodeURIComponent(id)}/deliveries?limit=${limit}`)).deliveries;
  }

  async auditVerify(): Promise<AuditVerifyResponse> {
    return this.#call('GET', '/api/audit/verify', undefined, 300_000);
  }

  /**
   * Live output and final records of `ids` (Server-Sent Events), replayed from the start or from
   * `from` (per id, bytes as printed); `output: false` for the final records alone; `statuses:
   * 'all'` adds a `status` event (the record) for every change of a command's status. The stream is
   * opened on the first replica that takes it; the caller opens it again when it is cut.
   */
  async *events(ids: string[], opts: { from?: number[]; output?: boolean; statuses?: 'final' | 'all' } = {}): AsyncGenerator<SseEvent> {
    const q = new URLSearchParams({ ids: ids.join(',') });
    if (opts.from && opts.from.some((n) => n > 0)) q.set('from', opts.from.join(','));
    if (opts.output === false) q.set('output', 'none');
    if (opts.statuses === 'all') q.set('statuses', 'all');
    yield* this.#stream(`/api/commands/stream?${q}`);
  }

  /** Server-Sent Events from `path`, opened on the first replica that takes it. */
  async *#stream(path: string): AsyncGenerator<SseEvent> {
    const headers = { authorization: `Bearer ${this.#conn.token}` };
    // the server pings every 15 s, so 45 s of silence means the connection is gone
    let res;
    try {
      res = await this.#urls.call((url) => openStream({ url: `${url}${path}`, pool: this.#pool, headers, timeoutMs: 45_000 }), 'idempotent');
    } catch (err) {
      throw MyxError.from(err);
    }
    try {
      yield* readEvents(res);
    } catch (err) {
      throw MyxError.from(err);
    }
  }

  /**
   * A run's commands as events (GET /api/runs/:id/stream): the final record of each that ended,
   * then of each as it ends (with `output`, the default, what each printed, from the start; with
   * `statuses: 'all'`, each change short of final too), then `end`.
   * Opened again after a cut, it sends the final records again: the caller keeps the first.
   */
  async *runEvents(runId: string, opts: { output?: boolean; statuses?: 'final' | 'all' } = {}): AsyncGenerator<SseEvent> {
    const q = new URLSearchParams();
    if (opts.output === false) q.set('output', 'none');
    if (opts.statuses === 'all') q.set('statuses', 'all');
    yield* this.#stream(`/api/runs/${encodeURIComponent(runId)}/stream${q.size ? `?${q}` : ''}`);
  }

  /** A page of a command's output (GET /api/commands/:id/output); `wait` holds the answer until there is more. */
  async output(id: string, q: { stream: OutputStream; offset?: number; limit?: number; tail?: number; wait?: number }): Promise<OutputPage> {
    const params = new URLSearchParams({ stream: q.stream });
    for (const k of ['offset', 'limit', 'tail', 'wait'] as const) if (q[k] !== undefined) params.set(k, String(q[k]));
    return this.#call('GET', `/api/commands/${encodeURIComponent(id)}/output?${params}`, undefined, ((q.wait ?? 0) + 30) * 1000);
  }

  async close(): Promise<void> {
    this.#pool.destroy();
  }

  /** `resend`: reads, waits, cancels and label changes may be repeated on another replica; what creates or removes something is `unsent`. */
  async #call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, timeoutMs?: number, resend: Resend = 'idempotent'): Promise<T> {
    try {
      return await this.#urls.call(async (url) => (await requestJson<T>({
        method, url: url + path, pool: this.#pool, body, sendOnce: resend === 'unsent',
        headers: { authorization: `Bearer ${this.#conn.token}` },
        ...(timeoutMs ? { timeoutMs } : {}),
      })).body, resend);
    } catch (err) {
      throw MyxError.from(err);
    }
  }
}

// The operator CLI's view of the control plane: where it is (flags, environment, or the data dir
// of a server on this host) and typed calls to its operator API. With several URLs (replicas), a
// call that failed on one replica goes to the next when that cannot do anything twice: reads,
// waits and other calls that may be repeated on any failure of the replica, calls that create
// something (a run, a token) only when they surely reached no replica (ServerUrls).

import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openStream, requestJson } from '../common/json-client.ts';
import { PinnedPool } from '../common/pinned-pool.ts';
import { ServerUrls, type Resend } from '../common/server-urls.ts';
import { normalizeFingerprint } from '../protocol/fingerprint.ts';
import { splitServerUrls } from '../protocol/server-urls.ts';
import type {
  AddOperatorRequest, AgentListResponse, AgentView, AuditResponse, AuditVerifyResponse, CommandRecord, CommandsResponse, CreateRunRequest,
  EnrollmentTokenResponse, EnrollmentTokenView, OperatorsResponse, OperatorTokenResponse, OperatorView, OutputPage, OutputStream, RemoveAgentResponse,
  RemoveOperatorResponse, ReplicasResponse, ReplicaView, RevokeEnrollmentTokenResponse, RunBriefResponse, RunRecord, RunResponse, SessionView,
  UpgradeAgentsRequest, UpgradeAgentsResponse, WaitResponse,
} from '../protocol/wire.ts';
import { env } from './env.ts';
import { readEvents, type SseEvent } from './event-stream.ts';
import { CliError } from './fail.ts';

export interface ConnectionFlags {
  dataDir?: string;
  server?: string;
  token?: string;
  fingerprint?: string;
}

export interface Connection {
  /** The control plane's URLs (replicas), tried in this order. */
  urls: string[];
  token: string;
  fingerprint: string;
}

/** Data dirs a server on this host is likely to use, in order: `myx server`'s default, then `myx up`'s. */
const LOCAL_DATA_DIRS = ['myx-data', join('.myx', 'server')];

export async function resolveConnection(f: ConnectionFlags): Promise<Connection> {
  const server = f.server ?? env.server;
  if (server) {
    const token = f.token ?? env.token;
    const fp = f.fingerprint ?? env.serverFingerprint;
    if (!token) throw new CliError('--server needs an operator token: --token TOKEN or MYX_TOKEN');
    if (!fp) throw new CliError('--server needs the control plane\'s certificate fingerprint: --fingerprint FP or MYX_SERVER_FINGERPRINT (printed when the server starts, and in DATA_DIR/server.json)');
    const fingerprint = normalizeFingerprint(fp);
    if (!fingerprint) throw new CliError(`"${fp}" is not a SHA-256 fingerprint (expected 64 hex digits, colons optional)`);
    return { urls: parseServerList(server), token, fingerprint };
  }
  const dataDir = f.dataDir ?? env.dataDir ?? LOCAL_DATA_DIRS.find((d) => existsSync(join(d, 'server.json')));
  if (!dataDir) {
    throw new CliError('cannot find the control plane: run beside it with --data-dir DIR (or MYX_DATA_DIR), or pass --server URL --token TOKEN --fingerprint FP');
  }
  const dir = resolve(dataDir);
  let info: { url: string; fingerprint: string };
  try {
    info = JSON.parse(await readFile(join(dir, 'server.json'), 'utf8')) as { url: string; fingerprint: string };
  } catch {
    throw new CliError(`${dir} holds no control plane (no readable server.json): start one with \`myx server --data-dir ${dataDir}\``);
  }
  let token: string;
  try {
    token = (await readFile(join(dir, 'operator.token'), 'utf8')).trim();
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied; run as the user that runs the server' : 'missing';
    throw new CliError(`cannot read the operator token ${join(dir, 'operator.token')} (${why})`);
  }
  return { urls: [info.url], token, fingerprint: info.fingerprint };
}

/**
 * `--server` / MYX_SERVER: one URL or several, separated by commas or blanks, so the URLs that
 * `myx replicas` prints can be pasted as they are ("(this one)" marks are left out).
 */
export function parseServerList(value: string): string[] {
  const split = splitServerUrls(value);
  if ('bad' in split) throw new CliError(`--server (or MYX_SERVER) takes URLs like https://HOST:PORT, several separated by commas; got "${split.bad}"`);
  if (split.urls.length === 0) throw new CliError('--server (or MYX_SERVER) needs the control plane\'s URL, like https://HOST:PORT');
  return split.urls;
}

export class OperatorClient {
  readonly #conn: Connection;
  readonly #pool: PinnedPool;
  readonly #urls: ServerUrls;

  constructor(conn: Connection) {
    this.#conn = conn;
    this.#pool = new PinnedPool({ fingerprint: conn.fingerprint, connections: 2 });
    this.#urls = new ServerUrls(conn.urls);
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

  async run(id: string): Promise<RunResponse> {
    return this.#call('GET', `/api/runs/${encodeURIComponent(id)}`);
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

  async cancel(id: string): Promise<{ command: CommandRecord; outcome: 'cancelled' | 'requested' | 'final' }> {
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

  async auditVerify(): Promise<AuditVerifyResponse> {
    return this.#call('GET', '/api/audit/verify', undefined, 300_000);
  }

  /**
   * Live output and final records of `ids` (Server-Sent Events), replayed from the start or from
   * `from` (per id, bytes as printed); `output: false` for the final records alone. The stream is
   * opened on the first replica that takes it; the caller opens it again when it is cut.
   */
  async *events(ids: string[], opts: { from?: number[]; output?: boolean } = {}): AsyncGenerator<SseEvent> {
    const q = new URLSearchParams({ ids: ids.join(',') });
    if (opts.from && opts.from.some((n) => n > 0)) q.set('from', opts.from.join(','));
    if (opts.output === false) q.set('output', 'none');
    const headers = { authorization: `Bearer ${this.#conn.token}` };
    // the server pings every 15 s, so 45 s of silence means the connection is gone
    const res = await this.#urls.call((url) => openStream({ url: `${url}/api/commands/stream?${q}`, pool: this.#pool, headers, timeoutMs: 45_000 }), 'idempotent');
    yield* readEvents(res);
  }

  /**
   * A run's commands as events (GET /api/runs/:id/stream): the final record of each that ended,
   * then of each as it ends (and, with `output`, what each printed, from the start), then `end`.
   * Opened again after a cut, it sends the final records again: the caller keeps the first.
   */
  async *runEvents(runId: string, opts: { output?: boolean } = {}): AsyncGenerator<SseEvent> {
    const q = opts.output ? '' : '?output=none';
    const headers = { authorization: `Bearer ${this.#conn.token}` };
    const res = await this.#urls.call((url) => openStream({ url: `${url}/api/runs/${encodeURIComponent(runId)}/stream${q}`, pool: this.#pool, headers, timeoutMs: 45_000 }), 'idempotent');
    yield* readEvents(res);
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
    return this.#urls.call(async (url) => (await requestJson<T>({
      method, url: url + path, pool: this.#pool, body, sendOnce: resend === 'unsent',
      headers: { authorization: `Bearer ${this.#conn.token}` },
      ...(timeoutMs ? { timeoutMs } : {}),
    })).body, resend);
  }
}

// The SDK's client: connect() to a control plane (pinned TLS, failover across its replicas) and
// work with its fleet from code: agents, runs you start and follow (RunHandle), commands and their
// output. Everything goes through the operator API with the operator token's role and scope, as
// the CLI and the console do. `api` is the endpoint-by-endpoint client underneath.

import { OUTPUT_PAGE_MAX } from '../protocol/schemas.ts';
import type { CommandStatus } from '../protocol/command-status.ts';
import type { AgentView, CommandRecord, CreateRunRequest, OutputPage, OutputStream, RunRecord, RunResponse } from '../protocol/wire.ts';
import { MyxApi, type CancelResponse, type MyxApiOptions } from './api.ts';
import { resolveConnectOptions, type ConnectOptions, type Connection } from './connection.ts';
import { RunHandle } from './run-handle.ts';
import { untilDone, type AbortSignalLike } from './retry.ts';

/** A run to start: the API's run request (snake_case, checked by the control plane) with its limits in camelCase. */
export type RunSpec = Omit<CreateRunRequest, 'max_concurrency' | 'max_errors'> & {
  /** Agents running it at once: a count, or `'10%'` of the targets. @default no limit */
  maxConcurrency?: number | `${number}%`;
  /** Start no new agent once this many commands failed (count or `'N%'`); the rest end `skipped`. @default no limit */
  maxErrors?: number | `${number}%`;
};

export interface CommandFilter {
  /** Only this agent's (name or id). */
  agent?: string;
  status?: CommandStatus;
  /** @default 50, at most 1000 */
  limit?: number;
}

export interface OutputPagesOptions {
  /** `stdout`, `stderr`, or `all` (both, as printed). @default 'all' */
  stream?: OutputStream;
  /** Byte offset to start from. @default 0 */
  offset?: number;
  /** Keep reading as the command prints, until it ends (waiting for more, reconnecting when the control plane is away). @default false */
  follow?: boolean;
  signal?: AbortSignalLike;
}

/** Connects to a control plane; nothing is sent until the first call. Throws MyxError CONNECT_OPTIONS_INVALID or DATA_DIR_UNREADABLE. */
export async function connect(options: ConnectOptions, advanced: MyxApiOptions = {}): Promise<MyxClient> {
  return new MyxClient(await resolveConnectOptions(options), advanced);
}

/** Seconds a following output page waits for more. */
const FOLLOW_WAIT_SECONDS = 25;

export class MyxClient {
  /** The operator API endpoint by endpoint (wire types), for what this class does not wrap. */
  readonly api: MyxApi;

  constructor(conn: Connection, advanced: MyxApiOptions = {}) {
    this.api = new MyxApi(conn, advanced);
  }

  /** The URL calls go to first (the replica that answered last). */
  get url(): string {
    return this.api.url;
  }

  /** The agents in the caller's scope: enrolled ones, or (`removed`) the removed ones. */
  async agents(opts: { removed?: boolean } = {}): Promise<AgentView[]> {
    return this.api.agents(opts.removed ?? false);
  }

  /**
   * Starts a run: one command per target agent (in the caller's scope; a target outside it is
   * refused, the run not created). Sent once: if the connection fails after the request may have
   * reached the control plane, it is not sent again (the MyxError says `reached`; look at `runs()`
   * before starting it again).
   */
  async run(spec: RunSpec): Promise<RunHandle> {
    const { maxConcurrency, maxErrors, ...rest } = spec;
    const req: CreateRunRequest = {
      ...rest,
      ...(maxConcurrency === undefined ? {} : { max_concurrency: String(maxConcurrency) }),
      ...(maxErrors === undefined ? {} : { max_errors: String(maxErrors) }),
    };
    return new RunHandle(this.api, await this.api.createRun(req));
  }

  /** A handle on a run started before (by anyone, from anywhere): follow it, wait for it, cancel it. */
  async attach(runId: string): Promise<RunHandle> {
    return new RunHandle(this.api, await this.api.getRun(runId));
  }

  /** Recent runs, newest first, with their counts. */
  async runs(opts: { limit?: number } = {}): Promise<RunRecord[]> {
    return this.api.runs(opts.limit ?? 20);
  }

  /** One run and its commands. */
  async getRun(id: string): Promise<RunResponse> {
    return this.api.getRun(id);
  }

  /** Recent commands, newest first. */
  async commands(filter: CommandFilter = {}): Promise<CommandRecord[]> {
    return this.api.commands(filter);
  }

  /** One command's record. */
  async command(id: string): Promise<CommandRecord> {
    return this.api.command(id);
  }

  /** Cancels one command: a queued one never starts, a running one is killed with its process group. */
  async cancel(commandId: string): Promise<CancelResponse> {
    return this.api.cancel(commandId);
  }

  /** One page of a command's output (byte offsets; `tail`: its last lines; `wait`: seconds to wait for more). */
  async output(id: string, q: { stream?: OutputStream; offset?: number; limit?: number; tail?: number; wait?: number } = {}): Promise<OutputPage> {
    return this.api.output(id, { stream: q.stream ?? 'all', ...q });
  }

  /**
   * A command's whole output as the control plane keeps it, page by page (1 MiB each); with
   * `follow`, then as it prints until it ends (`eof`), reconnecting while the control plane is away.
   */
  async *outputPages(id: string, opts: OutputPagesOptions = {}): AsyncGenerator<OutputPage, void, undefined> {
    const stream = opts.stream ?? 'all';
    let offset = opts.offset ?? 0;
    for (;;) {
      const ask = () => this.api.output(id, { stream, offset, limit: OUTPUT_PAGE_MAX, ...(opts.follow ? { wait: FOLLOW_WAIT_SECONDS } : {}) });
      const page = opts.follow ? await untilDone(ask, opts.signal) : await ask();
      yield page;
      offset = page.next_offset;
      if (page.eof || (!opts.follow && page.data.length === 0)) return;
    }
  }

  /** Closes the client's connections. */
  async close(): Promise<void> {
    await this.api.close();
  }
}

// A run as the SDK follows it: its commands' records as last seen, their output and status changes
// as they happen (events), the final records (wait), cancel. Both outlast the control plane going
// away: they reconnect (to another replica when its own died) and take up where they were, output
// by byte offset and records from the store, so nothing is lost or shown twice, and a final record
// is only ever read from the control plane's store, never assumed.

import { isFinal, type CommandStatus } from '../protocol/command-status.ts';
import type { CommandRecord, OutputEvent, RunRecord, RunResponse, StreamName } from '../protocol/wire.ts';
import type { CancelResponse, MyxApi } from './api.ts';
import { MyxError } from './errors.ts';
import { checkAborted, nextBackoff, pause, transient, untilDone, type AbortSignalLike } from './retry.ts';

/** What `events()` yields. */
export type RunEvent =
  /** Output of a command as it prints it: text (UTF-8), at `offset` in its output as printed (bytes, both streams). */
  | {
    type: 'output'; command_id: string; agent: string; stream: StreamName; data: string; offset: number;
    /** Where in its own stream `data` starts (bytes); past the control plane's --output-cap it jumps over what was not kept. */
    stream_offset?: number;
    /** How many bytes `data` stands for. */
    bytes?: number;
  }
  /** A command's status changed (the record as it is now); a final status is its final record. */
  | { type: 'status'; command: CommandRecord }
  /** Every command of the run is final: the final records, in the run's order. The last event. */
  | { type: 'end'; commands: CommandRecord[] }
  /** The connection to the control plane was lost; the run goes on, and events() reconnects by itself. */
  | { type: 'disconnected'; error: MyxError }
  /** Events flow again, from `url` (another replica's when its own is gone). */
  | { type: 'reconnected'; url: string };

export interface EventsOptions {
  /** Yield the commands' output as it arrives. @default true */
  output?: boolean;
  /** `all`: a `status` event for every change (queued, dispatched, running, final); `final`: final records only. @default 'all' */
  statuses?: 'all' | 'final';
  /** Stops the iteration (it throws MyxError ABORTED). */
  signal?: AbortSignalLike;
}

export interface WaitOptions {
  /** Stops waiting (it throws MyxError ABORTED); the run goes on. */
  signal?: AbortSignalLike;
}

/** Commands per wait request, at most (the API's limit). */
const WAIT_IDS_MAX = 10_000;
/** Seconds each wait request is held by the control plane. */
const WAIT_SECONDS = 25;
/** Past this many commands still going, a run is followed by its own stream, not by a list of ids (which must fit in a URL). */
const IDS_IN_URL = 200;
/** Cancels sent at once. */
const CANCELS_AT_ONCE = 8;

export class RunHandle {
  readonly #api: MyxApi;
  readonly #order: string[];
  readonly #records = new Map<string, CommandRecord>();
  #run: RunRecord;

  constructor(api: MyxApi, created: RunResponse) {
    this.#api = api;
    this.#run = created.run;
    this.#order = created.commands.map((c) => c.id);
    for (const c of created.commands) this.#records.set(c.id, c);
  }

  /** The run's id (`run_…`). */
  get id(): string {
    return this.#run.id;
  }

  /** The run's record as last read (counts change as it goes: `refresh()` reads it again). */
  get run(): RunRecord {
    return this.#run;
  }

  /** Its commands' records as last seen (one per target agent), in the run's order. */
  get commands(): CommandRecord[] {
    return this.#order.map((id) => this.#records.get(id)!);
  }

  /** Whether every command is final, as far as this handle has seen. */
  get done(): boolean {
    return this.commands.every((c) => isFinal(c.status));
  }

  /** Reads the run and its commands again. */
  async refresh(): Promise<RunResponse> {
    const res = await this.#api.getRun(this.id);
    this.#run = res.run;
    for (const c of res.commands) this.#note(c);
    return res;
  }

  /**
   * The run's events until every command is final: output as it arrives, status changes, then
   * `end` with the final records. Each call starts from the beginning of the output (the control
   * plane replays it), so two iterations both see all of it. When the connection is lost it yields
   * `disconnected`, reconnects (trying the control plane's other URLs), yields `reconnected` and
   * goes on where it was: no output twice, none missed. It throws only when the control plane
   * refuses the stream (a MyxError with its code: the token was revoked, the run is out of scope).
   */
  async *events(opts: EventsOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    const withOutput = opts.output ?? true;
    const statuses = opts.statuses ?? 'all';
    let ask = statuses; // what the stream is asked for: a control plane from before `statuses` takes final records only
    const names = new Map(this.commands.map((c) => [c.id, c.agent_name]));
    const next = new Map<string, number>(); // output shown, per command (bytes as printed)
    const shown = new Map<string, CommandStatus>(); // status last yielded, per command
    const ended = new Set<string>();
    const pending = () => this.#order.filter((id) => !ended.has(id));
    for (const c of this.commands) {
      // final before the stream even opens (created final): said at once
      if (isFinal(c.status)) {
        ended.add(c.id);
        shown.set(c.id, c.status);
        yield { type: 'status', command: c };
      }
    }
    let backoff = 0;
    let lost = false;
    let byRun = true; // a control plane from before run streams: by ids only
    while (pending().length > 0) {
      checkAborted(opts.signal);
      const ids = pending();
      try {
        // a few commands: by id, each from where its output was; many: the run's own stream, from
        // the start (what was shown already is skipped by offset and status, as after a reconnect)
        const stream = byRun && ids.length > IDS_IN_URL
          ? this.#api.runEvents(this.id, { output: withOutput, statuses: ask })
          : this.#api.events(ids, { output: withOutput, statuses: ask, from: ids.map((id) => next.get(id) ?? 0) });
        for await (const ev of stream) {
          checkAborted(opts.signal);
          if (lost) {
            lost = false;
            yield { type: 'reconnected', url: this.#api.url };
          }
          backoff = 0;
          if (ev.event === 'output') {
            const o = JSON.parse(ev.data) as OutputEvent;
            if (o.offset < (next.get(o.command_id) ?? 0)) continue; // replayed after a reconnect: shown already
            next.set(o.command_id, o.offset + (o.bytes ?? Buffer.byteLength(o.data)));
            yield {
              type: 'output', command_id: o.command_id, agent: names.get(o.command_id) ?? '', stream: o.stream, data: o.data, offset: o.offset,
              ...(o.stream_offset === undefined ? {} : { stream_offset: o.stream_offset }), ...(o.bytes === undefined ? {} : { bytes: o.bytes }),
            };
          } else if (ev.event === 'status' || ev.event === 'final') {
            const c = this.#note(JSON.parse(ev.data) as CommandRecord);
            if (isFinal(c.status)) ended.add(c.id);
            if (shown.get(c.id) === c.status || (statuses === 'final' && !isFinal(c.status))) continue;
            shown.set(c.id, c.status);
            yield { type: 'status', command: c };
          }
        }
      } catch (err) {
        if (byRun && ids.length > IDS_IN_URL && err instanceof MyxError && err.code === 'NOT_FOUND') {
          byRun = false;
          continue;
        }
        if (ask === 'all' && err instanceof MyxError && err.code === 'BAD_REQUEST' && /querystring/.test(err.message)) {
          ask = 'final'; // an older control plane: its changes short of final are not streamed, its final records are
          continue;
        }
        const e = transient(err);
        if (!lost) {
          lost = true;
          yield { type: 'disconnected', error: e };
        }
        backoff = nextBackoff(backoff);
        await pause(backoff, opts.signal);
      }
    }
    yield { type: 'end', commands: this.commands };
  }

  /**
   * Resolves with the final record of every command, in the run's order, once all are final. Each
   * record is read from the control plane's store. While the control plane is away (restarting,
   * failing over to another replica, the network cut) it keeps trying, backing off up to 5 s;
   * it throws only on an answer that says the wait itself is wrong (a MyxError: the token is no
   * longer valid, the run is out of the caller's scope), or when `signal` aborts.
   */
  async wait(opts: WaitOptions = {}): Promise<CommandRecord[]> {
    for (;;) {
      const open = this.commands.filter((c) => !isFinal(c.status)).map((c) => c.id);
      if (open.length === 0) return this.commands;
      const res = await untilDone(() => this.#api.wait(open.slice(0, WAIT_IDS_MAX), WAIT_SECONDS), opts.signal);
      for (const c of res.commands) this.#note(c);
    }
  }

  /**
   * Cancels every command of the run that has not ended: a queued one never starts, a running one
   * is killed with its process group (TERM, then KILL). Returns what each cancel did; `wait()`
   * then resolves once the agents have reported them.
   */
  async cancel(): Promise<CancelResponse[]> {
    const open = this.commands.filter((c) => !isFinal(c.status)).map((c) => c.id);
    const out: CancelResponse[] = [];
    let at = 0;
    await Promise.all(Array.from({ length: Math.min(CANCELS_AT_ONCE, open.length) }, async () => {
      while (at < open.length) {
        const res = await this.#api.cancel(open[at++]!);
        this.#note(res.command);
        out.push(res);
      }
    }));
    return out;
  }

  /** Keeps the newer of what was known and `c` (a final record is never replaced by an older one). */
  #note(c: CommandRecord): CommandRecord {
    const known = this.#records.get(c.id);
    if (!known) return c;
    if (isFinal(known.status) && !isFinal(c.status)) return known;
    this.#records.set(c.id, c);
    return c;
  }
}

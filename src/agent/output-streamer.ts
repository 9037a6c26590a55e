// The output of one running command, sent to the control plane as bytes per stream while it runs
// (`POST .../progress`, `pieces`). The first report says the command started and learns what the
// control plane keeps (`keep`): each stream's head is sent as it comes, and once a stream passes
// it only its last bytes are held and sent when it ends. Unacknowledged output is bounded: past a
// window the command's pipes are paused (it waits, as with a slow terminal), and when the control
// plane takes nothing for STALL_MS the command runs on and only its tail is kept from then on.
// Resends are harmless (idempotent by offset). A control plane that answers without `keep` (older)
// gets no output as it comes: the result carries its summary as before.

import type { Logger } from '../common/logger.ts';
import { OUTPUT_TAIL_MAX, PROGRESS_BATCH_BYTES, PROGRESS_CHUNKS_MAX } from '../protocol/limits.ts';
import { charStart, completeEnd } from '../protocol/utf8.ts';
import type { OutputKeep, ProgressAck, ProgressRequest, StreamName } from '../protocol/wire.ts';
import { agentRemoved } from './control-client.ts';
import { OutputQueue } from './output-queue.ts';
import { OutputTail } from './output-tail.ts';

export type SendProgress = (commandId: string, report: ProgressRequest) => Promise<ProgressAck>;

/** What pauses the command's output (its pipes) while too much waits to be sent. */
export interface OutputFlow {
  pauseOutput(): void;
  resumeOutput(): void;
}

const FLUSH_DELAY_MS = 50;
const MAX_RETRY_MS = 10_000;
/** Unacknowledged bytes held before the command is made to wait. */
export const WINDOW_BYTES = 4 * 1024 * 1024;
/** Held past this (a command that cannot wait: it exited and its pipes are drained), the heads end. */
const HARD_WINDOW_BYTES = 2 * WINDOW_BYTES;
/** A command kept waiting this long while the control plane takes nothing runs on: only its tail is kept from then on. */
export const STALL_MS = 30_000;
/** Once the command ended, its output is sent as long as the control plane takes some within this; then the result goes alone. */
const GIVE_UP_MS = 30_000;
/** While a stream is past its head, the sizes so far are sent this often. */
const TOTALS_EVERY_MS = 1000;
/** Acks in a row that take nothing of what was sent: the control plane will not take it (a gap it cannot fill). */
const FUTILE_ACKS_MAX = 3;

interface StreamState {
  /** Bytes read from the pipe. */
  seen: number;
  /** Bytes given positions (all but the end of a character whose rest has not come). */
  released: number;
  partial: Buffer;
  /** The head ended: later bytes go to the tail only. */
  cut: boolean;
  tail: OutputTail;
}

export class OutputStreamer {
  readonly #id: string;
  readonly #startedAt: string;
  readonly #send: SendProgress;
  readonly #onCancel: () => void;
  readonly #log: Logger;
  readonly #flow: OutputFlow | undefined;
  readonly #streams: Record<StreamName, StreamState> = { stdout: newStream(), stderr: newStream() };
  #at = 0;
  #keep: OutputKeep | null = null;
  readonly #pending = new OutputQueue();
  #started = false;
  /** Nothing more is sent but the start (an older control plane, a final command, a refusal). */
  #off = false;
  #paused = false;
  /** The heads were ended for good (stall): the command is not made to wait any more. */
  #stalled = false;
  #finishing = false;
  #tailsDue = false;
  #closed = false;
  #lastTaken = Date.now();
  #pausedAt = 0;
  #totalsSent = 0;
  #futile = 0;
  #timer: NodeJS.Timeout | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  #timerDue = 0;
  #sending: Promise<void> | undefined;
  #retryMs = 0;

  constructor(commandId: string, startedAt: string, send: SendProgress, onCancel: () => void, log: Logger, flow?: OutputFlow) {
    this.#id = commandId;
    this.#startedAt = startedAt;
    this.#send = send;
    this.#onCancel = onCancel;
    this.#log = log;
    this.#flow = flow;
    this.#schedule(0);
  }

  push(stream: StreamName, chunk: Buffer): void {
    if (this.#closed) return;
    const s = this.#streams[stream];
    s.seen += chunk.length;
    const data = s.partial.length > 0 ? Buffer.concat([s.partial, chunk]) : chunk;
    const end = completeEnd(data);
    s.partial = Buffer.from(data.subarray(end));
    this.#release(stream, data.subarray(0, end));
  }

  /** Sends what is left, the tails included, while the control plane takes it; then stops. */
  async finish(): Promise<void> {
    if (this.#closed || this.#finishing) return;
    this.#finishing = true;
    this.#resume();
    for (const name of ['stdout', 'stderr'] as const) {
      const s = this.#streams[name];
      const rest = s.partial;
      s.partial = Buffer.alloc(0);
      this.#release(name, rest);
    }
    this.#tailsDue = true;
    if (this.#keep) this.#enqueueTails();
    this.#lastTaken = Date.now();
    while (!this.#off && (this.#pending.length > 0 || !this.#started || this.#tailsDue) && Date.now() - this.#lastTaken < GIVE_UP_MS) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      await this.#flush();
      if (this.#pending.length > 0 || !this.#started) await new Promise((r) => setTimeout(r, this.#retryMs || 0));
    }
    if (this.#pending.length > 0) this.#log.warn({ command_id: this.#id, unsent_bytes: this.#pending.bytes }, 'the control plane took no output for a while: the result goes without the rest of it');
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#stallTimer);
  }

  #release(stream: StreamName, data: Buffer): void {
    if (data.length === 0) return;
    const s = this.#streams[stream];
    const offset = s.released;
    const at = this.#at;
    s.released += data.length;
    this.#at += data.length;
    if (this.#off) return;
    let room = s.cut ? 0 : Math.max(0, (this.#keep?.head_bytes ?? Infinity) - offset);
    if (room < data.length) room = charStart(data, room); // the head ends on a whole character
    if (room > 0) this.#pending.add(stream, offset, at, false, data.subarray(0, room));
    if (data.length > room) {
      s.cut = true;
      s.tail.push({ offset: offset + room, at: at + room, data: data.subarray(room) });
    }
    if (this.#pending.bytes > HARD_WINDOW_BYTES) this.#endHeads('output kept coming while the command could not be made to wait');
    else if (this.#pending.bytes > WINDOW_BYTES && !this.#paused && !this.#stalled && !this.#finishing && this.#flow) {
      this.#paused = true;
      this.#pausedAt = Date.now();
      this.#flow.pauseOutput();
      this.#watchStall();
    }
    this.#schedule(this.#pending.bytes >= PROGRESS_BATCH_BYTES ? 0 : room > 0 ? FLUSH_DELAY_MS : TOTALS_EVERY_MS);
  }

  /** The heads end here: the command is not made to wait any more, and its streams' tails are kept. */
  #endHeads(why: string): void {
    if (this.#stalled) return;
    this.#stalled = true;
    this.#streams.stdout.cut = this.#streams.stderr.cut = true;
    this.#resume();
    this.#log.warn({ command_id: this.#id }, `${why}: the command runs on, and only the last part of its output is kept from here`);
  }

  #resume(): void {
    clearTimeout(this.#stallTimer);
    if (!this.#paused) return;
    this.#paused = false;
    this.#flow?.resumeOutput();
  }

  /** While the command waits, checks that the control plane takes output; after STALL_MS of nothing, lets the command go. */
  #watchStall(): void {
    clearTimeout(this.#stallTimer);
    const since = () => Math.max(this.#lastTaken, this.#pausedAt);
    this.#stallTimer = setTimeout(() => {
      if (!this.#paused) return;
      if (Date.now() - since() >= STALL_MS) this.#endHeads(`the control plane took no output for ${STALL_MS / 1000} s`);
      else this.#watchStall();
    }, Math.max(0, STALL_MS - (Date.now() - since())) + 10);
  }

  /** The control plane said what it keeps: what is queued past a head goes to its tail instead. */
  #learn(keep: OutputKeep): void {
    this.#keep = keep;
    const over = this.#pending.cutHeads(keep.head_bytes);
    for (const name of ['stdout', 'stderr'] as const) {
      if (over[name].length > 0) this.#streams[name].cut = true;
      for (const t of over[name].reverse()) this.#streams[name].tail.push(t, true);
    }
    if (this.#tailsDue) this.#enqueueTails();
  }

  #enqueueTails(): void {
    this.#tailsDue = false;
    for (const name of ['stdout', 'stderr'] as const) {
      const s = this.#streams[name];
      if (!s.cut) continue;
      for (const t of s.tail.take(this.#keep!.tail_bytes)) this.#pending.add(name, t.offset, t.at, true, t.data);
    }
  }

  /** Flushes in `ms` (or sooner, when a flush is due sooner already). */
  #schedule(ms: number): void {
    if (this.#closed || this.#finishing) return;
    if (this.#timer && this.#timerDue <= Date.now() + ms) return;
    clearTimeout(this.#timer);
    this.#timerDue = Date.now() + ms;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#flush();
    }, ms);
  }

  #totals(): Record<StreamName, number> {
    return { stdout: this.#streams.stdout.seen, stderr: this.#streams.stderr.seen };
  }

  async #flush(): Promise<void> {
    if (this.#sending) return this.#sending;
    const seen = this.#streams.stdout.seen + this.#streams.stderr.seen;
    if (this.#started && (this.#off || (this.#pending.length === 0 && seen === this.#totalsSent))) return;
    const pieces = this.#started ? this.#pending.batch(PROGRESS_BATCH_BYTES, PROGRESS_CHUNKS_MAX) : [];
    // the first report is the one every control plane takes: what it answers says whether it takes pieces
    const report: ProgressRequest = this.#started
      ? { started_at: this.#startedAt, chunks: [], pieces, totals: this.#totals() }
      : { started_at: this.#startedAt, chunks: [] };
    this.#sending = this.#send(this.#id, report).then(
      (ack) => this.#acked(ack, report, seen),
      (err: Error & { retryable?: boolean }) => {
        if (err.retryable === false) {
          // the control plane will never take it (command unknown there, or this agent removed): stop streaming
          this.#log[agentRemoved(err) ? 'debug' : 'warn']({ command_id: this.#id }, `live output refused: ${err.message}`);
          this.#started = true;
          this.#stop();
          return;
        }
        this.#retryMs = Math.min(MAX_RETRY_MS, Math.max(500, this.#retryMs * 2));
      },
    ).finally(() => {
      this.#sending = undefined;
      if (this.#pending.length > 0 || !this.#started) this.#schedule(this.#retryMs || (this.#pending.bytes >= PROGRESS_BATCH_BYTES ? 0 : FLUSH_DELAY_MS));
      else if (this.#streams.stdout.seen + this.#streams.stderr.seen !== this.#totalsSent) this.#schedule(TOTALS_EVERY_MS);
    });
    return this.#sending;
  }

  #acked(ack: ProgressAck, report: ProgressRequest, seen: number): void {
    this.#started = true;
    this.#retryMs = 0;
    if (ack.cancel) this.#onCancel();
    if (!ack.keep || ack.final) return this.#stop(); // an older control plane, or the command ended there
    if (!this.#keep) this.#learn(ack.keep);
    if (report.totals) this.#totalsSent = seen;
    const before = this.#pending.bytes;
    this.#pending.trim(ack.next ?? { stdout: 0, stderr: 0 });
    if (this.#pending.bytes < before || !report.pieces?.length) {
      this.#lastTaken = Date.now();
      this.#futile = 0;
    } else if (++this.#futile >= FUTILE_ACKS_MAX) {
      this.#log.warn({ command_id: this.#id, next: ack.next }, 'the control plane does not take this command\'s output: no more is sent');
      return this.#stop();
    }
    if (this.#paused && this.#pending.bytes < WINDOW_BYTES / 2) this.#resume();
  }

  #stop(): void {
    this.#off = true;
    this.#pending.clear();
    this.#tailsDue = false;
    this.#resume();
  }
}

function newStream(): StreamState {
  return { seen: 0, released: 0, partial: Buffer.alloc(0), cut: false, tail: new OutputTail(OUTPUT_TAIL_MAX) };
}

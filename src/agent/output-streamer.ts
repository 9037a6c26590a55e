// The output of one running command, sent to the control plane as bytes per stream while it runs
// (`POST .../progress`, `pieces`). The first report says the command started and learns what the
// control plane keeps (`keep`): each stream's head is sent as it comes, and once a stream passes
// it only its last bytes are held and sent when it ends. Unacknowledged output is bounded: past a
// window the command's pipes are paused (it waits, as with a slow terminal), and when the control
// plane takes nothing for STALL_MS the command runs on and only its tail is kept from then on.
// Resends are harmless (idempotent by offset). A control plane that answers without `keep` (older)
// gets no output as it comes: the result carries its summary as before.

import type { Logger } from '../common/logger.ts';
import { OUTPUT_PIECE_MAX, OUTPUT_TAIL_MAX, PROGRESS_BATCH_BYTES, PROGRESS_CHUNKS_MAX } from '../protocol/limits.ts';
import { charStart, completeEnd } from '../protocol/utf8.ts';
import type { OutputKeep, OutputPiece, ProgressAck, ProgressRequest, StreamName } from '../protocol/wire.ts';
import { agentRemoved } from './control-client.ts';
import { OutputTail, type TailPiece } from './output-tail.ts';

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

interface Pending {
  stream: StreamName;
  offset: number;
  at: number;
  parts: Buffer[];
  size: number;
  tail: boolean;
}

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
  #pending: Pending[] = [];
  #pendingBytes = 0;
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
  #totalsSent = 0;
  #futile = 0;
  #timer: NodeJS.Timeout | undefined;
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
    if (this.#pending.length > 0) this.#log.warn({ command_id: this.#id, unsent_bytes: this.#pendingBytes }, 'the control plane took no output for a while: the result goes without the rest of it');
    this.#closed = true;
    clearTimeout(this.#timer);
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
    if (room > 0) this.#enqueue({ stream, offset, at, parts: [], size: 0, tail: false }, data.subarray(0, room));
    if (data.length > room) {
      s.cut = true;
      s.tail.push({ offset: offset + room, at: at + room, data: data.subarray(room) });
    }
    if (this.#pendingBytes > HARD_WINDOW_BYTES) this.#endHeads('output kept coming while the command could not be made to wait');
    else if (this.#pendingBytes > WINDOW_BYTES && !this.#paused && !this.#stalled && !this.#finishing && this.#flow) {
      this.#paused = true;
      this.#flow.pauseOutput();
    }
    this.#schedule(this.#pendingBytes >= PROGRESS_BATCH_BYTES ? 0 : room > 0 ? FLUSH_DELAY_MS : TOTALS_EVERY_MS);
  }

  /** Queues bytes at the end, joined to the last piece when they follow it in both positions. */
  #enqueue(piece: Pending, data: Buffer): void {
    for (let i = 0; i < data.length;) {
      const last = this.#pending[this.#pending.length - 1];
      const offset = piece.offset + i;
      const at = piece.at + i;
      // room for a whole character at least, so that pieces end on whole ones
      const fits = last && last.stream === piece.stream && last.tail === piece.tail && last.offset + last.size === offset && last.at + last.size === at
        && last.size <= OUTPUT_PIECE_MAX - 4;
      const into = fits ? last : { ...piece, offset, at, parts: [], size: 0 };
      if (!fits) this.#pending.push(into);
      let end = Math.min(data.length, i + OUTPUT_PIECE_MAX - into.size);
      if (end < data.length) end = Math.max(i + 1, charStart(data, end));
      const part = data.subarray(i, end);
      into.parts.push(part);
      into.size += part.length;
      this.#pendingBytes += part.length;
      i += part.length;
    }
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
    if (!this.#paused) return;
    this.#paused = false;
    this.#flow?.resumeOutput();
  }

  /** The control plane said what it keeps: what is queued past a head goes to its tail instead. */
  #learn(keep: OutputKeep): void {
    this.#keep = keep;
    const kept: Pending[] = [];
    const over: Record<StreamName, TailPiece[]> = { stdout: [], stderr: [] };
    for (const p of this.#pending) {
      const room = p.tail ? p.size : Math.max(0, keep.head_bytes - p.offset);
      if (room >= p.size) {
        kept.push(p);
        continue;
      }
      const data = Buffer.concat(p.parts);
      if (room > 0) kept.push({ ...p, parts: [data.subarray(0, room)], size: room });
      over[p.stream].push({ offset: p.offset + room, at: p.at + room, data: data.subarray(room) });
      this.#pendingBytes -= p.size - room;
      this.#streams[p.stream].cut = true;
    }
    this.#pending = kept;
    for (const name of ['stdout', 'stderr'] as const) for (const t of over[name].reverse()) this.#streams[name].tail.push(t, true);
    if (this.#tailsDue) this.#enqueueTails();
  }

  #enqueueTails(): void {
    this.#tailsDue = false;
    for (const name of ['stdout', 'stderr'] as const) {
      const s = this.#streams[name];
      if (!s.cut) continue;
      for (const t of s.tail.take(this.#keep!.tail_bytes)) this.#enqueue({ stream: name, offset: t.offset, at: t.at, parts: [], size: 0, tail: true }, t.data);
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
    const batch: Pending[] = [];
    for (let bytes = 0; this.#started && batch.length < PROGRESS_CHUNKS_MAX && bytes < PROGRESS_BATCH_BYTES && batch.length < this.#pending.length;) {
      const p = this.#pending[batch.length]!;
      batch.push(p);
      bytes += p.size;
    }
    // the first report is the one every control plane takes: what it answers says whether it takes pieces
    const report: ProgressRequest = this.#started
      ? { started_at: this.#startedAt, chunks: [], pieces: batch.map(toPiece), totals: this.#totals() }
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
        if (this.#paused && Date.now() - this.#lastTaken > STALL_MS) this.#endHeads(`the control plane took no output for ${STALL_MS / 1000} s`);
      },
    ).finally(() => {
      this.#sending = undefined;
      if (this.#pending.length > 0 || !this.#started) this.#schedule(this.#retryMs || (this.#pendingBytes >= PROGRESS_BATCH_BYTES ? 0 : FLUSH_DELAY_MS));
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
    const before = this.#pendingBytes;
    this.#trim(ack.next ?? { stdout: 0, stderr: 0 });
    if (this.#pendingBytes < before || !report.pieces?.length) {
      this.#lastTaken = Date.now();
      this.#futile = 0;
    } else if (++this.#futile >= FUTILE_ACKS_MAX) {
      this.#log.warn({ command_id: this.#id, next: ack.next }, 'the control plane does not take this command\'s output: no more is sent');
      return this.#stop();
    }
    if (this.#paused && this.#pendingBytes < WINDOW_BYTES / 2) this.#resume();
  }

  /** Drops what the control plane has; a piece it has in part is cut at where it goes on. */
  #trim(next: Record<StreamName, number>): void {
    const kept: Pending[] = [];
    for (const p of this.#pending) {
      const cut = next[p.stream] - p.offset;
      if (cut <= 0) {
        kept.push(p);
        continue;
      }
      this.#pendingBytes -= Math.min(cut, p.size);
      if (cut >= p.size) continue;
      const data = Buffer.concat(p.parts).subarray(cut);
      kept.push({ ...p, offset: p.offset + cut, at: p.at + cut, parts: [data], size: data.length });
    }
    this.#pending = kept;
  }

  #stop(): void {
    this.#off = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#tailsDue = false;
    this.#resume();
  }
}

function newStream(): StreamState {
  return { seen: 0, released: 0, partial: Buffer.alloc(0), cut: false, tail: new OutputTail(OUTPUT_TAIL_MAX) };
}

function toPiece(p: Pending): OutputPiece {
  return { stream: p.stream, offset: p.offset, at: p.at, data: Buffer.concat(p.parts).toString('base64'), ...(p.tail ? { tail: true } : {}) };
}

// Live output of one running command, sent to the control plane in small ordered batches
// (`POST .../progress`). The first send also says the command started. Chunks stay queued until
// the control plane acknowledges their offset; a resend is harmless (idempotent by offset).

import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../common/logger.ts';
import { LIVE_OUTPUT_LIMIT, PROGRESS_CHUNKS_MAX } from '../protocol/limits.ts';
import type { OutputChunk, ProgressAck } from '../protocol/wire.ts';
import { agentRemoved } from './control-client.ts';

const FLUSH_DELAY_MS = 50;
const MAX_RETRY_MS = 10_000;

export type SendProgress = (commandId: string, startedAt: string, chunks: OutputChunk[]) => Promise<ProgressAck>;

export class OutputStreamer {
  readonly #id: string;
  readonly #startedAt: string;
  readonly #send: SendProgress;
  readonly #onCancel: () => void;
  readonly #log: Logger;
  readonly #decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  #pending: OutputChunk[] = [];
  #offset = 0;
  #started = false;
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  #retryMs = 0;
  #closed = false;

  constructor(commandId: string, startedAt: string, send: SendProgress, onCancel: () => void, log: Logger) {
    this.#id = commandId;
    this.#startedAt = startedAt;
    this.#send = send;
    this.#onCancel = onCancel;
    this.#log = log;
    this.#schedule(0);
  }

  push(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.#append(stream, this.#decoders[stream].write(chunk));
  }

  /** Sends what is left (waiting at most `ms`), then stops. */
  async finish(ms = 2000): Promise<void> {
    this.#append('stdout', this.#decoders.stdout.end());
    this.#append('stderr', this.#decoders.stderr.end());
    const deadline = Date.now() + ms;
    while ((this.#pending.length > 0 || !this.#started) && Date.now() < deadline) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      await this.#flush();
      if (this.#pending.length > 0 || !this.#started) await new Promise((r) => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
    }
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #append(stream: 'stdout' | 'stderr', text: string): void {
    if (text.length === 0 || this.#closed) return;
    if (this.#offset < LIVE_OUTPUT_LIMIT) this.#pending.push({ offset: this.#offset, stream, data: text.slice(0, LIVE_OUTPUT_LIMIT - this.#offset) });
    this.#offset += Math.min(text.length, Math.max(0, LIVE_OUTPUT_LIMIT - this.#offset));
    this.#schedule(FLUSH_DELAY_MS);
  }

  #schedule(ms: number): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#flush();
    }, ms);
  }

  async #flush(): Promise<void> {
    if (this.#sending) return this.#sending;
    if (this.#started && this.#pending.length === 0) return;
    // a prefix of what is pending: the acknowledged offset trims it, the rest goes next time
    const batch = merge(this.#pending).slice(0, PROGRESS_CHUNKS_MAX);
    this.#sending = this.#send(this.#id, this.#startedAt, batch).then(
      (ack) => {
        this.#started = true;
        this.#retryMs = 0;
        this.#trim(ack.next_offset);
        if (ack.cancel) this.#onCancel();
      },
      (err: Error & { retryable?: boolean }) => {
        if (err.retryable === false) {
          // the control plane will never take it (command unknown there, or this agent removed): stop streaming
          this.#log[agentRemoved(err) ? 'debug' : 'warn']({ command_id: this.#id }, `live output refused: ${err.message}`);
          this.#started = true;
          this.#pending = [];
          return;
        }
        this.#retryMs = Math.min(MAX_RETRY_MS, Math.max(500, this.#retryMs * 2));
      },
    ).finally(() => {
      this.#sending = undefined;
      if (this.#pending.length > 0 || !this.#started) this.#schedule(this.#retryMs || FLUSH_DELAY_MS);
    });
    return this.#sending;
  }

  /** Drops what the control plane has; a chunk it has in part is cut at its offset. */
  #trim(next: number): void {
    const kept: OutputChunk[] = [];
    for (const c of this.#pending) {
      const end = c.offset + c.data.length;
      if (end <= next) continue;
      kept.push(c.offset >= next ? c : { offset: next, stream: c.stream, data: c.data.slice(next - c.offset) });
    }
    this.#pending = kept;
  }
}

/** Joins neighbouring chunks of the same stream, so a chatty command costs few rows. */
function merge(chunks: OutputChunk[]): OutputChunk[] {
  const out: OutputChunk[] = [];
  for (const c of chunks) {
    const last = out[out.length - 1];
    if (last && last.stream === c.stream && last.offset + last.data.length === c.offset) out[out.length - 1] = { ...last, data: last.data + c.data };
    else out.push({ ...c });
  }
  return out;
}

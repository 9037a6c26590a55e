// Output waiting to be acknowledged by the control plane, in the order printed: pieces of one
// stream each, joined while they follow each other (256 KiB at most, ending on whole characters),
// sent as a prefix and dropped as the control plane says where each stream goes on.

import { OUTPUT_PIECE_MAX } from '../protocol/limits.ts';
import { charStart } from '../protocol/utf8.ts';
import type { OutputPiece, StreamName } from '../protocol/wire.ts';
import type { TailPiece } from './output-tail.ts';

export interface Pending {
  stream: StreamName;
  offset: number;
  at: number;
  parts: Buffer[];
  size: number;
  /** Of the stream's tail (OutputPiece.tail). */
  tail: boolean;
}

export class OutputQueue {
  #items: Pending[] = [];
  #bytes = 0;

  get bytes(): number {
    return this.#bytes;
  }

  get length(): number {
    return this.#items.length;
  }

  /** Queues bytes at the end, joined to the last piece when they follow it in both positions. */
  add(stream: StreamName, offset: number, at: number, tail: boolean, data: Buffer): void {
    for (let i = 0; i < data.length;) {
      const last = this.#items[this.#items.length - 1];
      // room for a whole character at least, so that pieces end on whole ones
      const fits = last && last.stream === stream && last.tail === tail && last.offset + last.size === offset + i && last.at + last.size === at + i
        && last.size <= OUTPUT_PIECE_MAX - 4;
      const into = fits ? last : { stream, offset: offset + i, at: at + i, parts: [], size: 0, tail };
      if (!fits) this.#items.push(into);
      let end = Math.min(data.length, i + OUTPUT_PIECE_MAX - into.size);
      if (end < data.length) end = Math.max(i + 1, charStart(data, end));
      const part = data.subarray(i, end);
      into.parts.push(part);
      into.size += part.length;
      this.#bytes += part.length;
      i += part.length;
    }
  }

  /** The first pieces, `maxBytes` and `maxItems` at most (at least one). */
  batch(maxBytes: number, maxItems: number): OutputPiece[] {
    const out: OutputPiece[] = [];
    for (let bytes = 0; out.length < maxItems && bytes < maxBytes && out.length < this.#items.length;) {
      const p = this.#items[out.length]!;
      out.push({ stream: p.stream, offset: p.offset, at: p.at, data: Buffer.concat(p.parts).toString('base64'), ...(p.tail ? { tail: true } : {}) });
      bytes += p.size;
    }
    return out;
  }

  /** Drops what the control plane has; a piece it has in part is cut at where it goes on. */
  trim(next: Record<StreamName, number>): void {
    const kept: Pending[] = [];
    for (const p of this.#items) {
      const cut = next[p.stream] - p.offset;
      if (cut <= 0) {
        kept.push(p);
        continue;
      }
      this.#bytes -= Math.min(cut, p.size);
      if (cut >= p.size) continue;
      const data = Buffer.concat(p.parts).subarray(cut);
      kept.push({ ...p, offset: p.offset + cut, at: p.at + cut, parts: [data], size: data.length });
    }
    this.#items = kept;
  }

  /** Takes out what lies past `headBytes` of each stream's head, in order (it belongs to the tails). */
  cutHeads(headBytes: number): Record<StreamName, TailPiece[]> {
    const kept: Pending[] = [];
    const over: Record<StreamName, TailPiece[]> = { stdout: [], stderr: [] };
    for (const p of this.#items) {
      const room = p.tail ? p.size : Math.max(0, headBytes - p.offset);
      if (room >= p.size) {
        kept.push(p);
        continue;
      }
      const data = Buffer.concat(p.parts);
      const at = room === 0 ? 0 : Math.max(1, charStart(data, room));
      if (at > 0) kept.push({ ...p, parts: [data.subarray(0, at)], size: at });
      over[p.stream].push({ offset: p.offset + at, at: p.at + at, data: data.subarray(at) });
      this.#bytes -= p.size - at;
    }
    this.#items = kept;
    return over;
  }

  clear(): void {
    this.#items = [];
    this.#bytes = 0;
  }
}

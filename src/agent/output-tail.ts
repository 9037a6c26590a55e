// The last bytes of a stream that went past the head the control plane keeps: a rolling window
// of pieces, sent when the stream ends. Bounded by its limit (plus one pipe read).

export interface TailPiece {
  offset: number;
  at: number;
  data: Buffer;
}

export class OutputTail {
  #pieces: TailPiece[] = [];
  #bytes = 0;
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Adds bytes that follow what it holds (or, `before`, bytes that precede it). */
  push(piece: TailPiece, before = false): void {
    if (piece.data.length === 0) return;
    if (before) this.#pieces.unshift(piece);
    else this.#pieces.push(piece);
    this.#bytes += piece.data.length;
    while (this.#pieces.length > 1 && this.#bytes - this.#pieces[0]!.data.length >= this.#limit) this.#bytes -= this.#pieces.shift()!.data.length;
  }

  /** The last `limit` bytes (from the first whole character), and empties it. */
  take(limit: number): TailPiece[] {
    const out: TailPiece[] = [];
    let need = limit;
    for (let i = this.#pieces.length - 1; i >= 0 && need > 0; i--) {
      const p = this.#pieces[i]!;
      const skip = Math.max(0, p.data.length - need);
      out.unshift(skip === 0 ? p : { offset: p.offset + skip, at: p.at + skip, data: p.data.subarray(skip) });
      need -= p.data.length - skip;
    }
    this.#pieces = [];
    this.#bytes = 0;
    const first = out[0];
    if (first && out.reduce((n, p) => n + p.data.length, 0) >= limit) {
      // cut by a byte count: a character cut in two at the front is left out
      let i = 0;
      while (i < 3 && i < first.data.length && (first.data[i]! & 0xc0) === 0x80) i++;
      if (i > 0) out[0] = { offset: first.offset + i, at: first.at + i, data: first.data.subarray(i) };
    }
    return out.filter((p) => p.data.length > 0);
  }
}

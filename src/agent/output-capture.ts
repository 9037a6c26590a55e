// Captured output of one stream, capped: the first and the last bytes are kept, the middle is
// dropped and counted, so a runaway command cannot exhaust the agent's memory.

export interface CapturedOutput {
  text: string;
  total_bytes: number;
  truncated: boolean;
}

export class OutputCapture {
  readonly #headLimit: number;
  readonly #tailLimit: number;
  readonly #head: Buffer[] = [];
  #headBytes = 0;
  /** Tail chunks; trimmed from the front once they hold more than tailLimit bytes. */
  #tail: Buffer[] = [];
  #tailBytes = 0;
  #total = 0;

  constructor(limitBytes: number) {
    this.#headLimit = Math.ceil(limitBytes / 2);
    this.#tailLimit = Math.floor(limitBytes / 2);
  }

  push(chunk: Buffer): void {
    this.#total += chunk.length;
    const room = this.#headLimit - this.#headBytes;
    if (room > 0) {
      const part = chunk.subarray(0, room);
      this.#head.push(part);
      this.#headBytes += part.length;
      chunk = chunk.subarray(part.length);
    }
    if (chunk.length === 0 || this.#tailLimit === 0) return;
    this.#tail.push(chunk);
    this.#tailBytes += chunk.length;
    while (this.#tailBytes - this.#tail[0]!.length >= this.#tailLimit) {
      this.#tailBytes -= this.#tail.shift()!.length;
    }
  }

  result(): CapturedOutput {
    const head = Buffer.concat(this.#head);
    let tail = Buffer.concat(this.#tail);
    if (tail.length > this.#tailLimit) tail = tail.subarray(tail.length - this.#tailLimit);
    const omitted = this.#total - head.length - tail.length;
    if (omitted <= 0) return { text: Buffer.concat([head, tail]).toString('utf8'), total_bytes: this.#total, truncated: false };
    return {
      text: `${head.toString('utf8')}\n[... ${omitted} bytes omitted ...]\n${tail.toString('utf8')}`,
      total_bytes: this.#total,
      truncated: true,
    };
  }
}

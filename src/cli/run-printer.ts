// How `myx run` shows a run: output as it arrives (each line prefixed with the agent's name when
// there are several targets), a status line per agent when it ends, a summary at the end.

import type { CommandRecord, OutputChunk } from '../protocol/wire.ts';

type Stream = 'stdout' | 'stderr';

interface Shown {
  printed: Record<Stream, number>;
  partial: Record<Stream, string>;
  final: boolean;
}

export class RunPrinter {
  readonly #multi: boolean;
  readonly #out: NodeJS.WritableStream;
  readonly #err: NodeJS.WritableStream;
  readonly #names = new Map<string, string>();
  readonly #shown = new Map<string, Shown>();
  readonly #next = new Map<string, number>();

  constructor(commands: CommandRecord[], out: NodeJS.WritableStream, err: NodeJS.WritableStream) {
    this.#multi = commands.length > 1;
    this.#out = out;
    this.#err = err;
    for (const c of commands) {
      this.#names.set(c.id, c.agent_name);
      this.#shown.set(c.id, { printed: { stdout: 0, stderr: 0 }, partial: { stdout: '', stderr: '' }, final: false });
    }
  }

  /** Live output; chunks seen before (a reconnect replays them) are skipped by offset. */
  output(id: string, chunk: OutputChunk): void {
    const s = this.#shown.get(id);
    if (!s || s.final || chunk.offset < (this.#next.get(id) ?? 0)) return;
    this.#next.set(id, chunk.offset + chunk.data.length);
    s.printed[chunk.stream] += chunk.data.length;
    this.#write(id, chunk.stream, chunk.data);
  }

  /** The final record: prints what the live stream did not show, then the status line. */
  final(c: CommandRecord): void {
    const s = this.#shown.get(c.id);
    if (!s || s.final) return;
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = c[stream];
      const truncated = c[`${stream}_truncated`];
      if (s.printed[stream] === 0) this.#write(c.id, stream, text);
      else if (!truncated && text.length > s.printed[stream]) this.#write(c.id, stream, text.slice(s.printed[stream]));
      else if (truncated) this.#write(c.id, stream, `\n[output truncated: ${c[`${stream}_bytes`]} bytes in all; \`myx show ${c.id}\` has the first and last part]\n`);
      this.#flushPartial(c.id, stream);
    }
    s.final = true;
    if (this.#multi) (c.status === 'succeeded' ? this.#out : this.#err).write(`${c.agent_name}: [${describe(c)}]\n`);
    else if (c.status !== 'succeeded') this.#err.write(`${c.agent_name}: ${describe(c)}\n`);
  }

  notice(text: string): void {
    this.#err.write(`${text}\n`);
  }

  summary(commands: CommandRecord[]): void {
    if (!this.#multi) return;
    const counts = new Map<string, number>();
    for (const c of commands) counts.set(c.status, (counts.get(c.status) ?? 0) + 1);
    this.#err.write([...counts.entries()].map(([st, n]) => `${n} ${st.replace('_', ' ')}`).join(', ') + '\n');
  }

  #write(id: string, stream: Stream, text: string): void {
    if (text.length === 0) return;
    const sink = stream === 'stdout' ? this.#out : this.#err;
    if (!this.#multi) {
      sink.write(text);
      return;
    }
    const s = this.#shown.get(id)!;
    const lines = (s.partial[stream] + text).split('\n');
    s.partial[stream] = lines.pop()!;
    for (const line of lines) sink.write(`${this.#names.get(id)}: ${line}\n`);
  }

  #flushPartial(id: string, stream: Stream): void {
    const s = this.#shown.get(id)!;
    if (this.#multi && s.partial[stream].length > 0) {
      (stream === 'stdout' ? this.#out : this.#err).write(`${this.#names.get(id)}: ${s.partial[stream]}\n`);
      s.partial[stream] = '';
    }
  }
}

export function describe(c: CommandRecord): string {
  const parts: string[] = [c.status];
  if (c.exit_code !== null) parts.push(`exit ${c.exit_code}`);
  if (c.signal) parts.push(c.signal);
  if (c.started_at && c.finished_at) parts.push(`${Date.parse(c.finished_at) - Date.parse(c.started_at)} ms`);
  if (c.delivery) parts.push(`via ${c.delivery}`);
  if (c.error && c.status !== 'succeeded') parts.push(c.error);
  return parts.join(', ');
}

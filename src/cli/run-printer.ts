// How `myx run` shows a run. Up to 10 targets: output as it arrives, each line prefixed with the
// agent's name when there are several. More: a status line per agent as it ends, then identical
// outputs grouped ("37 agents: ok"). Always a summary, and on a terminal a progress line.
// Output passes through as the agents sent it (as ssh does), or with its terminal control
// sequences removed (--strip-control); everything else an agent reported goes through displayText.

import { FINAL_STATUSES } from '../protocol/command-status.ts';
import { displayBlock, displayText, stripControl } from '../protocol/display-text.ts';
import type { CommandRecord, OutputChunk } from '../protocol/wire.ts';

type Stream = 'stdout' | 'stderr';

/** Above this many targets, output is grouped at the end instead of streamed line by line. */
export const STREAM_LIMIT = 10;

interface Shown {
  printed: Record<Stream, number>;
  partial: Record<Stream, string>;
  /** Where each stream's bytes shown so far end (from control planes that say it: OutputEvent). */
  ends: Partial<Record<Stream, number>>;
  final: CommandRecord | null;
}

/** A live output event: control planes with complete output say where in its stream it is and how many bytes it stands for. */
export type LiveChunk = OutputChunk & { stream_offset?: number; bytes?: number };

export interface PrinterOptions {
  /** Stream live output (default: when there are at most STREAM_LIMIT targets). */
  stream?: boolean;
  /** Draw a progress line (default: when stderr is a terminal). */
  progress?: boolean;
  /** Remove terminal control sequences from output (`--strip-control`). @default false: output is shown raw */
  stripControl?: boolean;
}

/** How command output is shown: as it is, control characters escaped, or control sequences removed. */
export type OutputFilter = (text: string) => string;
export const rawOutput: OutputFilter = (text) => text;
export const escapedOutput: OutputFilter = displayBlock;
export const strippedOutput: OutputFilter = stripControl;

export class RunPrinter {
  readonly #multi: boolean;
  readonly #stream: boolean;
  readonly #progress: boolean;
  readonly #filter: OutputFilter;
  readonly #byLine: boolean;
  readonly #out: NodeJS.WritableStream;
  readonly #err: NodeJS.WritableStream;
  readonly #names = new Map<string, string>();
  readonly #shown = new Map<string, Shown>();
  readonly #next = new Map<string, number>();
  #progressDrawn = false;

  constructor(commands: Pick<CommandRecord, 'id' | 'agent_name'>[], out: NodeJS.WritableStream, err: NodeJS.WritableStream, opts: PrinterOptions = {}) {
    this.#multi = commands.length > 1;
    this.#stream = opts.stream ?? commands.length <= STREAM_LIMIT;
    this.#progress = opts.progress ?? ((err as { isTTY?: boolean }).isTTY === true && commands.length > 1);
    this.#filter = opts.stripControl ? strippedOutput : rawOutput;
    // stripping works on whole lines, so that a sequence split between two chunks is still seen whole
    this.#byLine = this.#multi || opts.stripControl === true;
    this.#out = out;
    this.#err = err;
    for (const c of commands) {
      this.#names.set(c.id, displayText(c.agent_name));
      this.#shown.set(c.id, { printed: { stdout: 0, stderr: 0 }, partial: { stdout: '', stderr: '' }, ends: {}, final: null });
    }
  }

  /** Whether live output is shown (else only the final records matter). */
  get streaming(): boolean {
    return this.#stream;
  }

  /** Where a reconnected stream takes this command's output up (bytes as printed): what was shown is not sent again. */
  resumeAt(id: string): number {
    return this.#next.get(id) ?? 0;
  }

  /** Live output; chunks seen before (a reconnect replays them) are skipped by offset. */
  output(id: string, chunk: LiveChunk): void {
    const s = this.#shown.get(id);
    if (!this.#stream || !s || s.final || chunk.offset < (this.#next.get(id) ?? 0)) return;
    this.#next.set(id, chunk.offset + (chunk.bytes ?? chunk.data.length));
    if (chunk.stream_offset !== undefined && chunk.bytes !== undefined) {
      const end = s.ends[chunk.stream] ?? 0;
      if (chunk.stream_offset > end) {
        this.#flushPartial(id, chunk.stream);
        this.#write(id, chunk.stream, `${end > 0 ? '\n' : ''}[... ${chunk.stream_offset - end} bytes of ${chunk.stream} not kept (over the control plane's --output-cap): what follows is the end ...]\n`);
      }
      s.ends[chunk.stream] = chunk.stream_offset + chunk.bytes;
    }
    s.printed[chunk.stream] += chunk.data.length;
    this.#write(id, chunk.stream, chunk.data);
  }

  /** The final record: prints what the live stream did not show, then the status line. */
  final(c: CommandRecord): void {
    const s = this.#shown.get(c.id);
    if (!s || s.final) return;
    if (this.#stream) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const text = c[stream];
        const shownTo = s.ends[stream];
        if (shownTo !== undefined && shownTo >= c[`${stream}_bytes`]) {
          // the live output showed all of it (and marked what was not kept)
        } else if (s.printed[stream] === 0) this.#write(c.id, stream, text);
        else if (!c[`${stream}_truncated`]) this.#write(c.id, stream, text.slice(s.printed[stream]));
        else this.#write(c.id, stream, `\n[output truncated: ${c[`${stream}_bytes`]} bytes in all; \`myx show ${c.id}\` has the first and last part]\n`);
        this.#flushPartial(c.id, stream);
      }
    }
    s.final = c;
    const name = displayText(c.agent_name);
    if (this.#multi) this.#line(c.status === 'succeeded' ? this.#out : this.#err, `${name}: [${describe(c)}]\n`);
    else if (c.status !== 'succeeded') this.#line(this.#err, `${name}: ${describe(c)}\n`);
    this.#drawProgress();
  }

  /** One line for the operator; it may quote what agents reported, so it is shown through displayText. */
  notice(text: string): void {
    this.#line(this.#err, `${displayText(text)}\n`);
  }

  /** Grouped outputs (when not streamed) and the counts by outcome. */
  summary(commands: CommandRecord[]): void {
    this.#clearProgress();
    if (!this.#stream) this.#out.write(groupOutputs(commands, this.#filter));
    if (this.#multi) this.#err.write(summaryLine(commands) + '\n');
  }

  #write(id: string, stream: Stream, text: string): void {
    if (text.length === 0) return;
    const sink = stream === 'stdout' ? this.#out : this.#err;
    if (!this.#byLine) {
      sink.write(text);
      return;
    }
    const s = this.#shown.get(id)!;
    const lines = (s.partial[stream] + text).split('\n');
    s.partial[stream] = lines.pop()!;
    for (const line of lines) this.#line(sink, `${this.#prefix(id)}${this.#filter(line)}\n`);
  }

  #flushPartial(id: string, stream: Stream): void {
    const s = this.#shown.get(id)!;
    if (this.#byLine && s.partial[stream].length > 0) {
      this.#line(stream === 'stdout' ? this.#out : this.#err, `${this.#prefix(id)}${this.#filter(s.partial[stream])}\n`);
      s.partial[stream] = '';
    }
  }

  #prefix(id: string): string {
    return this.#multi ? `${this.#names.get(id)}: ` : '';
  }

  /** Writes a whole line, keeping the progress line at the bottom. */
  #line(sink: NodeJS.WritableStream, text: string): void {
    this.#clearProgress();
    sink.write(text);
    this.#drawProgress();
  }

  #clearProgress(): void {
    if (!this.#progressDrawn) return;
    this.#err.write('\r\x1b[K');
    this.#progressDrawn = false;
  }

  #drawProgress(): void {
    if (!this.#progress) return;
    const finals = [...this.#shown.values()].map((s) => s.final).filter((c): c is CommandRecord => c !== null);
    const total = this.#shown.size;
    if (finals.length === total) return;
    this.#err.write(`\r\x1b[K[${finals.length}/${total} done] ${summaryLine(finals) || 'waiting'}; ${total - finals.length} in flight`);
    this.#progressDrawn = true;
  }
}

/** "37 succeeded, 2 failed, 0 timed out, 1 unreachable" (+ skipped, cancelled, lost when there are any). */
export function summaryLine(commands: CommandRecord[]): string {
  const n = (s: string) => commands.filter((c) => c.status === s).length;
  const parts = [`${n('succeeded')} succeeded`, `${n('failed')} failed`, `${n('timed_out')} timed out`, `${n('expired')} unreachable`];
  for (const s of FINAL_STATUSES) if (!['succeeded', 'failed', 'timed_out', 'expired'].includes(s) && n(s) > 0) parts.push(`${n(s)} ${s}`);
  return commands.length === 0 ? '' : parts.join(', ');
}

/** Identical outputs once, with the agents that printed them: "37 agents: ok". */
export function groupOutputs(commands: CommandRecord[], filter: OutputFilter): string {
  const groups = new Map<string, CommandRecord[]>();
  for (const c of commands) {
    const key = JSON.stringify([c.stdout, c.stderr]);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  let text = '';
  for (const list of [...groups.values()].sort((a, b) => b.length - a.length)) {
    const { stdout, stderr } = list[0]!;
    const names = list.map((c) => displayText(c.agent_name));
    const who = names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`;
    const body = filter(stdout + stderr).replace(/\n$/, '');
    text += `── ${list.length} agent${list.length === 1 ? '' : 's'} (${who}):${body.includes('\n') || body.length > 60 ? `\n${body}` : ` ${body || '(no output)'}`}\n`;
  }
  return text;
}

/** "failed, exit 1, 12 ms, via push, <error>": one line, whatever the agent put in its error and signal. */
export function describe(c: CommandRecord): string {
  const parts: string[] = [c.status];
  if (c.exit_code !== null) parts.push(`exit ${c.exit_code}`);
  if (c.signal) parts.push(c.signal);
  if (c.started_at && c.finished_at) parts.push(`${Date.parse(c.finished_at) - Date.parse(c.started_at)} ms`);
  if (c.delivery) parts.push(`via ${c.delivery}`);
  if (c.error && c.status !== 'succeeded') parts.push(c.error);
  return displayText(parts.join(', '));
}

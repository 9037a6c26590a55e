// Pages of a command's output (wire.ts OutputPage) read from the store chunk by chunk: a page
// never loads more than itself and a chunk on each side, whatever the size of the stream. Offsets
// are positions as printed; kept bytes past a gap (the middle of a stream over the cap) are
// reached by asking for any offset in the gap. Pages never cut a UTF-8 character.

import { isFinal } from '../protocol/command-status.ts';
import { OUTPUT_PAGE_MAX } from '../protocol/schemas.ts';
import { charEnd, charStart } from '../protocol/utf8.ts';
import type { CommandRecord, OutputPage, OutputStream } from '../protocol/wire.ts';
import type { Store } from './store/store.ts';
import type { OutputState, StoredChunk } from './store/output-store.ts';

/** What a page is asked for. */
export type PageQuery = { kind: 'from'; offset: number; limit: number } | { kind: 'before'; before: number; limit: number } | { kind: 'tail'; lines: number };

/** A UTF-8 character is 4 bytes at most: read this much past a page to end it on a whole one. */
const CHAR_MAX = 4;
/** Last lines are looked for in steps, from the end back. */
const TAIL_STEP = 64 * 1024;

const decoder = new TextDecoder('utf-8');

export async function outputPage(store: Store, command: CommandRecord, state: OutputState, view: OutputStream, q: PageQuery): Promise<OutputPage> {
  const final = isFinal(command.status);
  const summary = summaryOf(command, state, view);
  if (summary) return summaryPage(command, view, summary, state, q);
  const end = view === 'all' ? state.allEnd : state[view].end;
  const base = { command_id: command.id, stream: view, ...sizes(command, state, view), source: 'full' as const, dropped_at: null, notice: null };
  let run: Run | null;
  if (q.kind === 'from') run = await readFrom(store, command.id, view, q.offset, q.limit);
  else if (q.kind === 'before') run = await readBefore(store, command.id, view, q.before, q.limit);
  else run = await readTail(store, command.id, view, end, q.lines);
  if (!run) {
    const at = q.kind === 'from' ? q.offset : end;
    return { ...base, offset: at, next_offset: at, data: '', eof: final && at >= end };
  }
  const next = run.start + run.bytes.length;
  return { ...base, offset: run.start, next_offset: next, data: decoder.decode(run.bytes), eof: final && next >= end };
}

/** Bytes kept without a gap, from `start`. */
interface Run {
  start: number;
  bytes: Uint8Array;
}

const position = (view: OutputStream, c: StoredChunk): number => (view === 'all' ? c.at : c.offset);

/** The chunks' bytes from `from` on, as far as they go without a gap. */
function contiguous(view: OutputStream, chunks: StoredChunk[], from: number): Run | null {
  const parts: Uint8Array[] = [];
  let start = -1;
  let pos = -1;
  for (const c of chunks) {
    const p = position(view, c);
    if (p + c.data.length <= from) continue;
    if (start < 0) {
      start = Math.max(from, p);
      pos = start;
    }
    if (p > pos) break; // a gap
    if (p + c.data.length <= pos) continue; // overlapping chunks (a hostile agent's positions): what is past them
    parts.push(c.data.subarray(pos - p));
    pos = p + c.data.length;
  }
  return start < 0 ? null : { start, bytes: Buffer.concat(parts) };
}

/** A page from `offset` (or where the kept bytes go on past it): `limit` bytes ending on a whole character. */
async function readFrom(store: Store, id: string, view: OutputStream, offset: number, limit: number): Promise<Run | null> {
  const run = contiguous(view, await store.readOutput(id, view, offset, limit + CHAR_MAX), offset);
  if (!run) return null;
  if (run.start === offset && offset > 0 && (run.bytes[0]! & 0xc0) === 0x80) {
    // `offset` falls inside a character: the page starts where it starts
    const back = Math.min(offset, CHAR_MAX - 1);
    const wider = contiguous(view, await store.readOutput(id, view, offset - back, back + limit + CHAR_MAX), offset - back);
    if (wider && wider.start < offset && wider.start + wider.bytes.length > offset) {
      const from = charStart(wider.bytes, offset - wider.start);
      return cut({ start: wider.start + from, bytes: wider.bytes.subarray(from) }, limit + (offset - wider.start - from));
    }
  }
  return cut(run, limit);
}

/** The page that ends at `before` (past a gap: where the kept bytes before it end), `limit` bytes at most. */
async function readBefore(store: Store, id: string, view: OutputStream, before: number, limit: number): Promise<Run | null> {
  const chunks = await store.readOutputBefore(id, view, before, limit);
  const last = chunks[chunks.length - 1];
  if (!last) return null;
  const end = Math.min(before, position(view, last) + last.data.length);
  const run = backwards(view, chunks, end, Math.max(0, end - limit));
  return run ? fromWholeCharacter(run) : null;
}

/** The last `lines` lines before `end` (a page's worth at most, and not past a gap). */
async function readTail(store: Store, id: string, view: OutputStream, end: number, lines: number): Promise<Run | null> {
  for (let want = TAIL_STEP; ; want = Math.min(OUTPUT_PAGE_MAX, want * 4)) {
    const floor = Math.max(0, end - want);
    const run = backwards(view, await store.readOutputBefore(id, view, end, want), end, floor);
    if (!run) return null;
    const at = lineStart(run.bytes, lines);
    if (at > 0) return { start: run.start + at, bytes: run.bytes.subarray(at) };
    // fewer lines than asked: all there is back to the start or a gap, or a page's worth
    if (run.start > floor || floor === 0) return run;
    if (want >= OUTPUT_PAGE_MAX) return fromWholeCharacter(run);
  }
}

/** A run that may start inside a character (it was cut by a byte count): from the next whole one. */
function fromWholeCharacter(run: Run): Run {
  let i = 0;
  while (i < 3 && i < run.bytes.length && (run.bytes[i]! & 0xc0) === 0x80) i++;
  return i === 0 ? run : { start: run.start + i, bytes: run.bytes.subarray(i) };
}

/** The chunks' bytes that end at `end`, back as far as `from` without a gap. */
function backwards(view: OutputStream, chunks: StoredChunk[], end: number, from: number): Run | null {
  const parts: Uint8Array[] = [];
  let pos = end;
  for (let i = chunks.length - 1; i >= 0; i--) {
    const c = chunks[i]!;
    const p = position(view, c);
    if (p >= pos) continue;
    if (p + c.data.length < pos) break; // a gap
    const lo = Math.max(p, from);
    parts.unshift(c.data.subarray(lo - p, pos - p));
    pos = lo;
    if (pos <= from) break;
  }
  return pos >= end ? null : { start: pos, bytes: Buffer.concat(parts) };
}

/** `run` cut to `limit` bytes (at least one character), ending on a whole character. */
function cut(run: Run, limit: number): Run {
  if (run.bytes.length <= limit) return run;
  let end = charStart(run.bytes, limit);
  if (end === 0) end = charEnd(run.bytes, 0);
  return { start: run.start, bytes: run.bytes.subarray(0, end) };
}

/** Where the last `lines` lines start (a newline that ends the text ends its last line); 0 when there are fewer. */
function lineStart(bytes: Uint8Array, lines: number): number {
  if (lines === 0) return bytes.length;
  let i = bytes.length - 1;
  if (bytes[i] === 0x0a) i--;
  for (; i >= 0; i--) {
    if (bytes[i] === 0x0a && --lines === 0) return i + 1;
  }
  return 0;
}

/** total_bytes and kept of a view. */
function sizes(command: CommandRecord, state: OutputState, view: OutputStream): Pick<OutputPage, 'total_bytes' | 'kept'> {
  const streams = view === 'all' ? (['stdout', 'stderr'] as const) : [view];
  const final = isFinal(command.status);
  let total = 0;
  let head = 0;
  let tail = 0;
  let cut = false;
  for (const s of streams) {
    const k = state[s];
    total += final ? Math.max(command[`${s}_bytes`], k.end) : Math.max(k.seen, k.end);
    head += k.head;
    tail += k.tail_from === null ? 0 : k.end - k.tail_from;
    // while it runs, bytes not stored yet are on their way, not dropped: only a stream past its head is cut
    cut ||= k.tail_from !== null || (state.headLimit !== null && k.seen > state.headLimit);
  }
  return { total_bytes: total, kept: head + tail < total && (final || cut) ? { head_bytes: head, tail_bytes: tail } : null };
}

/** The result's head and tail, when they stand in for the full output, with why; else null. */
function summaryOf(command: CommandRecord, state: OutputState, view: OutputStream): { text: string; notice: string } | null {
  const text = view === 'all' ? command.stdout + command.stderr : command[view];
  if (state.dropped_at !== null) {
    return { text, notice: `the full output was dropped by retention at ${state.dropped_at} (--output-retention, --output-retention-size); this is the summary the result keeps (the first and last part of each stream)` };
  }
  if (isFinal(command.status) && state.bytes === 0 && text.length > 0) {
    return { text, notice: 'the control plane received no output as it was printed (an agent too old to send it, or it never reached the control plane); this is the summary the result keeps' };
  }
  return null;
}

/** A page of the summary text: its offsets index the text's own UTF-8 bytes. */
function summaryPage(command: CommandRecord, view: OutputStream, summary: { text: string; notice: string }, state: OutputState, q: PageQuery): OutputPage {
  const bytes = Buffer.from(summary.text, 'utf8');
  const total = view === 'all' ? command.stdout_bytes + command.stderr_bytes : command[`${view}_bytes`];
  let start: number;
  let end: number;
  if (q.kind === 'tail') {
    end = bytes.length;
    start = Math.max(lineStart(bytes, q.lines), charStart(bytes, end - OUTPUT_PAGE_MAX));
  } else if (q.kind === 'before') {
    end = charStart(bytes, Math.min(q.before, bytes.length));
    start = charStart(bytes, Math.max(0, end - q.limit));
  } else if (q.offset >= bytes.length) {
    start = end = q.offset;
  } else {
    start = charStart(bytes, q.offset);
    const run = cut({ start, bytes: bytes.subarray(start) }, q.limit);
    end = start + run.bytes.length;
  }
  return {
    command_id: command.id, stream: view, offset: start, next_offset: end, total_bytes: Math.max(total, bytes.length),
    kept: total > bytes.length ? { head_bytes: bytes.length, tail_bytes: 0 } : null,
    data: start < end ? bytes.subarray(start, end).toString('utf8') : '', eof: end >= bytes.length,
    source: 'summary', dropped_at: state.dropped_at, notice: summary.notice,
  };
}

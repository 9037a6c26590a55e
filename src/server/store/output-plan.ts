// What an append of output keeps, the same for every backend (the store's appendOutput says the
// rules): text chunks of older agents by character offset, pieces of bytes by their offset in the
// stream, each stream's head up to the cap and then its tail. The backends read the command's
// state under its row lock, plan here, and write the rows and the new state.

import { charStart } from '../../protocol/utf8.ts';
import { OUTPUT_PIECE_MAX } from '../../protocol/limits.ts';
import type { OutputChunk, OutputKeep, StreamName } from '../../protocol/wire.ts';
import type { OutputAppend, OutputState, StoredChunk, StreamKept } from './output-store.ts';

export interface PlanState {
  /** Characters of text chunks taken (older agents' offsets). */
  outputOffset: number;
  stdout: StreamKept;
  stderr: StreamKept;
}

export interface OutputPlan {
  state: PlanState;
  rows: StoredChunk[];
  /** Bytes kept by this append. */
  accepted: number;
}

export const STREAMS: readonly StreamName[] = ['stdout', 'stderr'];

/** Where a stream's bytes go on: the end of its head, or of its tail once that started. */
export const nextOf = (s: StreamKept): number => (s.tail_from === null ? s.head : s.end);

export function planOutput(cur: PlanState, append: OutputAppend, keep: OutputKeep): OutputPlan {
  const state: PlanState = { outputOffset: cur.outputOffset, stdout: { ...cur.stdout }, stderr: { ...cur.stderr } };
  const rows: StoredChunk[] = [];
  const keepRows = (stream: StreamName, offset: number, at: number, data: Uint8Array) => {
    for (let i = 0; i < data.length;) {
      let end = Math.min(data.length, i + OUTPUT_PIECE_MAX);
      if (end < data.length) end = Math.max(i + 1, charStart(data, end));
      rows.push({ stream, offset: offset + i, at: at + i, data: data.subarray(i, end) });
      i = end;
    }
  };

  const { next, accepted: texts } = planText(cur.outputOffset, append.chunks);
  state.outputOffset = next;
  for (const c of texts) {
    const s = state[c.stream];
    if (s.tail_from !== null) continue;
    let bytes: Uint8Array = Buffer.from(c.data, 'utf8');
    const room = keep.head_bytes - s.head;
    if (room <= 0) continue;
    if (bytes.length > room) bytes = bytes.subarray(0, charStart(bytes, room));
    keepRows(c.stream, s.head, state.stdout.head + state.stderr.head, bytes);
    s.head += bytes.length;
    s.end = s.head;
  }

  for (const p of append.pieces) {
    const s = state[p.stream];
    const pieceEnd = p.offset + p.data.length;
    if (s.tail_from === null && p.tail) {
      const start = Math.max(p.offset, s.head);
      if (start >= pieceEnd) continue;
      s.tail_from = start;
      s.end = start;
    }
    const from = nextOf(s);
    const to = s.tail_from === null ? Math.min(pieceEnd, keep.head_bytes) : Math.min(pieceEnd, s.tail_from + keep.tail_bytes);
    if (p.offset > from || to <= from) continue; // a gap (resend from `from`), or nothing new
    keepRows(p.stream, from, p.at + (from - p.offset), p.data.subarray(from - p.offset, to - p.offset));
    if (s.tail_from === null) s.head = to;
    s.end = to;
  }

  for (const name of STREAMS) state[name].seen = Math.max(state[name].seen, append.totals?.[name] ?? 0, state[name].end);
  return { state, rows, accepted: rows.reduce((n, r) => n + r.data.length, 0) };
}

/** Text chunks: only the one that starts at the stored offset moves it on (a resend below or a gap above is ignored). */
function planText(offset: number, chunks: OutputChunk[]): { next: number; accepted: OutputChunk[] } {
  let next = offset;
  const accepted: OutputChunk[] = [];
  for (const c of chunks) {
    if (c.offset !== next) continue;
    accepted.push(c);
    next += c.data.length;
  }
  return { next, accepted };
}

/** A command row's output columns (rows.ts OUTPUT_STATE_COLUMNS, with `all_end`) as the store's state. */
export function outputStateOf(r: Record<string, unknown>): OutputState {
  const kept = (s: StreamName): StreamKept => ({
    head: Number(r[`${s}_head`]), tail_from: r[`${s}_tail_from`] === null ? null : Number(r[`${s}_tail_from`]),
    end: Number(r[`${s}_end`]), seen: Number(r[`${s}_seen`]),
  });
  return {
    stdout: kept('stdout'), stderr: kept('stderr'), allEnd: r.all_end === null || r.all_end === undefined ? 0 : Number(r.all_end),
    headLimit: r.output_head_limit === null || r.output_head_limit === undefined ? null : Number(r.output_head_limit),
    bytes: Number(r.output_bytes), dropped_at: (r.output_dropped_at as string | null) ?? null,
  };
}

/** The command's own limits (fixed by its first append), or `keep` for a command that has none yet. */
export function limitsOf(r: Record<string, unknown>, keep: OutputKeep): OutputKeep {
  return r.output_head_limit === null || r.output_head_limit === undefined
    ? keep
    : { head_bytes: Number(r.output_head_limit), tail_bytes: Number(r.output_tail_limit) };
}

/** The parameters of a state update (both backends name them the same). */
export function stateParams(s: PlanState, keep: OutputKeep, added: number) {
  return {
    output_offset: s.outputOffset, head_limit: keep.head_bytes, tail_limit: keep.tail_bytes, added,
    stdout_head: s.stdout.head, stdout_tail_from: s.stdout.tail_from, stdout_end: s.stdout.end, stdout_seen: s.stdout.seen,
    stderr_head: s.stderr.head, stderr_tail_from: s.stderr.tail_from, stderr_end: s.stderr.end, stderr_seen: s.stderr.seen,
  };
}

/** [offset, next) in `at` positions of what an append kept, for its `output` event; null when nothing. */
export function keptRange(rows: StoredChunk[]): { offset: number; next: number } | null {
  if (rows.length === 0) return null;
  return { offset: Math.min(...rows.map((r) => r.at)), next: Math.max(...rows.map((r) => r.at + r.data.length)) };
}

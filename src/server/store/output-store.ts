// The part of the store contract about command output: each stream kept as bytes by offset, up
// to the control plane's cap (its head, then its tail), read back a few chunks at a time, and
// dropped by retention. Same contract rules as Store (store.ts): atomic, serial outcome, published.

import type { OutputChunk, OutputKeep, OutputStream, StreamName } from '../../protocol/wire.ts';

/** Bytes of one stream, as an agent's progress report brings them (its `pieces`, decoded). */
export interface OutputBytes {
  stream: StreamName;
  /** Where they start in their stream. */
  offset: number;
  /** Where they start in the command's output as printed (both streams). */
  at: number;
  data: Uint8Array;
  /** The stream's last bytes: the kept head ends before them (see OutputPiece.tail). */
  tail?: boolean;
}

/** What one progress report brings: text chunks (older agents), pieces of bytes, the streams' sizes so far. */
export interface OutputAppend {
  chunks: OutputChunk[];
  pieces: OutputBytes[];
  totals?: Record<StreamName, number>;
}

export type AppendOutcome =
  | {
    kind: 'ok';
    /** Where text chunks go on (characters). */
    nextOffset: number;
    /** Where each stream's bytes go on. */
    next: Record<StreamName, number>;
    /** What is kept of this command's streams (fixed by its first report). */
    keep: OutputKeep;
    /** Bytes this call kept. */
    accepted: number;
    /** The command is final: nothing more is taken. */
    final: boolean;
  }
  | { kind: 'not_found' }
  | { kind: 'not_yours' };

/** What is kept of one stream: [0, head) and, when tail_from is set, [tail_from, end). */
export interface StreamKept {
  head: number;
  tail_from: number | null;
  end: number;
  /** Bytes the agent said the stream had so far (kept or not). */
  seen: number;
}

/** What the store keeps of a command's output. */
export interface OutputState {
  stdout: StreamKept;
  stderr: StreamKept;
  /** Where the kept output ends as printed (both streams, `at` positions). */
  allEnd: number;
  /** Bytes of each stream's head the command keeps (its cap less the tail), or null before its first report. */
  headLimit: number | null;
  /** Bytes kept, both streams. */
  bytes: number;
  /** When retention dropped the chunks; null while kept. */
  dropped_at: string | null;
}

/** A stored chunk of output (at most OUTPUT_PIECE_MAX bytes, except text kept before complete output). */
export interface StoredChunk {
  stream: StreamName;
  offset: number;
  at: number;
  data: Uint8Array;
}

/** Which output retention drops: of finished commands, those that finished before `finishedBefore`, then the oldest while all kept output is over `maxTotalBytes`. */
export interface RetentionPolicy {
  finishedBefore: string;
  maxTotalBytes: number;
}

export interface DroppedOutput {
  command_id: string;
  bytes: number;
  reason: 'age' | 'size';
}

export interface OutputStore {
  /**
   * Keeps output a progress report brought, up to `keep` per stream (the command's own from its
   * first report on: a later change of the cap does not cut a running command's output).
   * Text chunks are taken by character offset as before complete output (a chunk must start where
   * the last one ended; others are ignored) and kept as bytes at the end of their stream's head.
   * Pieces are taken by byte offset per stream: the part at or past where the stream goes on is
   * kept (resends and overlaps change nothing), into the head up to `head_bytes`; a `tail` piece
   * starts the kept tail (it may lie past the head's end: the bytes between were not kept), which
   * takes `tail_bytes` at most. A piece past where its stream goes on is a gap and ignored. A final
   * command takes nothing (its output ended with its result). `totals` only grow.
   * Atomic and serialized per command (its row lock): of concurrent calls with the same output,
   * each byte is kept by exactly one. Publishes `output` when it kept something.
   */
  appendOutput(commandId: string, agentId: string, append: OutputAppend, keep: OutputKeep): Promise<AppendOutcome>;
  /** What is kept of the command's output, or undefined for an unknown command. One snapshot (one statement). */
  outputState(commandId: string): Promise<OutputState | undefined>;
  /**
   * Stored chunks of `view` (a stream by `offset`, or `all` by `at`) holding the positions
   * [p, p + maxBytes), where p is the first kept position at or after `from` (past a gap, where
   * the kept bytes go on). In order; the first may start before `from`. Empty when nothing is kept
   * at or after `from`. Reads only those chunks, never a whole stream; no snapshot across chunks
   * (a concurrent append or drop may show in part).
   */
  readOutput(commandId: string, view: OutputStream, from: number, maxBytes: number): Promise<StoredChunk[]>;
  /**
   * Stored chunks of `view` holding the positions [e - maxBytes, e), where e is where the kept
   * bytes before `before` end (`before` itself when the byte before it is kept; at a gap, where
   * the kept bytes before the gap end). In order; the first may start before them.
   */
  readOutputBefore(commandId: string, view: OutputStream, before: number, maxBytes: number): Promise<StoredChunk[]>;
  /**
   * Retention: drops the kept output (chunks) of finished commands, oldest finished first: those
   * finished before `policy.finishedBefore`, then more while all kept output is over
   * `policy.maxTotalBytes`; at most `limit` commands a call. The commands stay (records, result,
   * the head and tail the result carries); their output_dropped_at says when. Only final commands
   * lose output, and those take no more, so a drop never races an append. Concurrent callers
   * (sweepers on two replicas) drop each command's output once: exactly the rows it changed.
   */
  pruneOutput(policy: RetentionPolicy, now: string, limit: number): Promise<DroppedOutput[]>;
}

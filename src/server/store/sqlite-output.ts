// Command output in the SQLite store (sqlite-store.ts): appends planned by output-plan.ts under
// the write lock, reads of the chunks a page needs, and retention. Statements: sqlite-statements.ts.

import type { DatabaseSync } from 'node:sqlite';
import { transaction } from '../../common/sqlite.ts';
import { isFinal, type CommandStatus } from '../../protocol/command-status.ts';
import type { OutputKeep, OutputStream } from '../../protocol/wire.ts';
import { keptRange, limitsOf, nextOf, outputStateOf, planOutput, stateParams } from './output-plan.ts';
import type { ChunkReads, Statements } from './sqlite-statements.ts';
import type { StoreEvent } from './store-events.ts';
import type { AppendOutcome, DroppedOutput, OutputAppend, OutputState, RetentionPolicy, StoredChunk } from './output-store.ts';

type Row = Record<string, unknown>;

export class SqliteOutput {
  readonly #db: DatabaseSync;
  readonly #stmt: Statements;
  readonly #publish: (events: StoreEvent[]) => void;

  constructor(db: DatabaseSync, stmt: Statements, publish: (events: StoreEvent[]) => void) {
    this.#db = db;
    this.#stmt = stmt;
    this.#publish = publish;
  }

  async appendOutput(commandId: string, agentId: string, append: OutputAppend, keep: OutputKeep): Promise<AppendOutcome> {
    const out = transaction(this.#db, () => {
      const cur = this.#stmt.outputState.get(commandId) as Row | undefined;
      if (!cur) return { kind: 'not_found' as const };
      if (cur.agent_id !== agentId) return { kind: 'not_yours' as const };
      const limits = limitsOf(cur, keep);
      const state = outputStateOf(cur);
      const plan = { outputOffset: Number(cur.output_offset), stdout: state.stdout, stderr: state.stderr };
      const final = isFinal(cur.status as CommandStatus);
      const { state: next, rows, accepted } = final ? { state: plan, rows: [], accepted: 0 } : planOutput(plan, append, limits);
      for (const r of rows) this.#stmt.insertChunk.run(commandId, r.stream, r.offset, r.at, r.data.length, r.data);
      if (!final) this.#stmt.setOutputState.run({ id: commandId, ...stateParams(next, limits, accepted) });
      return {
        kind: 'ok' as const, nextOffset: next.outputOffset, next: { stdout: nextOf(next.stdout), stderr: nextOf(next.stderr) },
        keep: limits, accepted, final, range: keptRange(rows),
      };
    });
    if (out.kind !== 'ok') return out;
    const { range, ...outcome } = out;
    if (range) this.#publish([{ kind: 'output', command_id: commandId, ...range }]);
    return outcome;
  }

  async outputState(commandId: string): Promise<OutputState | undefined> {
    const row = this.#stmt.outputState.get(commandId) as Row | undefined;
    return row ? outputStateOf(row) : undefined;
  }

  async readOutput(commandId: string, view: OutputStream, from: number, maxBytes: number): Promise<StoredChunk[]> {
    const q = this.#reads(view);
    const base = { id: commandId, ...(view === 'all' ? {} : { stream: view }) };
    const c = q.containing.get({ ...base, pos: from }) as StoredChunk | undefined;
    if (c && position(view, c) + c.data.length > from) return q.range.all({ ...base, from: position(view, c), to: from + maxBytes }) as unknown as StoredChunk[];
    const first = (q.firstFrom.get({ ...base, pos: from }) as { pos: number | null } | undefined)?.pos;
    if (first === null || first === undefined) return [];
    return q.range.all({ ...base, from: first, to: first + maxBytes }) as unknown as StoredChunk[];
  }

  async readOutputBefore(commandId: string, view: OutputStream, before: number, maxBytes: number): Promise<StoredChunk[]> {
    if (before <= 0) return [];
    const q = this.#reads(view);
    const base = { id: commandId, ...(view === 'all' ? {} : { stream: view }) };
    const last = q.containing.get({ ...base, pos: before - 1 }) as StoredChunk | undefined;
    if (!last) return [];
    const end = Math.min(before, position(view, last) + last.data.length);
    const low = Math.max(0, end - maxBytes);
    const c = q.containing.get({ ...base, pos: low }) as StoredChunk | undefined;
    const from = c && position(view, c) + c.data.length > low ? position(view, c) : low;
    return q.range.all({ ...base, from, to: end }) as unknown as StoredChunk[];
  }

  async pruneOutput(policy: RetentionPolicy, now: string, limit: number): Promise<DroppedOutput[]> {
    return transaction(this.#db, () => {
      let total = (this.#stmt.keptOutputBytes.get() as { n: number }).n;
      const dropped: DroppedOutput[] = [];
      for (const c of this.#stmt.oldestKeptOutput.all(limit) as { id: string; output_bytes: number; finished_at: string }[]) {
        const reason = c.finished_at < policy.finishedBefore ? 'age' : total > policy.maxTotalBytes ? 'size' : null;
        if (reason === null) break;
        this.#stmt.deleteChunks.run(c.id);
        if (Number(this.#stmt.markOutputDropped.run(now, c.id).changes) === 0) continue;
        total -= c.output_bytes;
        dropped.push({ command_id: c.id, bytes: c.output_bytes, reason });
      }
      return dropped;
    });
  }

  #reads(view: OutputStream): ChunkReads {
    return view === 'all' ? this.#stmt.allChunks : this.#stmt.streamChunks;
  }
}

/** Where a chunk starts in a view: its stream's offset, or (`all`) its position as printed. */
export const position = (view: OutputStream, c: StoredChunk): number => (view === 'all' ? c.at : c.offset);

// Command output in the PostgreSQL store (postgres-store.ts): appends take the command's row lock
// and plan with output-plan.ts, as SQLite's do under its write lock; the output event is sent
// (pg_notify) inside the same transaction. SQL: output-sql.ts.

import type pg from 'pg';
import { isFinal, type CommandStatus } from '../../../protocol/command-status.ts';
import type { OutputKeep, OutputStream } from '../../../protocol/wire.ts';
import { keptRange, limitsOf, nextOf, outputStateOf, planOutput, stateParams } from '../output-plan.ts';
import type { AppendOutcome, DroppedOutput, OutputAppend, OutputState, RetentionPolicy, StoredChunk } from '../output-store.ts';
import { publishOutput } from './events-sql.ts';
import * as sql from './output-sql.ts';
import { inTransaction } from './pool.ts';

export class PostgresOutput {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async appendOutput(commandId: string, agentId: string, append: OutputAppend, keep: OutputKeep): Promise<AppendOutcome> {
    // The command's row lock serializes appends to it: each byte is kept once.
    return inTransaction(this.#pool, async (db): Promise<AppendOutcome> => {
      const cur = await sql.outputState(db, commandId, true);
      if (!cur) return { kind: 'not_found' };
      if (cur.agent_id !== agentId) return { kind: 'not_yours' };
      const limits = limitsOf(cur, keep);
      const state = outputStateOf(cur);
      const plan = { outputOffset: Number(cur.output_offset), stdout: state.stdout, stderr: state.stderr };
      const final = isFinal(cur.status as CommandStatus);
      const { state: next, rows, accepted } = final ? { state: plan, rows: [], accepted: 0 } : planOutput(plan, append, limits);
      await sql.insertChunks(db, commandId, rows);
      if (!final) await sql.setOutputState(db, commandId, stateParams(next, limits, accepted));
      const range = keptRange(rows);
      if (range) await publishOutput(db, commandId, range.offset, range.next);
      return { kind: 'ok', nextOffset: next.outputOffset, next: { stdout: nextOf(next.stdout), stderr: nextOf(next.stderr) }, keep: limits, accepted, final };
    });
  }

  async outputState(commandId: string): Promise<OutputState | undefined> {
    const row = await sql.outputState(this.#pool, commandId);
    return row ? outputStateOf(row) : undefined;
  }

  async readOutput(commandId: string, view: OutputStream, from: number, maxBytes: number): Promise<StoredChunk[]> {
    const c = await sql.containing(this.#pool, commandId, view, from);
    if (c && position(view, c) + c.data.length > from) return sql.range(this.#pool, commandId, view, position(view, c), from + maxBytes);
    const first = await sql.firstFrom(this.#pool, commandId, view, from);
    return first === null ? [] : sql.range(this.#pool, commandId, view, first, first + maxBytes);
  }

  async readOutputBefore(commandId: string, view: OutputStream, before: number, maxBytes: number): Promise<StoredChunk[]> {
    if (before <= 0) return [];
    const last = await sql.containing(this.#pool, commandId, view, before - 1);
    if (!last) return [];
    const end = Math.min(before, position(view, last) + last.data.length);
    const low = Math.max(0, end - maxBytes);
    const c = await sql.containing(this.#pool, commandId, view, low);
    return sql.range(this.#pool, commandId, view, c && position(view, c) + c.data.length > low ? position(view, c) : low, end);
  }

  async pruneOutput(policy: RetentionPolicy, now: string, limit: number): Promise<DroppedOutput[]> {
    // The candidates' row locks (SKIP LOCKED): two sweepers never drop the same command's output.
    return inTransaction(this.#pool, async (db) => {
      let total = await sql.keptOutputBytes(db);
      const dropped: DroppedOutput[] = [];
      for (const c of await sql.oldestKeptOutput(db, limit)) {
        const reason = c.finished_at < policy.finishedBefore ? 'age' : total > policy.maxTotalBytes ? 'size' : null;
        if (reason === null) break;
        if (!(await sql.dropOutput(db, c.id, now))) continue;
        total -= c.output_bytes;
        dropped.push({ command_id: c.id, bytes: c.output_bytes, reason });
      }
      return dropped;
    });
  }
}

const position = (view: OutputStream, c: StoredChunk): number => (view === 'all' ? c.at : c.offset);

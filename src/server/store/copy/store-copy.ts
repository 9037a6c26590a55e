// `myx store copy`: one store's whole state into another (SQLite to PostgreSQL when a control
// plane moves to replicas, or back), so that no agent re-enrolls: agent ids, tokens and pinned
// fingerprints, operator and enrollment tokens, runs, commands and output, and the certificate
// fingerprint the agents pinned. The target must hold nothing unless `force` (then it is
// replaced); the copy lands in one transaction.

import type { StoreTarget } from '../../options.ts';
import { COPY_TABLES, type CopyEnd } from './copy-tables.ts';
import { PostgresEnd } from './postgres-end.ts';
import { SqliteEnd } from './sqlite-end.ts';

export class StoreCopyError extends Error {
  readonly code = 'STORE_COPY_REFUSED';
}

export interface CopyOptions {
  /** Replace what the target holds. @default false */
  force?: boolean;
}

/** Rows copied per table. */
export type CopyCounts = Record<string, number>;

export async function copyStore(from: StoreTarget, to: StoreTarget, opts: CopyOptions = {}): Promise<CopyCounts> {
  if (from.kind === to.kind && (from.kind === 'sqlite' ? from.path === (to as typeof from).path : from.url === (to as typeof from).url)) {
    throw new StoreCopyError('--from and --to are the same store');
  }
  const source = await openEnd(from);
  try {
    const target = await openEnd(to);
    try {
      const held = await target.countRows();
      if (held > 0 && !opts.force) {
        throw new StoreCopyError(`${target.display} is not empty (${held} rows: a control plane ran on it, or a copy landed there already); `
          + 'pass --force to replace what it holds');
      }
      const counts: CopyCounts = {};
      await source.snapshot(() => target.writeAll(async (w) => {
        if (held > 0) await w.clear();
        for (const table of COPY_TABLES) {
          counts[table.name] = 0;
          for await (const rows of source.read(table)) {
            await w.insert(table, rows);
            counts[table.name] = (counts[table.name] ?? 0) + rows.length;
          }
        }
      }));
      return counts;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

async function openEnd(t: StoreTarget): Promise<CopyEnd> {
  return t.kind === 'sqlite' ? new SqliteEnd(t.path) : PostgresEnd.open(t.url, t.display);
}

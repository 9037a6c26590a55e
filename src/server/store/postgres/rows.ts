// The PostgreSQL side of the row boundary: bytea columns (text that may hold NUL) are written as
// UTF-8 bytes and read back as strings, so rows reach the shared mapping (../rows.ts) as SQLite's do.

import type { Row } from '../rows.ts';

/** A string for a bytea column. */
export function bytes(text: string): Buffer;
export function bytes(text: string | null): Buffer | null;
export function bytes(text: string | null): Buffer | null {
  return text === null ? null : Buffer.from(text, 'utf8');
}

/** Every bytea value of a row back to a string. */
export function textRow(row: Row): Row {
  for (const k in row) if (Buffer.isBuffer(row[k])) row[k] = (row[k] as Buffer).toString('utf8');
  return row;
}

// The numbered migrations of this database, in order. They are modules, not files read at run
// time, so they travel inside the bundle.

import type { Migration } from '../common/sqlite.ts';
import m0001 from './journal-migrations/0001-initial.ts';
import m0002 from './journal-migrations/0002-process.ts';
import m0003 from './journal-migrations/0003-write-probe.ts';

export const JOURNAL_MIGRATIONS: Migration[] = [
  { version: 1, name: '0001-initial', sql: m0001 },
  { version: 2, name: '0002-process', sql: m0002 },
  { version: 3, name: '0003-write-probe', sql: m0003 },
];

// The numbered migrations of the PostgreSQL store, in order. Modules, not files read at run time,
// so they travel inside the bundle. They follow SQLite's (sqlite-migrations.ts) in meaning.

import type { Migration } from '../../../common/sqlite.ts';
import m0001 from './migrations/0001-initial.ts';
import m0002 from './migrations/0002-removal-tokens.ts';
import m0003 from './migrations/0003-upgrades.ts';
import m0004 from './migrations/0004-console-sessions.ts';
import m0005 from './migrations/0005-replicas.ts';
import m0006 from './migrations/0006-operators-audit.ts';
import m0007 from './migrations/0007-complete-output.ts';
import m0008 from './migrations/0008-claims.ts';
import m0009 from './migrations/0009-webhooks.ts';
import m0010 from './migrations/0010-live-commands.ts';

export const POSTGRES_MIGRATIONS: Migration[] = [
  { version: 1, name: '0001-initial', sql: m0001 },
  { version: 2, name: '0002-removal-tokens', sql: m0002 },
  { version: 3, name: '0003-upgrades', sql: m0003 },
  { version: 4, name: '0004-console-sessions', sql: m0004 },
  { version: 5, name: '0005-replicas', sql: m0005 },
  { version: 6, name: '0006-operators-audit', sql: m0006 },
  { version: 7, name: '0007-complete-output', sql: m0007 },
  { version: 8, name: '0008-claims', sql: m0008 },
  { version: 9, name: '0009-webhooks', sql: m0009 },
  { version: 10, name: '0010-live-commands', sql: m0010 },
];

// The numbered migrations of this database, in order. They are modules, not files read at run
// time, so they travel inside the bundle.

import type { Migration } from '../../common/sqlite.ts';
import m0001 from './sqlite-migrations/0001-initial.ts';
import m0002 from './sqlite-migrations/0002-delivery.ts';
import m0003 from './sqlite-migrations/0003-runs-labels.ts';
import m0004 from './sqlite-migrations/0004-removal-tokens.ts';
import m0005 from './sqlite-migrations/0005-upgrades.ts';
import m0006 from './sqlite-migrations/0006-console-sessions.ts';
import m0007 from './sqlite-migrations/0007-replicas.ts';
import m0008 from './sqlite-migrations/0008-operators-audit.ts';
import m0009 from './sqlite-migrations/0009-complete-output.ts';
import m0010 from './sqlite-migrations/0010-claims.ts';
import m0011 from './sqlite-migrations/0011-webhooks.ts';
import m0012 from './sqlite-migrations/0012-live-commands.ts';

export const SERVER_MIGRATIONS: Migration[] = [
  { version: 1, name: '0001-initial', sql: m0001 },
  { version: 2, name: '0002-delivery', sql: m0002 },
  { version: 3, name: '0003-runs-labels', sql: m0003 },
  { version: 4, name: '0004-removal-tokens', sql: m0004, rebuildsTables: true },
  { version: 5, name: '0005-upgrades', sql: m0005 },
  { version: 6, name: '0006-console-sessions', sql: m0006 },
  { version: 7, name: '0007-replicas', sql: m0007 },
  { version: 8, name: '0008-operators-audit', sql: m0008 },
  { version: 9, name: '0009-complete-output', sql: m0009 },
  { version: 10, name: '0010-claims', sql: m0010 },
  { version: 11, name: '0011-webhooks', sql: m0011 },
  { version: 12, name: '0012-live-commands', sql: m0012 },
];

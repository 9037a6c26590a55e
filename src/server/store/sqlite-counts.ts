// fleetCounts (fleet-counts.ts) on SQLite: two grouped statements, prepared once. The commands'
// count reads the partial index commands_live (migration 0011) alone, never the table.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { FleetCounts, FleetCountsStore } from './fleet-counts.ts';

export const AGENT_COUNTS_SQL = `
  SELECT CASE WHEN last_heartbeat_at IS NULL THEN 'enrolled' WHEN last_heartbeat_at >= ? THEN 'online' ELSE 'offline' END AS status,
         mode, count(*) AS count
  FROM agents WHERE removed_at IS NULL GROUP BY 1, 2`;

export const LIVE_COMMAND_COUNTS_SQL = `
  SELECT status, count(*) AS count, min(created_at) AS oldest
  FROM commands WHERE status IN ('waiting', 'queued', 'dispatched', 'running') GROUP BY status`;

export class SqliteCounts implements FleetCountsStore {
  readonly #agents: StatementSync;
  readonly #commands: StatementSync;

  constructor(db: DatabaseSync) {
    this.#agents = db.prepare(AGENT_COUNTS_SQL);
    this.#commands = db.prepare(LIVE_COMMAND_COUNTS_SQL);
  }

  async fleetCounts(onlineSince: string): Promise<FleetCounts> {
    return {
      agents: this.#agents.all(onlineSince) as unknown as FleetCounts['agents'],
      commands: this.#commands.all() as unknown as FleetCounts['commands'],
    };
  }
}

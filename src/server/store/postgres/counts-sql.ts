// fleetCounts (fleet-counts.ts) on PostgreSQL: two grouped statements; the commands' count reads
// the partial index commands_live (migration 0009), an index-only scan once vacuumed.

import type { FleetCounts } from '../fleet-counts.ts';
import type { Db } from './pool.ts';

export const AGENT_COUNTS_SQL = `
  SELECT CASE WHEN last_heartbeat_at IS NULL THEN 'enrolled' WHEN last_heartbeat_at >= $1 THEN 'online' ELSE 'offline' END AS status,
         mode, count(*)::int AS count
  FROM agents WHERE removed_at IS NULL GROUP BY 1, 2`;

export const LIVE_COMMAND_COUNTS_SQL = `
  SELECT status, count(*)::int AS count, min(created_at) AS oldest
  FROM commands WHERE status IN ('waiting', 'queued', 'dispatched', 'running') GROUP BY status`;

export async function fleetCounts(db: Db, onlineSince: string): Promise<FleetCounts> {
  const [agents, commands] = await Promise.all([
    db.query<FleetCounts['agents'][number]>(AGENT_COUNTS_SQL, [onlineSince]),
    db.query<FleetCounts['commands'][number]>(LIVE_COMMAND_COUNTS_SQL),
  ]);
  return { agents: agents.rows, commands: commands.rows };
}

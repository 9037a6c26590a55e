// The part of the store contract the metrics read (metrics.ts): how many agents there are by status
// and mode, and how many commands wait or run, counted in the database in a few grouped statements.
// Only live commands (waiting, queued, dispatched, running) are counted here, over a partial index
// that holds them alone: the cost follows the queue, not the history (final states are counted as
// they happen, from the store's event feed).

import type { AgentMode } from '../../protocol/wire.ts';

export const LIVE_STATUSES = ['waiting', 'queued', 'dispatched', 'running'] as const;
export type LiveStatus = (typeof LIVE_STATUSES)[number];

/** As `myx agents` shows them: never heard from, heard from within the offline limit, or not. */
export type AgentLiveness = 'enrolled' | 'online' | 'offline';

export interface FleetCounts {
  /** Enrolled (not removed) agents, one entry per status and mode that has any. */
  agents: { status: AgentLiveness; mode: AgentMode; count: number }[];
  /** One entry per live status that has any; `oldest`: the earliest created_at among them. */
  commands: { status: LiveStatus; count: number; oldest: string }[];
}

export interface FleetCountsStore {
  /**
   * Counts agents by status (online: a heartbeat at or after `onlineSince`) and mode, and live
   * commands by status, with the oldest of each. Read only; each count is one statement, so the
   * two may be from moments apart.
   */
  fleetCounts(onlineSince: string): Promise<FleetCounts>;
}

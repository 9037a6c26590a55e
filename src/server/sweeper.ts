// Time-driven transitions of the command lifecycle, checked every second by one replica at a
// time (the store's sweeper lock): leases that ran out before the agent started a command (back
// to queued), delivery TTLs that passed (expired), runs that hold commands back for rate control
// (caught up after a restart or a missed step), and queued commands no replica pushed (the one
// that queued them died, or is far behind), and output retention (every few seconds: the kept
// output of the oldest finished commands is dropped past its age or the total size), and webhook
// deliveries that are over, 30 days on. SQLite: the one process always sweeps.

import type { Logger } from '../common/logger.ts';
import type { RunControl } from './run-control.ts';
import type { Store } from './store/store.ts';

/** A queued command of a web-mode agent that no push was tried for this long is pushed by the sweeper (the heartbeat takes it after 10 s). */
export const SWEEPER_PUSH_AFTER_MS = 3000;
/** Pushes the sweeper starts per sweep, at most. */
const SWEEPER_PUSH_BATCH = 500;
/** How often retention looks at the kept output (it sums it up: not every second). */
export const RETENTION_EVERY_MS = 5000;
/** Commands whose output one retention call drops, at most (it goes on at once while there are more). */
const RETENTION_BATCH = 100;
/** Webhook deliveries that are over (delivered or failed) are kept this long after they were made. */
export const DELIVERY_RETENTION_SECONDS = 30 * 86400;
const DELIVERY_PRUNE_BATCH = 1000;

export interface RetentionSettings {
  /** Output of commands that finished longer ago than this is dropped. */
  retentionSeconds: number;
  /** Past this many bytes of kept output in all, the oldest finished commands' output is dropped. */
  retentionBytes: number;
}

export interface Sweeper {
  /** Whether this replica swept last time it tried (it holds the store's sweeper lock). */
  readonly active: boolean;
  stop(): void;
}

export function startSweeper(store: Store, runs: RunControl, log: Logger, retention: RetentionSettings, everyMs = 1000): Sweeper {
  let running = false;
  let active = false;
  let retainedAt = 0;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      const lead = await store.holdSweeperLock();
      if (lead !== active) log.info(lead ? 'this replica sweeps now (leases, delivery TTLs, rate control, unpushed commands)' : 'another replica sweeps now');
      active = lead;
      if (!lead) return;
      const now = new Date();
      for (const c of await store.requeueExpiredLeases(now.toISOString())) {
        log.warn({ command_id: c.id, agent: c.agent_name }, 'lease ran out before the agent started the command: queued again');
      }
      for (const c of await store.expireQueued(now.toISOString())) {
        log.info({ command_id: c.id, agent: c.agent_name }, 'command expired: its delivery TTL passed while it was queued');
        await runs.commandEnded(c);
      }
      await runs.advanceAll();
      const awaiting = await store.commandsAwaitingPush(new Date(now.getTime() - SWEEPER_PUSH_AFTER_MS).toISOString(), now.toISOString(), SWEEPER_PUSH_BATCH);
      const unpushed = awaiting.filter((c) => !runs.pushing(c.id)); // this replica's own, still waiting their turn
      if (unpushed.length > 0) {
        log.info({ commands: unpushed.length }, 'pushing queued commands that no replica pushed');
        runs.inBackground('the sweeper\'s pushes', () => runs.deliver(unpushed));
      }
      if (now.getTime() - retainedAt >= RETENTION_EVERY_MS) {
        retainedAt = now.getTime();
        await applyRetention(store, log, retention, now);
        await pruneDeliveries(store, log, now);
      }
    } catch (err) {
      log.error({ err }, 'sweep failed');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), everyMs);
  void sweep(); // at once: a control plane that starts knows whether it sweeps (and catches up) before its first second
  return {
    get active() {
      return active;
    },
    stop: () => clearInterval(timer),
  };
}

/** Drops webhook deliveries that are over and older than DELIVERY_RETENTION_SECONDS, in batches. */
async function pruneDeliveries(store: Store, log: Logger, now: Date): Promise<void> {
  const before = new Date(now.getTime() - DELIVERY_RETENTION_SECONDS * 1000).toISOString();
  let n = 0;
  for (let got = DELIVERY_PRUNE_BATCH; got === DELIVERY_PRUNE_BATCH;) n += got = await store.pruneDeliveries(before, DELIVERY_PRUNE_BATCH);
  if (n > 0) log.info({ deliveries: n }, 'webhook deliveries that were over 30 days ago dropped');
}

/** Drops kept output past its age or the total size, oldest finished first, in batches. */
async function applyRetention(store: Store, log: Logger, r: RetentionSettings, now: Date): Promise<void> {
  const policy = { finishedBefore: new Date(now.getTime() - r.retentionSeconds * 1000).toISOString(), maxTotalBytes: r.retentionBytes };
  for (;;) {
    const dropped = await store.pruneOutput(policy, now.toISOString(), RETENTION_BATCH);
    for (const reason of ['age', 'size'] as const) {
      const these = dropped.filter((d) => d.reason === reason);
      if (these.length === 0) continue;
      log.info({ commands: these.length, bytes: these.reduce((n, d) => n + d.bytes, 0), command_ids: these.slice(0, 10).map((d) => d.command_id) },
        reason === 'age' ? `output retention: dropped the kept output of commands finished more than ${r.retentionSeconds} s ago (their records and summaries stay)`
          : `output retention: dropped the kept output of the oldest finished commands, all kept output being over ${r.retentionBytes} bytes (their records and summaries stay)`);
    }
    if (dropped.length < RETENTION_BATCH) return;
  }
}

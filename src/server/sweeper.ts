// Time-driven transitions of the command lifecycle, checked every second: leases that ran out
// before the agent started a command (back to queued), delivery TTLs that passed (expired), and
// runs that hold commands back for rate control (caught up after a restart or a missed event).

import type { Logger } from '../common/logger.ts';
import type { CommandEvents } from './command-events.ts';
import type { RunControl } from './run-control.ts';
import type { Store } from './store/store.ts';

export function startSweeper(store: Store, events: CommandEvents, runs: RunControl, log: Logger, everyMs = 1000): () => void {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      const now = new Date().toISOString();
      for (const c of await store.requeueExpiredLeases(now)) {
        log.warn({ command_id: c.id, agent: c.agent_name }, 'lease ran out before the agent started the command: queued again');
        events.wakeAgent(c.agent_id);
      }
      for (const c of await store.expireQueued(now)) {
        log.info({ command_id: c.id, agent: c.agent_name }, 'command expired: its delivery TTL passed while it was queued');
        await runs.commandEnded(c);
      }
      await runs.advanceAll();
    } catch (err) {
      log.error({ err }, 'sweep failed');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), everyMs);
  return () => clearInterval(timer);
}

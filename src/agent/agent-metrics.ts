// The agent's Prometheus metrics (docs/metrics.md), served on `metrics_listen` (a loopback address:
// the agent's HTTPS service takes only the control plane, and poll-mode agents have none). Loaded
// only when that is set; every value is read when scraped, from the counters and the parts that know.

import { statSync } from 'node:fs';
import { Counter, Gauge } from 'prom-client';
import type { Logger } from '../common/logger.ts';
import { createRegistry, exposition } from '../common/metrics.ts';
import type { LoopbackAddress } from '../common/loopback-address.ts';
import { startMetricsListener, type MetricsListener } from '../common/metrics-listener.ts';
import type { AgentMode } from '../protocol/wire.ts';
import type { AgentCounters } from './agent-counters.ts';
import type { LinkState } from './heartbeat.ts';

const LINK_STATES: LinkState[] = ['connecting', 'connected', 'disconnected', 'removed'];
const LOOP_SAMPLE_MS = 100;

export interface AgentMetricsSources {
  mode: AgentMode;
  counters: AgentCounters;
  journalPath: string;
  journalWritable: () => boolean;
  /** Results the journal could not take, kept in memory. */
  heldResults: () => number;
  /** Results not acknowledged by the control plane yet. */
  unacknowledged: () => number;
  running: () => number;
  link: () => LinkState;
}

export function startAgentMetrics(at: LoopbackAddress, s: AgentMetricsSources, log: Logger): Promise<MetricsListener> {
  // an idle agent wakes up for the loop's delay 10 times a second, not 100 (a stall shorter than that is no news there)
  const registry = createRegistry('myx_agent', { mode: s.mode }, LOOP_SAMPLE_MS);
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => number) => new Gauge({
    name, help, registers,
    collect() {
      this.set(read());
    },
  });
  gauge('myx_agent_journal_writable', '1 while the journal can be written; 0 on a full or read-only disk (new commands are refused meanwhile).', () => (s.journalWritable() ? 1 : 0));
  gauge('myx_agent_journal_bytes', 'Size of the journal on disk (its SQLite file and write-ahead log).', () => fileSize(s.journalPath) + fileSize(`${s.journalPath}-wal`));
  gauge('myx_agent_results_held', 'Results kept in memory because the journal could not take them (lost if the agent stops before they are acknowledged).', s.heldResults);
  gauge('myx_agent_results_unacknowledged', 'Results waiting for the control plane to acknowledge them (spooled; sent again until it does).', s.unacknowledged);
  gauge('myx_agent_commands_running', 'Commands running now.', s.running);
  new Gauge({
    name: 'myx_agent_link_state', help: 'The link to the control plane: 1 for the state it is in (connecting, connected, disconnected, removed), 0 for the others.',
    labelNames: ['state'], registers,
    collect() {
      const now = s.link();
      for (const state of LINK_STATES) this.set({ state }, state === now ? 1 : 0);
    },
  });
  new Counter({
    name: 'myx_agent_commands_accepted_total', help: 'Commands journaled and started (a command delivered twice counts once).', registers,
    collect() {
      this.reset();
      this.inc(s.counters.accepted);
    },
  });
  new Counter({
    name: 'myx_agent_commands_finished_total', help: 'Results of commands by status (succeeded, failed, timed_out, cancelled, lost).', labelNames: ['status'], registers,
    collect() {
      this.reset();
      for (const [status, n] of s.counters.finished) this.inc({ status }, n);
    },
  });
  new Counter({
    name: 'myx_agent_requests_total', help: 'Requests the web service answered (pushes: route="/api/execute"), by route as registered and status class.',
    labelNames: ['route', 'code'], registers,
    collect() {
      this.reset();
      for (const [route, counts] of s.counters.requests) {
        counts.forEach((n, c) => {
          if (n > 0) this.inc({ route, code: `${c}xx` }, n);
        });
      }
    },
  });
  return startMetricsListener(at, () => exposition(registry), log);
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

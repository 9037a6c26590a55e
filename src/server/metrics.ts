// The control plane's Prometheus metrics (docs/metrics.md lists each): the fleet and the queue as
// the store counts them (cached a few seconds, so scrapes cost the database a grouped count over
// the agents and the live commands' index at most that often), command status changes from the
// store's event feed, pushes, held long polls and event streams, store latency (metrics-store.ts),
// and the process. Hot paths only bump numbers here; everything else is read when scraped.

import type { Registry } from 'prom-client';
import { Counter, Gauge, Histogram } from 'prom-client';
import { RequestFailedError } from '../common/json-client.ts';
import type { Logger } from '../common/logger.ts';
import { createRegistry, exposition, LATENCY_BUCKETS, type MetricsText } from '../common/metrics.ts';
import { COMMAND_STATUSES, type CommandStatus } from '../protocol/command-status.ts';
import { LIVE_STATUSES, type FleetCounts } from './store/fleet-counts.ts';
import type { Store } from './store/store.ts';

/** How long one count of the fleet serves scrapes. */
const COUNTS_TTL_MS = 5_000;

/** Why a push failed, in a few classes (the label of myx_push_failures_total). */
export const PUSH_FAILURE_REASONS = ['unreachable', 'timeout', 'tls', 'pin_mismatch', 'reset', 'refused_by_agent', 'agent_error', 'agent_storage_full', 'upgrading', 'other'] as const;
export type PushFailureReason = (typeof PUSH_FAILURE_REASONS)[number];

export function pushFailureReason(err: unknown): PushFailureReason {
  if (!(err instanceof RequestFailedError)) return 'other';
  if (err.code === 'AGENT_UPGRADING') return 'upgrading';
  if (err.code === 'AGENT_STORAGE_FULL') return 'agent_storage_full';
  if (err.status >= 500) return 'agent_error';
  if (err.status > 0) return 'refused_by_agent';
  if (err.code === 'CERT_PIN_MISMATCH') return 'pin_mismatch';
  if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(err.code)) return 'unreachable';
  if (['ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'POOL_TIMEOUT'].includes(err.code)) return 'timeout';
  if (err.code === 'EPROTO' || /^ERR_(TLS|SSL)_/.test(err.code) || /CERT|SELF_SIGNED/.test(err.code)) return 'tls';
  if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(err.code)) return 'reset';
  return 'other';
}

/** What AgentClient tells about each push it makes. */
export interface PushMetrics {
  /** A push that began at `started` (performance.now()) ended, with `err` when it failed. */
  pushed(started: number, err?: unknown): void;
}

export interface WatchOptions {
  store: Store;
  /** An agent is online while its last heartbeat is younger than this. */
  onlineWithinMs: () => number;
  /** Whether this replica is the sweeper now. */
  sweeping: () => boolean;
  log: Logger;
}

/** A label set bound once (no label lookup per event). */
type Inc = { inc(): void };
type Observe = { observe(value: number): void };

export class ServerMetrics implements PushMetrics {
  readonly registry: Registry;
  readonly #pushOk: Observe;
  readonly #pushFailed: Observe;
  readonly #failures: Record<PushFailureReason, Inc>;
  readonly #changes: Record<CommandStatus, Inc>;
  #longPolls = 0;
  #streams = 0;
  #watch: WatchOptions | undefined;
  #unsubscribe: (() => void) | undefined;
  #counts: { at: number; value: Promise<FleetCounts> } | undefined;
  #lastCounts: FleetCounts = { agents: [], commands: [] };

  constructor(storeKind: 'sqlite' | 'postgres') {
    const registry = (this.registry = createRegistry('myx', { store: storeKind }));
    const registers = [registry];
    const push = new Histogram({
      name: 'myx_push_duration_seconds', help: 'Pushes of a command to a web-mode agent (POST /api/execute), from the request to its answer or failure.',
      labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers,
    });
    // every series of a fixed label set is there from the start, at 0: rate() and absent() need no first event
    for (const outcome of ['ok', 'failed']) push.zero({ outcome });
    this.#pushOk = push.labels('ok');
    this.#pushFailed = push.labels('failed');
    const failures = new Counter({ name: 'myx_push_failures_total', help: 'Failed pushes by reason class; the command falls back to the agent\'s heartbeat.', labelNames: ['reason'], registers });
    this.#failures = Object.fromEntries(PUSH_FAILURE_REASONS.map((r) => [r, zeroed(failures.labels(r))])) as Record<PushFailureReason, Inc>;
    const changes = new Counter({
      name: 'myx_command_status_changes_total',
      help: 'Commands that entered each status, as heard on the store\'s event feed (on PostgreSQL every replica hears every replica\'s writes: take max(), not sum(), across replicas).',
      labelNames: ['status'], registers,
    });
    this.#changes = Object.fromEntries(COMMAND_STATUSES.map((s) => [s, zeroed(changes.labels(s))])) as Record<CommandStatus, Inc>;
    new Gauge({ name: 'myx_long_polls_held', help: 'Long polls of poll-mode agents held open now, waiting for a command.', registers, collect: gaugeOf(() => this.#longPolls) });
    new Gauge({ name: 'myx_event_streams_open', help: 'Event streams (GET /api/commands/stream: myx run, myx logs -f, the console) open now.', registers, collect: gaugeOf(() => this.#streams) });
    new Gauge({ name: 'myx_sweeper', help: '1 while this replica is the one that sweeps (leases, delivery TTLs, rate control, unpushed commands), else 0.', registers, collect: gaugeOf(() => (this.#watch?.sweeping() ? 1 : 0)) });
    const self = this;
    new Gauge({
      name: 'myx_agents', help: 'Enrolled agents by status (enrolled: never heard from; online; offline) and mode (web, poll).', labelNames: ['status', 'mode'], registers,
      async collect() {
        const counts = await self.#fleet();
        for (const status of ['enrolled', 'online', 'offline'] as const) {
          for (const mode of ['web', 'poll'] as const) this.set({ status, mode }, counts.agents.find((a) => a.status === status && a.mode === mode)?.count ?? 0);
        }
      },
    });
    new Gauge({
      name: 'myx_commands', help: 'Commands waiting (rate control), queued, dispatched (handed out, not started) and running now. Queue depth: status="queued".',
      labelNames: ['status'], registers,
      async collect() {
        const counts = await self.#fleet();
        for (const status of LIVE_STATUSES) this.set({ status }, counts.commands.find((c) => c.status === status)?.count ?? 0);
      },
    });
    new Gauge({
      name: 'myx_commands_oldest_age_seconds', help: 'Age of the oldest command in each live status (0 when there is none); status="queued" includes commands waiting for offline agents, up to their delivery TTL.',
      labelNames: ['status'], registers,
      async collect() {
        const counts = await self.#fleet();
        const now = Date.now();
        for (const status of LIVE_STATUSES) {
          const oldest = counts.commands.find((c) => c.status === status)?.oldest;
          this.set({ status }, oldest ? Math.max(0, (now - Date.parse(oldest)) / 1000) : 0);
        }
      },
    });
  }

  /** Starts counting status changes from the store's feed and counting the fleet from `store` when scraped. */
  watch(opts: WatchOptions): void {
    this.#watch = opts;
    this.#unsubscribe = opts.store.subscribe((e) => {
      if (e.kind === 'command') this.#changes[e.status].inc();
    });
  }

  close(): void {
    this.#unsubscribe?.();
  }

  pushed(started: number, err?: unknown): void {
    const seconds = (performance.now() - started) / 1000;
    if (err === undefined) {
      this.#pushOk.observe(seconds);
      return;
    }
    this.#pushFailed.observe(seconds);
    this.#failures[pushFailureReason(err)].inc();
  }

  /** A long poll starts waiting for a command (once per poll); pollEnded() when it answers. */
  pollHeld(): void {
    this.#longPolls++;
  }

  pollEnded(): void {
    this.#longPolls--;
  }

  /** An event stream opened; call what it returns (once, or more: only the first counts) when it closes. */
  streamOpened(): () => void {
    this.#streams++;
    let open = true;
    return () => {
      if (open) this.#streams--;
      open = false;
    };
  }

  render(): Promise<MetricsText> {
    return exposition(this.registry);
  }

  /** The fleet as counted at most COUNTS_TTL_MS ago; scrapes at the same time share one count. A failed count keeps the last one. */
  #fleet(): Promise<FleetCounts> {
    const watch = this.#watch;
    if (!watch) return Promise.resolve(this.#lastCounts);
    const now = Date.now();
    if (this.#counts && now - this.#counts.at < COUNTS_TTL_MS) return this.#counts.value;
    const value = watch.store.fleetCounts(new Date(now - watch.onlineWithinMs()).toISOString()).then((c) => (this.#lastCounts = c), (err: unknown) => {
      watch.log.warn({ err }, 'metrics: counting agents and commands failed; the last counts are shown');
      this.#counts = undefined;
      return this.#lastCounts;
    });
    this.#counts = { at: now, value };
    return value;
  }
}

function zeroed(child: Inc & { inc(n: number): void }): Inc {
  child.inc(0);
  return child;
}

function gaugeOf(read: () => number) {
  return function (this: Gauge) {
    this.set(read());
  };
}

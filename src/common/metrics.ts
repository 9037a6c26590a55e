// What the control plane's and the agent's Prometheus metrics share: a registry with the client
// library's process metrics (CPU, memory, file descriptors, GC, event-loop lag gauges), an
// event-loop delay histogram, and the text exposition. Label values always come from fixed sets
// written in the code (a status, a mode, an operation's name): never an agent, a command or a name.

import { monitorEventLoopDelay, type ELDHistogram } from 'node:perf_hooks';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { MYX_VERSION } from '../protocol/version.ts';

/** Seconds: from a millisecond up to a stall that would time a heartbeat out. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsText {
  contentType: string;
  text: string;
}

/**
 * A registry with the process metrics, `<prefix>_event_loop_delay_seconds` and `<prefix>_build_info`.
 * `loopSampleMs`: how often the event loop's delay is sampled (a timer wake-up each time, on both
 * monitors: the client library's and ours): 10 ms on a busy control plane; an idle agent does with
 * fewer wake-ups.
 */
export function createRegistry(prefix: 'myx' | 'myx_agent', info: Record<string, string> = {}, loopSampleMs = 10): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: loopSampleMs });
  eventLoopDelay(registry, `${prefix}_event_loop_delay_seconds`, loopSampleMs);
  const labels = { version: MYX_VERSION, ...info };
  const build = new Gauge({ name: `${prefix}_build_info`, help: 'Always 1; the labels say which version (and, on the control plane, which store) runs.', labelNames: Object.keys(labels), registers: [registry] });
  build.set(labels, 1);
  return registry;
}

export async function exposition(registry: Registry): Promise<MetricsText> {
  return { contentType: registry.contentType, text: await registry.metrics() };
}

const MOVE_EVERY_MS = 5_000;

/**
 * A cumulative histogram of the event loop's delay, fed from Node's own monitor (a libuv timer, no
 * JavaScript per sample): every few seconds, and at each scrape, what the
 * monitor saw since is moved into the buckets. Unlike the client library's lag percentiles, which are reset by
 * each scrape, two scrapers do not take samples from each other, and rate() works over any window.
 */
function eventLoopDelay(registry: Registry, name: string, resolutionMs: number): void {
  // each sample the monitor records is its timer's interval plus the delay
  const monitor: ELDHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  monitor.enable();
  const histogram = new Histogram({
    name,
    help: `Delay of the event loop (how late a ${resolutionMs} ms timer fires, sampled by perf_hooks.monitorEventLoopDelay): what every request waits before it is even read.`,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
    collect() {
      moveSamples(monitor, histogram, resolutionMs);
    },
  });
  // moved every few seconds too, so that each move is a few hundred samples however rarely it is scraped
  setInterval(() => moveSamples(monitor, histogram, resolutionMs), MOVE_EVERY_MS).unref();
}

/** Adds the monitor's samples since its last reset to `histogram`, bucket by bucket, then resets it. */
function moveSamples(monitor: ELDHistogram, histogram: Histogram, resolutionMs: number): void {
  const count = monitor.count;
  if (count === 0) return;
  // The monitor keeps an HDR histogram; its percentile points say how many samples lie at or below
  // each value. Each sample is given the value at its percentile: a bucket boundary is off by the
  // HDR precision at most.
  const points = [...monitor.percentiles].sort((a, b) => a[0] - b[0]);
  let before = 0;
  for (const [percentile, ns] of points) {
    const upTo = Math.round((percentile / 100) * count);
    const n = upTo - before;
    const delay = Math.max(0, ns / 1e6 - resolutionMs) / 1000;
    for (let i = 0; i < n; i++) histogram.observe(delay); // about 100 samples a second between scrapes
    before = Math.max(before, upTo);
  }
  monitor.reset();
}

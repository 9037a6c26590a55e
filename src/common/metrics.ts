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

/** A registry with the process metrics, `myx_event_loop_delay_seconds` and `<prefix>_build_info`. */
export function createRegistry(prefix: 'myx' | 'myx_agent', info: Record<string, string> = {}): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  eventLoopDelay(registry, `${prefix}_event_loop_delay_seconds`);
  const labels = { version: MYX_VERSION, ...info };
  const build = new Gauge({ name: `${prefix}_build_info`, help: 'Always 1; the labels say which version (and, on the control plane, which store) runs.', labelNames: Object.keys(labels), registers: [registry] });
  build.set(labels, 1);
  return registry;
}

export async function exposition(registry: Registry): Promise<MetricsText> {
  return { contentType: registry.contentType, text: await registry.metrics() };
}

/** The monitor's timer interval; each sample it records is this interval plus the delay. */
const RESOLUTION_MS = 10;

/**
 * A cumulative histogram of the event loop's delay, fed from Node's own monitor (a timer sampled
 * every 10 ms inside libuv, no JavaScript per sample): each scrape moves what the monitor saw since
 * the last one into the buckets. Unlike the client library's lag percentiles, which are reset by
 * each scrape, two scrapers do not take samples from each other, and rate() works over any window.
 */
function eventLoopDelay(registry: Registry, name: string): void {
  const monitor: ELDHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  monitor.enable();
  const histogram = new Histogram({
    name,
    help: 'Delay of the event loop (how late a 10 ms timer fires, sampled 100 times a second by perf_hooks.monitorEventLoopDelay): what every request waits before it is even read.',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
    collect() {
      moveSamples(monitor, histogram);
    },
  });
}

/** Adds the monitor's samples since its last reset to `histogram`, bucket by bucket, then resets it. */
function moveSamples(monitor: ELDHistogram, histogram: Histogram): void {
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
    const delay = Math.max(0, ns / 1e6 - RESOLUTION_MS) / 1000;
    for (let i = 0; i < n; i++) histogram.observe(delay); // about 100 samples a second between scrapes
    before = Math.max(before, upTo);
  }
  monitor.reset();
}

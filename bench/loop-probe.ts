// Preloaded into a benchmarked control plane (`--import`, see profileEnv in lib.ts): every second,
// one JSON line of its event-loop delay (p50, p99, max, ms), RSS and heap (MiB) to MYX_BENCH_LOOP_FILE;
// `at` (epoch ms) beside `mono_us` (the monotonic clock of CPU profiles) lets profile-summary.ts cut a profile to a window.

import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.MYX_BENCH_LOOP_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const mib = (n: number) => Math.round(n / 2 ** 20);
  setInterval(() => {
    const m = process.memoryUsage();
    const cpu = process.cpuUsage();
    appendFileSync(file, JSON.stringify({
      at: Date.now(), mono_us: Number(process.hrtime.bigint() / 1000n), p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6,
      rss: mib(m.rss), heap: mib(m.heapUsed), external: mib(m.external), cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
    }) + '\n');
    h.reset();
  }, 1000).unref();
}

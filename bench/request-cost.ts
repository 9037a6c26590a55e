// What one agent request costs the control plane, in CPU time (not wall time, which the machine's
// other work makes noisy): N registered agents send heartbeats at a steady rate for a while, and
// the control plane's CPU time (from /proc) is divided by the heartbeats it answered. Latency
// percentiles come along. A profiling tool, not a scenario of `npm run bench`.
//
//   node bench/request-cost.ts [--agents N] [--rate PER_S] [--seconds S] [--mode web|poll]
//
// MYX_BENCH_ROOT measures another tree (lib.ts); MYX_BENCH_CPU_PROF etc. profile it.

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestJson } from '../src/common/json-client.ts';
import { PinnedPool } from '../src/common/pinned-pool.ts';
import type { HeartbeatRequest } from '../src/protocol/wire.ts';
import { ms, operator, procUsage, startServer, stats, tempDir } from './lib.ts';
import { registerMany } from './sims.ts';

const args = process.argv.slice(2);
const opt = (name: string, d: number | string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : String(d);
};
const agentsN = Number(opt('agents', 2000));
const rate = Number(opt('rate', 1000));
const seconds = Number(opt('seconds', 20));
const mode = opt('mode', 'web') as 'web' | 'poll';
/** `--path health`: GET /health instead (the floor: TLS, HTTP and the framework, no store). */
const health = opt('path', 'heartbeat') === 'health';

const dir = tempDir();
const server = await startServer(dir, [], { label: 'request-cost' });
const client = await operator(server);
const FP = 'AB:'.repeat(31) + 'AB';
try {
  const agents = await registerMany(client, server, 'rc', agentsN, mode, 30000, mode === 'web' ? FP : null);
  const pool = new PinnedPool({ fingerprint: server.fingerprint, connections: 256 });
  const facts = (i: number): HeartbeatRequest => ({
    name: agents[i]!.name, hostname: 'sim', os: 'simulated', version: '0.1.0', mode, web_port: mode === 'web' ? agents[i]!.port : null,
    fingerprint: mode === 'web' ? FP : null, advertise_address: mode === 'web' ? '127.0.0.1' : null, labels: { sim: 'yes' }, uptime_seconds: 1, running: 0,
  });
  const beat = (i: number) => health ? requestJson({ method: 'GET', url: `${server.url}/health`, pool }) : requestJson({ method: 'POST', url: `${server.url}/api/agents/heartbeat`, pool, headers: { 'x-agent-token': agents[i]!.token }, body: facts(i), timeoutMs: 30_000 });
  // warm up: every agent once, so connections are open and every row is hot
  for (let i = 0; i < agentsN; i += 64) await Promise.all(Array.from({ length: Math.min(64, agentsN - i) }, (_, k) => beat(i + k)));
  await sleep(1000);
  const pid = server.proc.child.pid!;
  const before = procUsage(pid);
  const sys0 = systemMs(pid);
  const latencies: number[] = [];
  let failed = 0;
  const started = performance.now();
  const total = rate * seconds;
  const inFlight: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const due = started + (k * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const t0 = performance.now();
    inFlight.push(beat(k % agentsN).then(() => void latencies.push(performance.now() - t0), () => void failed++));
  }
  await Promise.all(inFlight);
  const wall = performance.now() - started;
  const after = procUsage(pid);
  const sys = systemMs(pid) - sys0;
  const s = stats(latencies);
  const cpu = after.cpuMs - before.cpuMs;
  console.log(JSON.stringify({ agents: agentsN, mode, rate, seconds, answered: latencies.length, failed, wallMs: Math.round(wall) }));
  console.log(`heartbeats: ${latencies.length} answered, ${failed} failed in ${ms(wall)}; control plane CPU ${ms(cpu)} = ${((cpu / latencies.length) * 1000).toFixed(0)} us per heartbeat (${((cpu / wall) * 100).toFixed(0)} % of a core; in the kernel ${((sys / latencies.length) * 1000).toFixed(0)} us)`);
  console.log(`latency p50 ${ms(s.p50)} p90 ${ms(s.p90)} p99 ${ms(s.p99)}; RSS ${(after.rssKiB / 1024).toFixed(0)} MiB`);
  pool.destroy();
} finally {
  await client.close();
  await server.proc.kill();
}
process.exit(0);

/** CPU time the process spent in the kernel so far (ms). */
function systemMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) * 1000) / 100;
}

// Scenario 4: how many poll-mode agents (each holding a long poll open and heartbeating at the
// interval the control plane tells it) one control plane holds on this machine, by heartbeat latency;
// beside each size, what a bare node:https server holding as many TLS connections needs.

import { figure, ms, operator, procUsage, startServer, table, tempDir } from './lib.ts';
import { registerMany, startSims } from './sims.ts';
import { tlsFloor } from './tls-floor.ts';

/** The simulated agents leave over this long after the window (bench/sim-agents.ts). */
const RAMP_DOWN_SECONDS = 5;

/** Connections a bench process may open for the floor (the machine allows 20,000 open files per process). */
const FLOOR_MAX = 10_000;

export async function pollCapacity(steps = [1000, 5000, 10000, 20000], windowSeconds = 30): Promise<string> {
  const dir = tempDir();
  const server = await startServer(dir);
  const client = await operator(server);
  const rows: (string | number)[][] = [];
  try {
    const t0 = Date.now();
    const all = await registerMany(client, server, 'poll', Math.max(...steps), 'poll', 0, null);
    console.log(`  ${all.length} poll agents registered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const n of steps) {
      const before = procUsage(server.proc.child.pid!);
      const ramp = Math.max(5, n / 500);
      const sims = await startSims(dir, server, 'poll', all.slice(0, n), n >= 5000 ? 4 : 2, { heartbeatSeconds: 5, rampSeconds: ramp, durationSeconds: windowSeconds });
      const lines = (await sims.finished).map((l) => JSON.parse(l) as { heartbeatMs: { p50: number; p99: number; max: number }; heartbeats: number; errors: number });
      const after = procUsage(server.proc.child.pid!);
      const worst = (k: 'p50' | 'p99' | 'max') => Math.max(...lines.map((l) => l.heartbeatMs[k]));
      const beats = lines.reduce((s, l) => s + l.heartbeats, 0);
      const errors = lines.reduce((s, l) => s + l.errors, 0);
      const cpu = (after.cpuMs - before.cpuMs) / ((windowSeconds + ramp + RAMP_DOWN_SECONDS) * 1000) * 100;
      // the same number of connections held by a bare node:https server: the runtime's own floor
      const floor = n <= FLOOR_MAX ? await tlsFloor(`${dir}/sim.crt`, `${dir}/sim.key`, n) : null;
      const floorText = floor ? `${(floor.heldKiB / 1024).toFixed(0)} MiB (${((floor.heldKiB - floor.idleKiB) / n).toFixed(0)} KiB each)` : 'not tried';
      rows.push([n, beats, errors, ms(worst('p50')), ms(worst('p99')), ms(worst('max')), `${(after.rssKiB / 1024).toFixed(0)} MiB`, floorText, `${cpu.toFixed(0)} %`, worst('p99') < 100 ? 'yes' : 'no']);
      const f = (id: string, what: string, value: number, unit: 'ms' | 'MiB' | 'percent' | 'count', better: 'lower' | 'higher' | null) =>
        figure('poll-capacity', { id: `n=${n}.${id}`, what: `${n} agents: ${what}`, value, unit, better, params: { n } });
      f('heartbeats', 'heartbeats in the window', beats, 'count', 'higher');
      f('errors', 'heartbeat errors', errors, 'count', 'lower');
      f('heartbeat.p50', 'heartbeat p50', worst('p50'), 'ms', 'lower');
      f('heartbeat.p99', 'heartbeat p99', worst('p99'), 'ms', 'lower');
      f('heartbeat.max', 'heartbeat max', worst('max'), 'ms', 'lower');
      f('rss', 'control plane RSS', after.rssKiB / 1024, 'MiB', 'lower');
      f('cpu', 'control plane CPU', cpu, 'percent', 'lower');
      if (floor) {
        f('tls_floor.rss', 'a bare node:https server holding as many TLS connections, RSS', floor.heldKiB / 1024, 'MiB', null);
        figure('poll-capacity', { id: `n=${n}.tls_floor.per_connection`, what: `${n} agents: a bare node:https server, RSS per held TLS connection`, value: (floor.heldKiB - floor.idleKiB) / n, unit: 'KiB', better: null, params: { n } });
      }
    }
  } finally {
    await client.close();
    await server.proc.kill();
  }
  return table('4. Poll capacity: long-polling agents, heartbeating at the interval they are told', ['agents', 'heartbeats', 'errors', 'heartbeat p50', 'heartbeat p99', 'max', 'control plane RSS', 'bare TLS server, as many connections', 'control plane CPU', 'p99 < 100 ms'], rows, [
    `Each simulated agent holds a long poll open and heartbeats between its polls at the interval the control plane tells it (spread over the interval; paced for the fleet registered first, all sizes at once: 20,000 agents, so 50-100 s, at most 200 heartbeats a second). Agents connect over a ramp of N/500 s (at least 5 s); heartbeats are then timed for ${windowSeconds} s, and the agents leave over 5 s after it. Latencies are the worst sim process's percentiles; CPU is the control plane's average over ramp, window and leaving.`,
    'Each process here may hold at most 20,000 open files (a limit of this machine), which bounds connections per control plane process.',
    `Bare TLS server: bench/tls-floor-server.ts, a node:https server with nothing else, holding as many kept-alive TLS connections (each after one request) opened by the bench; its RSS, and per connection over its idle RSS. What Node's TLS needs before myx's code; not tried past ${FLOOR_MAX.toLocaleString('en-US')} (the bench process's own open-file limit).`,
  ]);
}

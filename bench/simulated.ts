// Scenario 3: the control plane's own throughput. 1,000 and 10,000 simulated web-mode agents
// (real HTTPS endpoints, a few processes) each get `true` in one run; time until every result
// is stored, commands per second, and the per-command round trip. While a fan-out works, the
// control plane must keep answering: the agents' heartbeats (at the interval they are told) and `myx agents`
// (asked again and again by a second client) are timed during each fan-out.

import { figure, ms, operator, startServer, stats, table, tempDir, procUsage } from './lib.ts';
import { registerMany, startSims } from './sims.ts';
import type { OperatorClient } from '../src/cli/operator-client.ts';

const S = 'simulated';
/** `MYX_BENCH_SIM_SIZES=1000,10000` (the default): the fleet sizes. */
const SIZES = (process.env.MYX_BENCH_SIM_SIZES ?? '1000,10000').split(',').map(Number);

export async function simulated(sizes = SIZES): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const n of sizes) {
    const dir = tempDir();
    const server = await startServer(dir, [], { label: `${n}` });
    const client = await operator(server);
    const prober = await operator(server);
    try {
      const t0 = Date.now();
      const { ensureSelfSigned } = await import('../src/common/tls-cert.ts');
      const cert = await ensureSelfSigned({ certPath: `${dir}/sim.crt`, keyPath: `${dir}/sim.key` }, 'myx sim agent');
      const agents = await registerMany(client, server, 'sim', n, 'web', 20000, cert.fingerprint);
      const sims = await startSims(dir, server, 'web', agents, n >= 5000 ? 4 : 2);
      console.log(`  ${n} simulated agents registered and ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const idle = await probeAgents(prober, 5);
      const windows: { label: string; from: number; to: number; agentsMs: number[] }[] = [];
      let total = 0;
      for (const round of [0, 1]) {
        // round 0 opens the connections (a TLS handshake per agent); round 1 reuses them
        const label = `${n} agents, ${round === 0 ? 'cold (new connections)' : 'warm (kept-alive connections)'}`;
        const start = performance.now();
        const from = Date.now();
        const probe = probeWhile(prober);
        const cpu0 = procUsage(server.proc.child.pid!).cpuMs;
        const simCpu0 = sims.cpuMs();
        try {
          const ended = await fanOut(client, n);
          const elapsed = performance.now() - start;
          const cpuMs = procUsage(server.proc.child.pid!).cpuMs - cpu0;
          const simCpuMs = sims.cpuMs() - simCpu0;
          const rt = stats(ended.commands.map((c) => Date.parse(c.finished_at!) - Date.parse(c.created_at)));
          const ok = ended.commands.filter((c) => c.status === 'succeeded').length;
          const agentsMs = await probe.stop();
          windows.push({ label, from, to: Date.now(), agentsMs });
          console.log(`  ${label}: window ${from},${Date.now()} (epoch ms)`);
          rows.push([label, `${ok}/${n}`, ms(ended.answeredMs), ms(elapsed), `${Math.round((n / elapsed) * 1000)}/s`, ms(rt.p50), ms(rt.p99), `${ms(cpuMs)} (${((cpuMs / n) * 1000).toFixed(0)} us)`, `${ms(simCpuMs)} (${((simCpuMs / n) * 1000).toFixed(0)} us)`]);
          const temp = round === 0 ? 'cold' : 'warm';
          const params = { n, round: temp };
          figure(S, { id: `n=${n}.${temp}.stored`, what: `${n} agents, ${temp}: all results stored`, value: elapsed, unit: 'ms', better: 'lower', params });
          figure(S, { id: `n=${n}.${temp}.answered`, what: `${n} agents, ${temp}: run created (answer)`, value: ended.answeredMs, unit: 'ms', better: 'lower', params });
          figure(S, { id: `n=${n}.${temp}.rate`, what: `${n} agents, ${temp}: commands per second`, value: (n / elapsed) * 1000, unit: 'per_s', better: 'higher', params });
          figure(S, { id: `n=${n}.${temp}.succeeded`, what: `${n} agents, ${temp}: succeeded`, value: ok, unit: 'count', better: 'higher', params });
          figure(S, { id: `n=${n}.${temp}.rt.p50`, what: `${n} agents, ${temp}: round trip per command, p50`, value: rt.p50, unit: 'ms', better: 'lower', params });
          figure(S, { id: `n=${n}.${temp}.rt.p99`, what: `${n} agents, ${temp}: round trip per command, p99`, value: rt.p99, unit: 'ms', better: 'lower', params });
          figure(S, { id: `n=${n}.${temp}.cpu_per_command`, what: `${n} agents, ${temp}: control plane CPU per command`, value: cpuMs / n, unit: 'ms', better: 'lower', params });
          figure(S, { id: `n=${n}.${temp}.sim_cpu_per_command`, what: `${n} agents, ${temp}: the simulated agents' CPU per command`, value: simCpuMs / n, unit: 'ms', better: null, params });
          if (round === 1) total = elapsed;
        } catch (err) {
          await probe.stop();
          // a size this machine cannot serve is a result too: say what gave out and keep the other tables
          rows.push([label, `did not finish: ${(err as Error).message}`, '', `> ${ms(performance.now() - start)}`, '', '', '', '', '']);
          const temp = round === 0 ? 'cold' : 'warm';
          figure(S, { id: `n=${n}.${temp}.stored`, what: `${n} agents, ${temp}: all results stored`, value: null, unit: 'ms', better: 'lower', params: { n, round: temp },
            note: `did not finish: ${(err as Error).message} (after ${ms(performance.now() - start)})` });
          break;
        }
      }
      const usage = procUsage(server.proc.child.pid!);
      console.log(`  control plane RSS after ${n}: ${(usage.rssKiB / 1024).toFixed(0)} MiB; warm run ${ms(total)}; \`myx agents\` idle p50 ${ms(stats(idle).p50)}`);
      figure(S, { id: `n=${n}.rss`, what: `${n} agents: control plane RSS after the runs`, value: usage.rssKiB / 1024, unit: 'MiB', better: 'lower', params: { n } });
      const beats = (await sims.stop()).flatMap((l) => (JSON.parse(l) as { beats?: [number, number][] }).beats ?? []);
      for (const w of windows) {
        const during = beats.filter(([at]) => at >= w.from && at <= w.to);
        const ok = during.filter(([, t]) => t >= 0).map(([, t]) => t);
        const hb = stats(ok);
        const ag = stats(w.agentsMs);
        const row = rows.find((r) => r[0] === w.label)!;
        const temp = w.label.includes('cold') ? 'cold' : 'warm';
        const params = { n, round: temp };
        if (ok.length) figure(S, { id: `n=${n}.${temp}.heartbeat.p99`, what: `${n} agents, ${temp}: heartbeat p99 during the fan-out`, value: hb.p99, unit: 'ms', better: 'lower', params });
        if (w.agentsMs.length) figure(S, { id: `n=${n}.${temp}.agents.max`, what: `${n} agents, ${temp}: \`myx agents\` during the fan-out, slowest`, value: Math.max(...w.agentsMs), unit: 'ms', better: 'lower', params });
        row.push(`${ms(hb.p50)} / ${ms(hb.p99)} (${during.length - ok.length} failed of ${during.length})`, w.agentsMs.length ? `${ms(ag.p50)} / ${ms(Math.max(...w.agentsMs))} (${w.agentsMs.length})` : '-');
      }
    } finally {
      await client.close();
      await prober.close();
      await server.proc.kill();
    }
  }
  for (const r of rows) while (r.length < 11) r.push('');
  return table('3. Fan-out of `true` to simulated agents (control plane throughput)', ['run', 'succeeded', 'run created (answer)', 'all results stored', 'commands/s', 'round trip p50', 'round trip p99', 'control plane CPU (per command)', 'simulated agents\' CPU (per command)', 'heartbeats during it, p50 / p99', '`myx agents` during it, p50 / max (calls)'], rows, [
    'Simulated agents are real HTTPS endpoints (one port each on 127.0.0.1) in a few processes; they answer the push and report the result at once, and heartbeat at the interval they are told (5 s up to 1,000 agents, 50 s at 10,000).',
    'Round trip per command: from creation to the result the agent reported (same clock). Time is from `POST /api/runs` to every result stored.',
    'Control plane CPU: its CPU time (user + system, from /proc) from `POST /api/runs` to the last result, heartbeats of the whole fleet included. Simulated agents\' CPU: the same for their processes, which share the machine\'s cores with the control plane.',
    'Heartbeats during it: those sent between `POST /api/runs` and the last result. `myx agents`: a second operator client lists the agents again and again meanwhile.',
  ]);
}

/** One run of `true` on every agent: when the run was created (ms from the start), and every command at the end. */
async function fanOut(client: OperatorClient, n: number) {
  const start = performance.now();
  const { commands } = await client.createRun({ targets: { all: true }, command: 'true' });
  const answeredMs = performance.now() - start;
  if (commands.length !== n) throw new Error(`the run has ${commands.length} commands, not ${n}`);
  const ids = commands.map((c) => c.id);
  let done = await client.wait(ids, 60);
  while (!done.done) done = await client.wait(ids, 60);
  return { answeredMs, commands: done.commands };
}

/** `myx agents` `times` times in a row (ms each). */
async function probeAgents(client: OperatorClient, times: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await client.agents();
    out.push(performance.now() - t0);
  }
  return out;
}

/** `myx agents` again and again (a second apart, as an operator watching would) until stopped; the ms each took. */
function probeWhile(client: OperatorClient): { stop: () => Promise<number[]> } {
  let stopped = false;
  const out: number[] = [];
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        await client.agents();
        out.push(performance.now() - t0);
      } catch {
        out.push(Number.POSITIVE_INFINITY);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return { stop: async () => ((stopped = true), await loop, out) };
}

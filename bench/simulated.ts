// Scenario 3: the control plane's own throughput. 1,000 and 10,000 simulated web-mode agents
// (real HTTPS endpoints, a few processes) each get `true` in one run; time until every result
// is stored, commands per second, and the per-command round trip.

import { figure, ms, operator, startServer, stats, table, tempDir, procUsage } from './lib.ts';
import { registerMany, startSims } from './sims.ts';

const S = 'simulated';

export async function simulated(sizes = [1000, 10000]): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const n of sizes) {
    const dir = tempDir();
    const server = await startServer(dir);
    const client = await operator(server);
    try {
      const t0 = Date.now();
      const { ensureSelfSigned } = await import('../src/common/tls-cert.ts');
      const cert = await ensureSelfSigned({ certPath: `${dir}/sim.crt`, keyPath: `${dir}/sim.key` }, 'myx sim agent');
      const agents = await registerMany(client, server, 'sim', n, 'web', 20000, cert.fingerprint);
      const sims = await startSims(dir, server, 'web', agents, n >= 5000 ? 4 : 2);
      console.log(`  ${n} simulated agents registered and ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      let total = 0;
      for (const round of [0, 1]) {
        // round 0 opens the connections (a TLS handshake per agent); round 1 reuses them
        const label = `${n} agents, ${round === 0 ? 'cold (new connections)' : 'warm (kept-alive connections)'}`;
        const start = performance.now();
        try {
          const { commands } = await client.createRun({ targets: { all: true }, command: 'true' });
          let done = await client.wait(commands.map((c) => c.id), 60);
          while (!done.done) done = await client.wait(commands.map((c) => c.id), 60);
          const elapsed = performance.now() - start;
          const rt = stats(done.commands.map((c) => Date.parse(c.finished_at!) - Date.parse(c.created_at)));
          const ok = done.commands.filter((c) => c.status === 'succeeded').length;
          rows.push([label, `${ok}/${n}`, ms(elapsed), `${Math.round((n / elapsed) * 1000)}/s`, ms(rt.p50), ms(rt.p99)]);
          const temp = round === 0 ? 'cold' : 'warm';
          const params = { n, round: temp };
          figure(S, { id: `n=${n}.${temp}.stored`, what: `${n} agents, ${temp}: all results stored`, value: elapsed, unit: 'ms', better: 'lower', params });
          figure(S, { id: `n=${n}.${temp}.rate`, what: `${n} agents, ${temp}: commands per second`, value: (n / elapsed) * 1000, unit: 'per_s', better: 'higher', params });
          figure(S, { id: `n=${n}.${temp}.succeeded`, what: `${n} agents, ${temp}: succeeded`, value: ok, unit: 'count', better: 'higher', params });
          figure(S, { id: `n=${n}.${temp}.rt.p50`, what: `${n} agents, ${temp}: round trip per command, p50`, value: rt.p50, unit: 'ms', better: 'lower', params });
          figure(S, { id: `n=${n}.${temp}.rt.p99`, what: `${n} agents, ${temp}: round trip per command, p99`, value: rt.p99, unit: 'ms', better: 'lower', params });
          if (round === 1) total = elapsed;
        } catch (err) {
          // a size this machine cannot serve is a result too: say what gave out and keep the other tables
          rows.push([label, `did not finish: ${(err as Error).message}`, `> ${ms(performance.now() - start)}`, '', '', '']);
          const temp = round === 0 ? 'cold' : 'warm';
          figure(S, { id: `n=${n}.${temp}.stored`, what: `${n} agents, ${temp}: all results stored`, value: null, unit: 'ms', better: 'lower', params: { n, round: temp },
            note: `did not finish: ${(err as Error).message} (after ${ms(performance.now() - start)})` });
          break;
        }
      }
      const usage = procUsage(server.proc.child.pid!);
      console.log(`  control plane RSS after ${n}: ${(usage.rssKiB / 1024).toFixed(0)} MiB; warm run ${ms(total)}`);
      figure(S, { id: `n=${n}.rss`, what: `${n} agents: control plane RSS after the runs`, value: usage.rssKiB / 1024, unit: 'MiB', better: 'lower', params: { n } });
      await sims.stop();
    } finally {
      await client.close();
      await server.proc.kill();
    }
  }
  return table('3. Fan-out of `true` to simulated agents (control plane throughput)', ['run', 'succeeded', 'all results stored', 'commands/s', 'round trip p50', 'round trip p99'], rows, [
    'Simulated agents are real HTTPS endpoints (one port each on 127.0.0.1) in a few processes; they answer the push and report the result at once.',
    'Round trip per command: from creation to the result the agent reported (same clock). Time is from `POST /api/runs` to every result stored.',
  ]);
}

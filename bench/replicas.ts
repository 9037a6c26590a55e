// Scenario 7: the control plane on SQLite, on PostgreSQL with one replica, and with three replicas,
// measured in one run with the same 1,000 simulated web-mode agents (bench/sim-agents.ts): the time
// of a 1,000-agent fan-out of `true` (until every result is stored), and commands per second with
// several fan-outs in flight at once, created round robin on the replicas. The agents report to
// the replicas round robin, as agents behind a load balancer would. PostgreSQL is a private server
// started as the tests start theirs (test/postgres-server.ts).

import { join } from 'node:path';
import { OperatorClient } from '../src/cli/operator-client.ts';
import { ensureSelfSigned } from '../src/common/tls-cert.ts';
import { copyClusterCertificate } from '../test/replica-helpers.ts';
import { postgresServer } from '../test/postgres-server.ts';
import { median } from '../test/helpers.ts';
import { figure, ms, operator, procUsage, startServer, table, tempDir, type TestServer } from './lib.ts';
import { registerMany, startSims } from './sims.ts';

const AGENTS = 1000;
/** Fan-outs in flight at once for the throughput measure. */
const IN_FLIGHT = 3;
const WARM_ROUNDS = 3;

interface Setup {
  label: string;
  store: 'sqlite' | 'postgres';
  replicas: number;
}

const SETUPS: Setup[] = [
  { label: 'SQLite (one process)', store: 'sqlite', replicas: 1 },
  { label: 'PostgreSQL, 1 replica', store: 'postgres', replicas: 1 },
  { label: 'PostgreSQL, 3 replicas', store: 'postgres', replicas: 3 },
];

export async function replicas(): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const [i, setup] of SETUPS.entries()) {
    const dir = tempDir();
    const servers: TestServer[] = [];
    const clients: OperatorClient[] = [];
    try {
      const db = setup.store === 'postgres' ? await (await postgresServer()).createDatabase() : null;
      const extra = db ? ['--store', db] : [];
      // MYX_BENCH_CPU_PROF=DIR (lib.ts, profileEnv): each control plane writes a CPU profile as it stops
      const label = `${setup.store}-${setup.replicas}`;
      servers.push(await startServer(join(dir, 'r0'), extra, { label }));
      for (let r = 1; r < setup.replicas; r++) {
        copyClusterCertificate(servers[0]!.dataDir, join(dir, `r${r}`, 'server'));
        servers.push(await startServer(join(dir, `r${r}`), extra, { label }));
      }
      for (const s of servers) clients.push(await operator(s));
      const t0 = Date.now();
      const cert = await ensureSelfSigned({ certPath: join(dir, 'sim.crt'), keyPath: join(dir, 'sim.key') }, 'myx sim agent');
      const agents = await registerMany(clients[0]!, servers[0]!, 'sim', AGENTS, 'web', 20000 + i * 2000, cert.fingerprint);
      const sims = await startSims(dir, servers[0]!, 'web', agents, 3, {}, servers.map((s) => s.url));
      console.log(`  ${setup.label}: ${AGENTS} simulated agents registered and ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      try {
        // a first fan-out through each replica opens its connections to the agents (a TLS handshake each)
        for (const c of clients) await fanOut(c, clients);
        // then one at a time, each through the next replica, timed
        const fanOuts: number[] = [];
        for (let round = 0; round < WARM_ROUNDS; round++) fanOuts.push(await fanOut(clients[round % clients.length]!, clients));
        // several at once, created round robin on the replicas
        const start = performance.now();
        await Promise.all(Array.from({ length: IN_FLIGHT }, (_, k) => fanOut(clients[k % clients.length]!, clients)));
        const perSecond = (IN_FLIGHT * AGENTS) / ((performance.now() - start) / 1000);
        const rss = servers.map((s) => Math.round(procUsage(s.proc.child.pid!).rssKiB / 1024));
        rows.push([setup.label, ms(median(fanOuts)), ms(Math.min(...fanOuts)), `${Math.round(perSecond)}/s`, rss.map((r) => `${r}`).join(' + ') + ' MiB']);
        const key = `${setup.store}-${setup.replicas}`;
        const params = { setup: setup.label };
        figure('replicas', { id: `${key}.fan-out`, what: `${setup.label}: ${AGENTS}-agent fan-out (median)`, value: median(fanOuts), unit: 'ms', better: 'lower', params });
        figure('replicas', { id: `${key}.rate`, what: `${setup.label}: commands/s, ${IN_FLIGHT} fan-outs at once`, value: perSecond, unit: 'per_s', better: 'higher', params });
        figure('replicas', { id: `${key}.rss`, what: `${setup.label}: RSS after, all replicas`, value: rss.reduce((a, b) => a + b, 0), unit: 'MiB', better: 'lower', params });
      } catch (err) {
        rows.push([setup.label, `did not finish: ${(err as Error).message}`, '', '', '']);
        figure('replicas', { id: `${setup.store}-${setup.replicas}.fan-out`, what: `${setup.label}: ${AGENTS}-agent fan-out (median)`, value: null, unit: 'ms', better: 'lower',
          params: { setup: setup.label }, note: `did not finish: ${(err as Error).message}` });
      } finally {
        await sims.stop();
      }
    } finally {
      for (const c of clients) await c.close();
      // SIGTERM: a profiled process writes its profile as it exits
      await Promise.all(servers.map((s) => s.proc.kill('SIGTERM')));
    }
  }
  return table(`7. Control plane on SQLite and on PostgreSQL, one replica and three (${AGENTS} simulated agents)`,
    ['control plane', `${AGENTS}-agent fan-out (median of ${WARM_ROUNDS})`, 'fastest', `commands/s (${IN_FLIGHT} fan-outs at once)`, 'RSS after'], rows, [
      'Fan-out: from `POST /api/runs` to every result stored, `true` on every agent; each run created on the next replica (it pushes to all agents), results reported to the replicas round robin. Warm: each replica fanned out once before (its connections to the agents are open).',
      `Commands/s: ${IN_FLIGHT} runs of ${AGENTS} created at once, one per replica in turn, until all ${IN_FLIGHT * AGENTS} results are stored.`,
      'Everything (replicas, PostgreSQL, simulated agents) shares this machine\'s cores: more replicas here add processes, not CPUs.',
    ]);
}

/** One run of `true` on every agent, created through `via`, waited for through all replicas in turn; ms until every result is stored. */
async function fanOut(via: OperatorClient, clients: OperatorClient[]): Promise<number> {
  const start = performance.now();
  const { commands } = await via.createRun({ targets: { all: true }, command: 'true' });
  const ids = commands.map((c) => c.id);
  let k = 0;
  let done = await clients[k++ % clients.length]!.wait(ids, 60);
  while (!done.done) done = await clients[k++ % clients.length]!.wait(ids, 60);
  const failed = done.commands.filter((c) => c.status !== 'succeeded').length;
  if (failed > 0) throw new Error(`${failed} of ${ids.length} commands did not succeed`);
  return performance.now() - start;
}

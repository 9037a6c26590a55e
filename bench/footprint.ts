// Scenario 5: what one idle agent costs its host: resident memory and CPU while it only
// heartbeats (web mode also serves its HTTPS port; poll mode holds a long poll open).

import { setTimeout as sleep } from 'node:timers/promises';
import { figure, operator, procUsage, register, startRealAgent, startServer, table, tempDir } from './lib.ts';

export async function footprint(windowSeconds = 30): Promise<string> {
  const dir = tempDir();
  const server = await startServer(dir);
  const client = await operator(server);
  const web = await register(client, server, 'fp-web', 'web', 8443, '127.0.0.1');
  const poll = await register(client, server, 'fp-poll', 'poll', null, null);
  const procs = await Promise.all([startRealAgent(dir, server, web, { bind: '127.0.0.1', port: 0 }), startRealAgent(dir, server, poll, null)]);
  try {
    await sleep(3000); // let start-up settle
    const before = procs.map((p) => procUsage(p.child.pid!));
    await sleep(windowSeconds * 1000);
    const after = procs.map((p) => procUsage(p.child.pid!));
    const rows = ['web mode', 'poll mode'].map((mode, i) => {
      const cpu = ((after[i]!.cpuMs - before[i]!.cpuMs) / (windowSeconds * 1000)) * 100;
      const m = mode.split(' ')[0]!;
      figure('footprint', { id: `${m}.rss`, what: `idle agent, ${mode}: RSS`, value: after[i]!.rssKiB / 1024, unit: 'MiB', better: 'lower', params: { mode: m } });
      figure('footprint', { id: `${m}.private`, what: `idle agent, ${mode}: private memory (RssAnon)`, value: after[i]!.anonKiB / 1024, unit: 'MiB', better: 'lower', params: { mode: m } });
      figure('footprint', { id: `${m}.cpu`, what: `idle agent, ${mode}: CPU of one core`, value: cpu, unit: 'percent', better: 'lower', params: { mode: m } });
      return [mode, `${(after[i]!.rssKiB / 1024).toFixed(0)} MiB`, `${cpu.toFixed(2)} %`, `${(after[i]!.cpuMs - before[i]!.cpuMs).toFixed(0)} ms`];
    });
    return table('5. Agent footprint (idle, one agent)', ['agent', 'RSS', 'CPU (of one core)', `CPU time in ${windowSeconds} s`], rows,
      [`heartbeat every 5 s; measured from /proc over ${windowSeconds} s after a 3 s settle.`]);
  } finally {
    await client.close();
    await Promise.all(procs.map((p) => p.kill()));
    await server.proc.kill();
  }
}

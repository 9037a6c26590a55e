// Scenario 2: `true` on N = 10, 50, 100 real agent processes, one per loopback address
// 127.0.0.x, next to pdsh -f 100 and ansible -f 50 against the same N addresses over ssh.

import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { figure, ms, MYX_BIN, operator, procUsage, ratio, register, startRealAgent, startServer, stats, table, tempDir, timeShell } from './lib.ts';
import { inventory, type Peers } from './peers.ts';

const AGENT_PORT = 18443;

export async function fanOut(peers: Peers | null, sizes = [10, 50, 100]): Promise<string> {
  const dir = tempDir();
  const server = await startServer(dir);
  const client = await operator(server);
  const max = Math.max(...sizes);
  const procs: Awaited<ReturnType<typeof startRealAgent>>[] = [];
  try {
    const t0 = Date.now();
    for (let batch = 0; batch < max; batch += 10) {
      procs.push(...(await Promise.all(Array.from({ length: Math.min(10, max - batch) }, async (_, j) => {
        const i = batch + j;
        const address = `127.0.0.${i + 1}`;
        const reg = await register(client, server, `fan${String(i + 1).padStart(3, '0')}`, 'web', AGENT_PORT, address);
        await client.setLabels(reg.name, Object.fromEntries(sizes.filter((n) => i < n).map((n) => [`upto${n}`, 'yes'])), []);
        return startRealAgent(dir, server, reg, { bind: address, port: AGENT_PORT });
      }))));
    }
    console.log(`  ${max} agents started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const env = { ...process.env, MYX_DATA_DIR: server.dataDir };
    const myxBin = MYX_BIN;
    const rows: (string | number)[][] = [];
    for (const n of sizes) {
      const myx = stats(timeShell(`${process.execPath} ${myxBin} run --label upto${n}=yes -- true`, 7, 2, env));
      // CPU of the control plane and the N agents per fan-out via the API: on this machine's cores
      // together, what the fan-out cannot take less time than
      const cpu = () => [server.proc, ...procs.slice(0, n)].reduce((sum, p) => sum + procUsage(p.child.pid!).cpuMs, 0);
      const cpu0 = cpu();
      const apiRuns = await timeApi(client, `upto${n}`, 10);
      const cpuPerRun = (cpu() - cpu0) / (apiRuns.length + 2);
      const api = stats(apiRuns);
      let pdsh: number | undefined;
      let ansible: number | undefined;
      if (peers?.pdsh) pdsh = stats(timeShell(`pdsh -R ssh -l root -S -f 100 -w '127.0.0.[1-${n}]' true`, 3, 1, peers.env)).p50;
      if (peers?.ansible) ansible = stats(timeShell(`ansible all -i ${inventory(peers, n)} -f 50 -m command -a true`, 2, 1, peers.env)).p50;
      rows.push([n, ms(api.p50), `${ms(cpuPerRun)} (${ms(cpuPerRun / availableParallelism())})`, ms(myx.p50), ms(pdsh), ms(ansible), ratio(pdsh, myx.p50), ratio(ansible, myx.p50)]);
      figure('fan-out', { id: `n=${n}.myx-cpu`, what: `myx via the API, N=${n}: CPU of the control plane and the agents per fan-out`, value: cpuPerRun, unit: 'ms', better: 'lower', params: { n } });
      const time = (tool: string, what: string, value: number | undefined) => {
        if (value !== undefined) figure('fan-out', { id: `n=${n}.${tool}`, what: `${what}, N=${n} (median)`, value, unit: 'ms', better: 'lower', params: { tool: what, n } });
      };
      time('myx-api', 'myx via the API', api.p50);
      time('myx-cli', '`myx run` CLI', myx.p50);
      time('pdsh', 'pdsh -f 100', pdsh);
      time('ansible', 'ansible -f 50', ansible);
      if (pdsh) figure('fan-out', { id: `n=${n}.pdsh-over-cli`, what: `pdsh / \`myx run\` CLI, N=${n}`, value: pdsh / myx.p50, unit: 'x', better: 'higher', params: { n } });
      if (ansible) figure('fan-out', { id: `n=${n}.ansible-over-cli`, what: `ansible / \`myx run\` CLI, N=${n}`, value: ansible / myx.p50, unit: 'x', better: 'higher', params: { n } });
    }
    return table('2. Fan-out of `true` to N real agents (one process per loopback address)', ['N', 'myx via API', 'CPU per fan-out, control plane + agents (÷ cores)', '`myx run` CLI', 'pdsh -f 100', 'ansible -f 50', 'pdsh / myx CLI', 'ansible / myx CLI'], rows, [
      'Medians: myx CLI of 7 runs, myx API of 10, pdsh of 3, ansible of 2 (each after one warm-up run), all in this run.',
      `CPU per fan-out: user + system time of the control plane and the N agent processes (from /proc) over the API runs, per run; in brackets divided by this machine's ${availableParallelism()} cores: the least time the fan-out can take here, whatever the code waits on.`,
      'pdsh and ansible reach the same 127.0.0.x addresses through the peers sshd (../shared/peers); ansible keeps its ControlPersist connections warm.',
      ...(peers ? [] : ['pdsh and ansible skipped: peers not set up.']),
    ]);
  } finally {
    await client.close();
    await Promise.all(procs.map((p) => p.kill()));
    await server.proc.kill();
  }
}

async function timeApi(client: Awaited<ReturnType<typeof operator>>, label: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n + 2; i++) {
    const t0 = performance.now();
    const { commands } = await client.createRun({ targets: { labels: { [label]: 'yes' } }, command: 'true' });
    const done = await client.wait(commands.map((c) => c.id), 30);
    if (!done.done || done.commands.some((c) => c.status !== 'succeeded')) throw new Error('fan-out run failed');
    if (i >= 2) out.push(performance.now() - t0);
  }
  return out;
}

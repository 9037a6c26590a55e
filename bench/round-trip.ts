// Scenario 1: one command (`true`) on one agent, round trip as the operator sees it, next to
// ssh (fresh and multiplexed) and Ansible on the same machine.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { figure, latency, ms, MYX_BIN, operator, ratio, register, startRealAgent, startServer, stats, table, tempDir, timeShell } from './lib.ts';
import { inventory, type Peers } from './peers.ts';

const S = 'round-trip';

const STAGES = {
  created: 'request -> run created (answered)',
  started: 'created -> started on the agent',
  ran: 'started -> finished',
  told: 'finished -> the client told',
} as const;
type Stage = keyof typeof STAGES;

/** Prints the ms of 50 spawns of `true` (after 10 unmeasured), each until its pipes closed. */
const BARE_SPAWN = `const { spawn } = require('node:child_process');
(async () => {
  const t = [];
  for (let i = 0; i < 60; i++) {
    const t0 = performance.now();
    await new Promise((r) => { const c = spawn('true', [], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] }); c.stdout.resume(); c.stderr.resume(); c.once('close', r); });
    if (i >= 10) t.push(performance.now() - t0);
  }
  console.log(JSON.stringify(t));
})();`;

export async function roundTrip(peers: Peers | null, n = 100): Promise<string> {
  const dir = tempDir();
  const server = await startServer(dir);
  const client = await operator(server);
  const web = await register(client, server, 'rt-web', 'web', 8443, '127.0.0.1');
  const poll = await register(client, server, 'rt-poll', 'poll', null, null);
  const procs = await Promise.all([startRealAgent(dir, server, web, { bind: '127.0.0.1', port: 0 }), startRealAgent(dir, server, poll, null)]);
  try {
    /** Where each round trip's time went, by the records' own times (one clock: all on this machine). */
    const stages: Record<string, Record<Stage, number[]>> = {};
    const api = async (agent: string) => {
      const out: number[] = [];
      const parts: Record<Stage, number[]> = { created: [], started: [], ran: [], told: [] };
      stages[agent] = parts;
      for (let i = 0; i < n + 10; i++) {
        const t0 = performance.now();
        const { commands } = await client.createRun({ targets: { agents: [agent] }, command: 'true' });
        const t1 = performance.now();
        const done = await client.wait(commands.map((c) => c.id), 10);
        const c = done.commands[0]!;
        if (!done.done || c.status !== 'succeeded') throw new Error(`round trip on ${agent} failed`);
        if (i < 10) continue;
        out.push(performance.now() - t0);
        const [created, started, finished] = [c.created_at, c.started_at!, c.finished_at!].map(Date.parse) as [number, number, number];
        parts.created.push(t1 - t0);
        parts.started.push(started - created);
        parts.ran.push(finished - started);
        parts.told.push(Date.now() - finished);
      }
      return out;
    };
    const push = latency(S, 'push', 'myx push, via the API', await api('rt-web'), { path: 'myx push (API)' });
    const poll_ = latency(S, 'poll', 'myx poll (long poll), via the API', await api('rt-poll'), { path: 'myx poll (API)' });
    const cliRuns = Math.max(5, Math.round(n / 5));
    const cli = latency(S, 'cli', '`myx run` CLI process, push',
      timeShell(`${process.execPath} ${MYX_BIN} run --agent rt-web -- true`, cliRuns, 2, { ...process.env, MYX_DATA_DIR: server.dataDir }), { path: 'myx run (CLI)' });
    const start = latency(S, 'cli-start', 'CLI start-up alone (`myx --version`)', timeShell(`${process.execPath} ${MYX_BIN} --version`, cliRuns, 2), { path: 'myx --version' });
    // the floor under any CLI in this runtime: Node starting, and Node loading what an HTTPS client needs
    const empty = latency(S, 'node-empty', 'empty Node (`node -e 0`)', timeShell(`${process.execPath} -e 0`, cliRuns, 2), { path: 'node -e 0' });
    const https = latency(S, 'node-https', 'Node loading node:https and node:tls', timeShell(`${process.execPath} -e "require('node:https'); require('node:tls')"`, cliRuns, 2), { path: 'node + https' });
    const rows: (string | number)[][] = [
      ['myx push, via the API (warm client)', push.n, ms(push.p50), ms(push.p90), ms(push.p99), '1.0x'],
      ['myx poll (long poll), via the API', poll_.n, ms(poll_.p50), ms(poll_.p90), ms(poll_.p99), ratio(poll_.p50, push.p50)],
      ['`myx run` CLI process, push', cli.n, ms(cli.p50), ms(cli.p90), ms(cli.p99), ratio(cli.p50, push.p50)],
      ['(CLI start-up alone: `myx --version`)', start.n, ms(start.p50), ms(start.p90), ms(start.p99), ''],
      ['(empty Node: `node -e 0`)', empty.n, ms(empty.p50), ms(empty.p90), ms(empty.p99), ''],
      ['(Node loading `node:https` and `node:tls`)', https.n, ms(https.p50), ms(https.p90), ms(https.p99), ''],
    ];
    const notes = ['ratio: p50 of the row / p50 of myx push via the API, measured in this run.'];
    if (peers) {
      const ssh = `ssh -p 2222 ${peers.ssho} root@127.0.0.1 true`;
      const fresh = latency(S, 'ssh-fresh', 'ssh, fresh connection', timeShell(ssh, 10, 1, peers.env), { path: 'ssh (fresh)' });
      const cp = `-o ControlMaster=auto -o ControlPath=${peers.dir}/cm-%r@%h:%p -o ControlPersist=120`;
      const mux = latency(S, 'ssh-mux', 'ssh, multiplexed (ControlMaster, warm)', timeShell(`ssh ${cp} -p 2222 ${peers.ssho} root@127.0.0.1 true`, 30, 2, peers.env), { path: 'ssh (multiplexed)' });
      rows.push(['ssh, fresh connection', fresh.n, ms(fresh.p50), ms(fresh.p90), ms(fresh.p99), ratio(fresh.p50, push.p50)]);
      rows.push(['ssh, multiplexed (ControlMaster, warm)', mux.n, ms(mux.p50), ms(mux.p90), ms(mux.p99), ratio(mux.p50, push.p50)]);
      rows.push(['`myx run` CLI vs ssh multiplexed', '', '', '', '', `ssh mux / myx CLI = ${ratio(mux.p50, cli.p50)}`]);
      figure(S, { id: 'ssh-mux-over-cli', what: 'ssh multiplexed p50 / `myx run` CLI p50', value: mux.p50 / cli.p50, unit: 'x', better: 'higher' });
      if (peers.ansible) {
        const inv = inventory(peers, 1);
        const an = latency(S, 'ansible', 'ansible ad-hoc (`-m command -a true`)', timeShell(`ansible all -i ${inv} -m command -a true`, 5, 1, peers.env), { path: 'ansible' });
        rows.push(['ansible ad-hoc (`-m command -a true`)', an.n, ms(an.p50), ms(an.p90), ms(an.p99), ratio(an.p50, push.p50)]);
      }
    } else {
      notes.push('ssh and ansible skipped: peers not set up (see ../shared/peers).');
    }
    const stageRows = (['rt-web', 'rt-poll'] as const).map((agent) => {
      const mode = agent === 'rt-web' ? 'push' : 'poll';
      const p50 = (stage: Stage) => {
        const v = stats(stages[agent]![stage]).p50;
        figure(S, { id: `${mode}.stage.${stage}`, what: `myx ${mode} via the API, p50 of ${STAGES[stage]}`, value: v, unit: 'ms', better: 'lower', params: { mode } });
        return ms(v);
      };
      return [`myx ${mode}, via the API`, p50('created'), p50('started'), p50('ran'), p50('told')];
    });
    // the floor under `ran`: `true` spawned (its own process group, stdio piped, as the agent does) until
    // it closed, from a Node process that holds nothing else
    const bare = stats(JSON.parse(execFileSync(process.execPath, ['-e', BARE_SPAWN], { encoding: 'utf8' })) as number[]).p50;
    figure(S, { id: 'bare-spawn', what: 'bare Node: spawn `true` until it closed, p50', value: bare, unit: 'ms', better: 'lower' });
    stageRows.push(['(bare Node spawning `true`: the floor under "started -> finished")', '', '', ms(bare), '']);
    return table('1. Single command round trip (`true`, one agent)', ['path', 'runs', 'p50', 'p90', 'p99', 'vs myx push'], rows, notes)
      + table('1b. Where a round trip goes (p50 of each stage)', ['path', ...Object.values(STAGES)], stageRows, [
        'From the command\'s own record (created, started and finished at, one clock on this machine) and the client\'s clock: the stages add up to about the whole round trip (each is a median of its own).',
        'started: the control plane hands the command over (a push, or the answer to a held poll) and the agent journals it and spawns it; ran: `true` runs, is reaped and journaled; told: the result goes back, is stored, and the client\'s wait is answered.',
      ]);
  } finally {
    await client.close();
    await Promise.all(procs.map((p) => p.kill()));
    await server.proc.kill();
  }
}

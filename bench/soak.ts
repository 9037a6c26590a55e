// Scenario 6: soak. Real agent processes (two thirds web mode, one third poll mode) get runs of the
// whole fleet back to back (ten runs in flight) until a time or command bound, while random
// agents are restarted (SIGTERM or kill -9, seeded). Every execution is recorded in marker files,
// so the report counts what was sent, stored, run twice (must be 0) and missing (must be 0), next
// to the control plane's memory at start and end.
//
//   npm run bench -- soak      MYX_SOAK_SECONDS (150), MYX_SOAK_AGENTS (30), MYX_SOAK_COMMANDS (6000), MYX_SOAK_SEED (1)

import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { RESULT_STATUSES } from '../src/protocol/command-status.ts';
import { FaultFleet, mulberry32, retrying } from '../test/fault-fleet.ts';
import { figure, procUsage, table, tempDir } from './lib.ts';

export interface SoakOptions {
  seconds: number;
  agents: number;
  maxCommands: number;
  seed: number;
}

const RUNS_IN_FLIGHT = 10;
const SERVER_FLAGS = ['--heartbeat-interval', '1', '--lease', '10'];

export function soakOptions(env: NodeJS.ProcessEnv = process.env): SoakOptions {
  const num = (name: string, fallback: number) => {
    const v = Number(env[name] ?? fallback);
    if (!(v > 0)) throw new Error(`${name} must be a positive number, got ${env[name]}`);
    return v;
  };
  return { seconds: num('MYX_SOAK_SECONDS', 150), agents: num('MYX_SOAK_AGENTS', 30), maxCommands: num('MYX_SOAK_COMMANDS', 6000), seed: num('MYX_SOAK_SEED', 1) };
}

export async function soak(o: SoakOptions = soakOptions()): Promise<string> {
  const dir = tempDir();
  const rand = mulberry32(o.seed);
  const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
  const web = Math.round((o.agents * 2) / 3);
  const t0 = Date.now();
  const fleet = await FaultFleet.start(dir, { web, poll: o.agents - web, serverFlags: SERVER_FLAGS });
  console.log(`  ${o.agents} agents (${web} web, ${o.agents - web} poll) enrolled and connected in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const slots = await Promise.all(Array.from({ length: RUNS_IN_FLIGHT }, async () => new OperatorClient(await resolveConnection({ dataDir: fleet.dataDir }))));
  const pid = fleet.serverPid!;
  try {
    await sleep(2000); // start-up settles
    const rssStart = procUsage(pid).rssKiB;
    let rssPeak = rssStart;
    const started = Date.now();
    const deadline = started + o.seconds * 1000;
    let reserved = 0;
    let runs = 0;
    let stopping = false;

    // every 1-3 s one running agent is stopped (SIGTERM or kill -9) and started again 0.2-2 s later
    const restarts = (async () => {
      while (!stopping) {
        await sleep(between(1000, 3000));
        rssPeak = Math.max(rssPeak, procUsage(pid).rssKiB);
        const up = fleet.agents.filter((a) => a.proc && !a.starting);
        if (stopping || up.length === 0) continue;
        const a = up[Math.floor(rand() * up.length)]!;
        if (await fleet.killAgent(a, rand() < 0.5 ? 'SIGTERM' : 'SIGKILL')) fleet.restartLater(a, between(200, 2000));
      }
    })();

    // runs of the whole fleet back to back, each slot with its own client so its waits do not queue behind the others'
    await Promise.all(slots.map(async (client) => {
      while (Date.now() < deadline && reserved + o.agents <= o.maxCommands) {
        reserved += o.agents;
        const seconds = [0, 0, 0.1, 0.3, 0.5][Math.floor(rand() * 5)]!;
        // a new nonce per attempt: a retried create never shares markers with one whose answer was lost
        const { commands } = await retrying(() => fleet.createRun(`soak-${runs++}`, seconds, client));
        const ids = commands.map((c) => c.id);
        const end = Date.now() + 120_000;
        let done = false;
        while (!done && Date.now() < end) done = (await retrying(() => client.wait(ids, 20))).done;
      }
    }));
    const sending = (Date.now() - started) / 1000;
    stopping = true;
    await restarts;
    await fleet.allUp();
    const drained = await fleet.drain(180_000);
    const total = (Date.now() - started) / 1000;
    const rssEnd = procUsage(pid).rssKiB;
    rssPeak = Math.max(rssPeak, rssEnd);
    const all = await fleet.runsWithCommands();
    await fleet.stopAll();
    const audit = fleet.audit(all);

    const n = (s: string) => audit.byStatus[s] ?? 0;
    const stored = audit.commands.filter((c) => (RESULT_STATUSES as readonly string[]).includes(c.status)).length;
    const otherStatuses = Object.entries(audit.byStatus).filter(([s]) => !['succeeded', 'cancelled', 'lost'].includes(s));
    const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
    for (const [what, list] of [['duplicate', audit.duplicates], ['missing', audit.missing], ['other', audit.other]] as const) {
      if (list.length > 0) console.log(`  ${what} (${list.length}):\n    ${list.slice(0, 20).join('\n    ')}`);
    }
    const clean = drained && audit.duplicates.length === 0 && audit.missing.length === 0 && audit.other.length === 0;
    const f = (id: string, what: string, value: number, unit: 'count' | 'MiB' | 'per_s', better: 'lower' | 'higher' | null) => figure('soak', { id, what, value, unit, better });
    f('commands', 'commands sent', audit.commands.length, 'count', null);
    f('duplicates', 'duplicates (ran more than once)', audit.duplicates.length, 'count', 'lower');
    f('missing', 'lost results', audit.missing.length, 'count', 'lower');
    f('rss.start', 'control plane RSS at start', rssStart / 1024, 'MiB', 'lower');
    f('rss.end', 'control plane RSS at end', rssEnd / 1024, 'MiB', 'lower');
    f('rss.peak', 'control plane RSS, peak', rssPeak / 1024, 'MiB', 'lower');
    f('rate', 'commands per second', audit.commands.length / total, 'per_s', 'higher');
    if (clean) rmSync(dir, { recursive: true, force: true });
    else console.log(`  files kept in ${dir}`);
    return table('6. Soak: runs of the whole fleet back to back while agents restart', ['measure', 'value'], [
      ['agents', `${o.agents} real processes (${web} web, ${o.agents - web} poll)`],
      ['commands sent', `${audit.commands.length} (${audit.runs} runs)`],
      ['results stored', stored],
      ['succeeded', n('succeeded')],
      ['cancelled (agent stopped by SIGTERM while it ran)', n('cancelled')],
      ['`lost` (agent killed -9 while it ran)', n('lost')],
      ['other statuses', otherStatuses.length ? otherStatuses.map(([s, c]) => `${s} ${c}`).join(', ') : 'none'],
      ['executions (marker lines)', audit.executions],
      ['duplicates (ran more than once)', audit.duplicates.length],
      ['lost results (not ended, or an agent\'s result not stored)', audit.missing.length],
      ['agent restarts', `${fleet.counts.agentTerms} SIGTERM, ${fleet.counts.agentKills} kill -9`],
      ['control plane RSS', `${mib(rssStart)} at start, ${mib(rssEnd)} at end (peak ${mib(rssPeak)})`],
      ['duration', `${sending.toFixed(0)} s sending + ${(total - sending).toFixed(0)} s until every command ended`],
      ['commands/s', (audit.commands.length / total).toFixed(0)],
    ], [
      `Bounds: ${o.seconds} s or ${o.maxCommands} commands (MYX_SOAK_SECONDS, MYX_SOAK_COMMANDS), seed ${o.seed} (MYX_SOAK_SEED); control plane \`${SERVER_FLAGS.join(' ')}\`, all on loopback.`,
      `Each command is \`sh -c 'echo NONCE >> ran-AGENT.log; sleep S; echo done NONCE AGENT'\` with S from 0 to 0.5 s per run; ${RUNS_IN_FLIGHT} runs in flight at a time.`,
      'Every 1-3 s one agent is stopped (SIGTERM or kill -9, half each) and started again 0.2-2 s later with the same config and journal.',
      'Duplicates come from the marker files; lost results compare every agent journal\'s final results with the control plane\'s. `lost` and `cancelled` are the honest outcomes of commands running on an agent that was stopped.',
      'RSS from /proc/PID/status (VmRSS) of the control plane: after the fleet connected, and after every command ended.',
    ]);
  } finally {
    await Promise.all(slots.map((c) => c.close()));
    await fleet.stopAll();
  }
}

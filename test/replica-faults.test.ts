// Issue 11: three control-plane replicas on one PostgreSQL, 20 agents (14 web, 6 poll) enrolled
// through different replicas, fan-outs sent to different replicas, and kill -9 of replicas and
// agents at seeded moments. Afterwards every command has ended, none ran twice (the marker files
// and the agents' journals say what really ran), every result an agent finished is stored, and
// agents moved to another replica when theirs died. MYX_REPLICA_FAULT_SEEDS=N runs seeds 1..N
// (default 2, about 20 s each); MYX_REPLICA_FAULT_SEED=S replays one; MYX_FAULT_KEEP=1 keeps files and logs.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { assertAudit, FaultFleet, faultSeeds, mulberry32, retrying } from './fault-fleet.ts';
import { tempDir } from './helpers.ts';
import { postgresServer, postgresSkip } from './postgres-server.ts';

const REPLICAS = 3;
const WEB = 14;
const POLL = 6;
const SERVER_FLAGS = ['--heartbeat-interval', '0.5', '--lease', '5'];

type Step =
  | { kind: 'run'; sleep: number; via: number }
  | { kind: 'kill-agents'; agents: number[]; downMs: number }
  | { kind: 'kill-replica'; replica: number; downMs: number }
  | { kind: 'pause' };

/** What a seed does, decided up front: fan-outs through chosen replicas, kills of agents and of replicas, pauses. */
function plan(rand: () => number): { step: Step; thenMs: number }[] {
  const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
  const run = (): Step => ({ kind: 'run', sleep: Math.round(between(0.2, 1.5) * 100) / 100, via: Math.floor(rand() * REPLICAS) });
  const killAgents = (): Step => {
    const k = 1 + Math.floor(rand() * 4);
    const picked = new Set<number>();
    while (picked.size < k) picked.add(Math.floor(rand() * (WEB + POLL)));
    return { kind: 'kill-agents', agents: [...picked], downMs: Math.round(between(0, 1500)) };
  };
  const killReplica = (): Step => ({ kind: 'kill-replica', replica: Math.floor(rand() * REPLICAS), downMs: Math.round(between(200, 3000)) });
  const steps: Step[] = [run()];
  const n = 8 + Math.floor(rand() * 5);
  for (let i = 0; i < n; i++) {
    const r = rand();
    steps.push(r < 0.3 ? run() : r < 0.55 ? killAgents() : r < 0.8 ? killReplica() : { kind: 'pause' });
  }
  const count = (kind: Step['kind']) => steps.filter((s) => s.kind === kind).length;
  const insert = (s: Step) => steps.splice(1 + Math.floor(rand() * steps.length), 0, s);
  // every seed kills a replica right after a fan-out through it, fans out through two replicas at least, and kills agents
  const first = run();
  steps.splice(1, 0, first, { kind: 'kill-replica', replica: (first as { via: number }).via, downMs: Math.round(between(500, 3000)) });
  while (count('kill-replica') > 4) steps.splice(steps.findLastIndex((s) => s.kind === 'kill-replica'), 1);
  if (count('kill-agents') === 0) insert(killAgents());
  while (new Set(steps.flatMap((s) => (s.kind === 'run' ? [s.via] : []))).size < 2) insert(run());
  // the kill after the first fan-out comes as soon as the run is created: while its replica is still pushing it
  return steps.map((step) => ({ step, thenMs: step === first ? 0 : Math.round(between(0, 900)) }));
}

function describePlan(steps: { step: Step; thenMs: number }[]): string {
  return steps.map(({ step: s, thenMs }) => {
    const what = s.kind === 'run' ? `run(sleep ${s.sleep}) through replica ${s.via}`
      : s.kind === 'kill-agents' ? `kill -9 agents ${s.agents.join(',')} (down ${s.downMs} ms)`
        : s.kind === 'kill-replica' ? `kill -9 replica ${s.replica} (down ${s.downMs} ms)` : 'pause';
    return `${what}, ${thenMs} ms`;
  }).join('; ');
}

async function chaos(seed: number): Promise<string> {
  const t0 = Date.now();
  const steps = plan(mulberry32(seed));
  const dir = tempDir();
  let fleet: FaultFleet | undefined;
  try {
    const database = await (await postgresServer()).createDatabase();
    fleet = await FaultFleet.start(dir, { web: WEB, poll: POLL, serverFlags: SERVER_FLAGS, replicas: REPLICAS, database });
    const f = fleet;
    const tSteps = Date.now();
    const restarts: Promise<void>[] = [];
    const restarting = new Set<number>();
    let runs = 0;
    for (const { step, thenMs } of steps) {
      switch (step.kind) {
        case 'run': {
          // through the chosen replica, or the next one up while it is down; a new nonce per attempt
          const up = [0, 1, 2].map((i) => (step.via + i) % REPLICAS).find((i) => f.serverUp(i)) ?? step.via;
          await retrying(() => f.createRun(`s${seed}-r${runs++}`, step.sleep, f.clientOf(up)));
          break;
        }
        case 'kill-agents':
          await Promise.all(step.agents.map(async (i) => {
            const a = f.agents[i]!;
            if (await f.killAgent(a, 'SIGKILL')) f.restartLater(a, step.downMs);
          }));
          break;
        case 'kill-replica': {
          // the chosen replica, or the next one up when it is down already (all of them may be down for a while)
          const i = [0, 1, 2].map((k) => (step.replica + k) % REPLICAS).find((k) => !restarting.has(k));
          if (i === undefined) break;
          await f.killServer('SIGKILL', i);
          restarting.add(i);
          // back in the background, on its own port: steps go on meanwhile, through the others
          restarts.push(sleep(step.downMs).then(() => f.startServer(i)).finally(() => restarting.delete(i)));
          break;
        }
        case 'pause':
          break;
        default: {
          const _exhaustive: never = step;
          return _exhaustive;
        }
      }
      await sleep(thenMs);
    }
    await Promise.all(restarts);
    await f.allUp();
    const tDrain = Date.now();
    const drained = await f.drain(150_000);
    const tEnd = Date.now();
    const runsNow = await f.runsWithCommands();
    await f.stopAll();
    const audit = f.audit(runsNow);
    if (process.env.MYX_FAULT_KEEP) console.log(`seed ${seed}: logs in ${f.writeLogs()}`);
    assertAudit(audit, drained, 2 * (WEB + POLL));
    const moves = f.logCount(/does not answer .*: talking to/, 'agents');
    assert.ok(moves > 0, 'agents moved to another replica when theirs was killed');
    if (!process.env.MYX_FAULT_KEEP) rmSync(dir, { recursive: true, force: true }); // kept when the seed failed
    const s = (ms: number) => (ms / 1000).toFixed(0);
    return `seed ${seed}: ${audit.commands.length} commands ${JSON.stringify(audit.byStatus)}, ${audit.executions} executions; `
      + `${f.counts.serverKills} replica kills, ${f.counts.agentKills} agent kills; ${moves} agent moves to another replica, `
      + `${f.logCount(/reporting it as lost/, 'agents')} reported lost, ${f.logCount(/lease ran out before the agent started the command/, 'server')} leases ran out, `
      + `${f.logCount(/result not delivered yet/, 'agents')} result resends; ${s(Date.now() - t0)} s (${s(tSteps - t0)} + ${s(tDrain - tSteps)} + ${s(tEnd - tDrain)} s start-up, faults, until all ended)`;
  } catch (err) {
    await fleet?.stopAll().catch(() => {});
    fleet?.writeLogs();
    throw new Error(`seed ${seed} failed (replay: MYX_REPLICA_FAULT_SEED=${seed} npx node --test test/replica-faults.test.ts; files and logs kept in ${dir})\n`
      + `plan: ${describePlan(steps)}\n${(err as Error).message}`, { cause: err });
  }
}

describe('kill -9 of replicas and agents during fan-outs through three replicas to 20 agents', { skip: postgresSkip() }, () => {
  for (const seed of faultSeeds('MYX_REPLICA_FAULT', 2)) {
    test(`seed ${seed}: every command ends, none runs twice, no result is lost, agents fail over`, { timeout: 400_000 }, async (t) => {
      t.diagnostic(await chaos(seed));
    });
  }
});

// A fleet for fault injection, shared by test/faults.test.ts, test/replica-faults.test.ts and
// bench/soak.ts: a control plane (one on SQLite, or several replicas on one PostgreSQL) on fixed
// loopback ports (each comes back on its own after a restart) and real agent processes (web and
// poll mode) that can be killed (SIGKILL or SIGTERM) and started again with the same config and
// journal, while every command they run appends a line to a per-agent marker file. The audit then
// compares three records of what happened: the control plane's commands, the marker files (what
// really ran) and the agents' journals (what each agent finished).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { enroll } from '../src/agent/enroll.ts';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { RequestFailedError } from '../src/common/json-client.ts';
import { isFinal, RESULT_STATUSES } from '../src/protocol/command-status.ts';
import type { CommandRecord, CommandResult, RunRecord } from '../src/protocol/wire.ts';
import { freePort, MYX, ROOT, startProc, type Proc } from './helpers.ts';
import { copyClusterCertificate } from './replica-helpers.ts';

const MYX_AGENT = join(ROOT, 'bin', 'myx-agent.js');
/** How long a process may take to start (generous: the machine may be busy). */
const START_MS = 120_000;

/** Every fleet process still running; killed when this process exits, however a test ended. */
const live = new Set<Proc>();
process.once('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
});

function spawnTracked(bin: string, args: string[], env: Record<string, string> = {}): Proc {
  const proc = startProc(bin, args, env);
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

/** What every fleet command runs: $0 nonce, $1 marker dir, $2 seconds to sleep; FAULT_AGENT comes from the agent's environment. */
const MARKER_SCRIPT = 'echo "$0" >> "$1/ran-$FAULT_AGENT.log"; sleep "$2"; echo "done $0 $FAULT_AGENT"';

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence, in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Retries `fn` while the control plane is unreachable or restarting (transport errors, 5xx). */
export async function retrying<T>(fn: () => Promise<T>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof RequestFailedError && err.retryable) || Date.now() > end) throw err;
      await sleep(250);
    }
  }
}

export interface FleetAgent {
  name: string;
  mode: 'web' | 'poll';
  config: string;
  /** The running process; null while the agent is down. */
  proc: Proc | null;
  /** Set while a (re)start is pending or in progress. */
  starting: Promise<void> | null;
  /** Every process this agent ran, for their logs. */
  procs: Proc[];
}

export interface FleetOptions {
  web: number;
  poll: number;
  /** Extra `myx server` flags (heartbeat interval, lease). */
  serverFlags?: string[];
  /**
   * Control-plane replicas on one PostgreSQL database (`database`, a URL), each on its own port.
   * Agent k enrolls through replica k mod N: the even ones with that replica's URL only (they learn
   * the others from it), the odd ones with every URL, theirs first. @default 1, on SQLite
   */
  replicas?: number;
  database?: string;
}

export interface JournalRow {
  id: string;
  state: string;
  result: CommandResult | null;
  reported: boolean;
}

export interface Audit {
  runs: number;
  commands: CommandRecord[];
  byStatus: Record<string, number>;
  /** Lines in the marker files: real executions. */
  executions: number;
  /** Commands that ran more than once (must be none). */
  duplicates: string[];
  /** Results missing or wrong: not final, succeeded without one run or without its stdout, an agent's result not stored. */
  missing: string[];
  /** Anything else that should not be: executions of no known command, journal entries the control plane does not know. */
  other: string[];
}

export class FaultFleet {
  readonly dir: string;
  /** The first replica's data dir (the only one without replicas). */
  readonly dataDir: string;
  readonly markerDir: string;
  /** Each replica's port; `port` is the first's. */
  readonly ports: number[];
  readonly agents: FleetAgent[] = [];
  readonly serverProcs: Proc[] = [];
  readonly #serverFlags: string[];
  readonly #servers: (Proc | null)[];
  #client: OperatorClient | null = null;
  readonly #clients: OperatorClient[] = [];
  readonly counts = { serverKills: 0, agentKills: 0, agentTerms: 0 };

  private constructor(dir: string, ports: number[], serverFlags: string[]) {
    this.dir = dir;
    this.dataDir = join(dir, 'server');
    this.markerDir = join(dir, 'markers');
    this.ports = ports;
    this.#serverFlags = serverFlags;
    this.#servers = ports.map(() => null);
    mkdirSync(this.markerDir, { recursive: true });
  }

  /** Starts the control plane (its replicas), enrolls `web` + `poll` agents and starts them, connected. */
  static async start(dir: string, o: FleetOptions): Promise<FaultFleet> {
    const n = o.replicas ?? 1;
    if (n > 1 && !o.database) throw new Error('replicas share a PostgreSQL database: pass `database`');
    const ports: number[] = [];
    while (ports.length < n) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const flags = [...(o.serverFlags ?? []), ...(o.database ? ['--store', o.database] : [])];
    const fleet = new FaultFleet(dir, ports, flags);
    try {
      await fleet.#start(o);
      return fleet;
    } catch (err) {
      await fleet.stopAll().catch(() => {}); // nothing of a fleet that did not come up outlives it
      throw err;
    }
  }

  async #start(o: FleetOptions): Promise<void> {
    await this.startServer(0);
    // every replica presents the first one's certificate (README: Running replicas)
    for (let i = 1; i < this.ports.length; i++) copyClusterCertificate(this.dataDir, this.dataDirOf(i));
    await Promise.all(this.ports.slice(1).map((_, i) => this.startServer(i + 1)));
    const conn = await resolveConnection({ dataDir: this.dataDir });
    // the fleet's operator: every replica's URL, failing over as `myx --server A,B,C` does
    this.#client = new OperatorClient({ ...conn, urls: this.urls });
    for (const url of this.urls) this.#clients.push(new OperatorClient({ ...conn, urls: [url] }));
    const specs = [
      ...Array.from({ length: o.web }, (_, i) => ({ name: `w${String(i + 1).padStart(2, '0')}`, mode: 'web' as const })),
      ...Array.from({ length: o.poll }, (_, i) => ({ name: `p${String(i + 1).padStart(2, '0')}`, mode: 'poll' as const })),
    ];
    // the same code `myx-agent enroll` runs, without a process per agent
    for (let i = 0; i < specs.length; i += 8) {
      await Promise.all(specs.slice(i, i + 8).map(async (s, j) => {
        const k = i + j;
        const via = k % this.urls.length;
        const urls = k % 2 === 0 ? [this.urls[via]!] : [...this.urls.slice(via), ...this.urls.slice(0, via)];
        const { token } = await this.clientOf(via).createEnrollmentToken(600);
        const config = join(this.dir, 'agents', s.name, 'config.json');
        await enroll({ server: urls.join(','), token, configPath: config, name: s.name, noWeb: s.mode === 'poll', bind: '127.0.0.1', webPort: 0 });
        this.agents.push({ ...s, config, proc: null, starting: null, procs: [] });
      }));
    }
    this.agents.sort((a, b) => a.name.localeCompare(b.name));
    await Promise.all(this.agents.map((a) => this.startAgent(a)));
    await Promise.all(this.agents.map((a) => a.proc!.waitFor(/connected to the control plane/, START_MS)));
  }

  /** An operator client of every replica (it fails over between them). */
  get client(): OperatorClient {
    return this.#client!;
  }

  /** An operator client of replica `i` only. */
  clientOf(i: number): OperatorClient {
    return this.#clients[i]!;
  }

  get port(): number {
    return this.ports[0]!;
  }

  /** Each replica's URL (its public URL: what agents learn). */
  get urls(): string[] {
    return this.ports.map((p) => `https://127.0.0.1:${p}`);
  }

  get serverPid(): number | undefined {
    return this.#servers[0]?.child.pid;
  }

  /** Whether replica `i` runs. */
  serverUp(i = 0): boolean {
    return this.#servers[i] !== null;
  }

  dataDirOf(i: number): string {
    return i === 0 ? this.dataDir : join(this.dir, `server-${i}`);
  }

  async startServer(i = 0): Promise<void> {
    const proc = spawnTracked(MYX, ['server', '--data-dir', this.dataDirOf(i), '--listen', `127.0.0.1:${this.ports[i]}`, ...this.#serverFlags], { FAULT_REPLICA: String(i) });
    this.serverProcs.push(proc);
    await proc.waitFor(/control plane listening/, START_MS);
    this.#servers[i] = proc;
  }

  async killServer(signal: NodeJS.Signals = 'SIGKILL', i = 0): Promise<void> {
    const proc = this.#servers[i];
    if (!proc) return;
    this.#servers[i] = null;
    await stop(proc, signal);
    this.counts.serverKills++;
  }

  async startAgent(a: FleetAgent): Promise<void> {
    const flags = a.mode === 'web' ? ['--web-port', '0'] : [];
    const proc = spawnTracked(MYX_AGENT, ['--config', a.config, ...flags], { FAULT_AGENT: a.name });
    a.procs.push(proc);
    await proc.waitFor(/"msg":"agent .* (serving on|in poll mode)/, START_MS);
    a.proc = proc;
  }

  /** Stops the agent (after a pending start finishes); false when it was down already. */
  async killAgent(a: FleetAgent, signal: NodeJS.Signals = 'SIGKILL'): Promise<boolean> {
    if (a.starting) await a.starting;
    const proc = a.proc;
    if (!proc) return false;
    a.proc = null;
    await stop(proc, signal);
    if (signal === 'SIGKILL') this.counts.agentKills++;
    else this.counts.agentTerms++;
    return true;
  }

  /** Starts the agent again after `ms`, in the background (see `allUp`). */
  restartLater(a: FleetAgent, ms: number): void {
    const starting = sleep(ms).then(() => this.startAgent(a));
    a.starting = starting;
    // a failed start stays in `starting`, so killAgent and allUp report it
    void starting.then(() => {
      if (a.starting === starting) a.starting = null;
    }, () => {});
  }

  /** Every agent running again (pending restarts done, stopped ones started). */
  async allUp(): Promise<void> {
    await Promise.all(this.agents.map(async (a) => {
      if (a.starting) await a.starting;
      if (!a.proc) await this.startAgent(a);
    }));
  }

  /** The command of a fleet run: records each execution, sleeps, prints `done NONCE AGENT`. */
  markerCommand(nonce: string, sleepSeconds: number): { command: string; args: string[] } {
    return { command: 'sh', args: ['-c', MARKER_SCRIPT, nonce, this.markerDir, sleepSeconds.toFixed(2)] };
  }

  /** A run of the marker command on every agent; the nonce marks its executions. */
  async createRun(nonce: string, sleepSeconds: number, client = this.client): Promise<{ run: RunRecord; commands: CommandRecord[] }> {
    return client.createRun({ targets: { all: true }, ...this.markerCommand(nonce, sleepSeconds) });
  }

  /** Waits until every run has ended; false when `ms` passed first. */
  async drain(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const runs = await retrying(() => this.client.runs(1000));
      if (runs.every((r) => r.done)) return true;
      await sleep(500);
    }
    return false;
  }

  /** Agents stopped (SIGTERM, gracefully), then the control plane; every process the fleet started is gone after. */
  async stopAll(): Promise<void> {
    await Promise.all(this.agents.map(async (a) => {
      if (a.starting) await a.starting.catch(() => {});
      a.proc = null;
      await Promise.all(a.procs.map((p) => stop(p, 'SIGTERM')));
    }));
    await this.#client?.close();
    for (const c of this.#clients) await c.close();
    this.#servers.fill(null);
    await Promise.all(this.serverProcs.map((p) => stop(p, 'SIGTERM')));
  }

  /** Marker lines per agent and nonce. */
  executions(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const f of readdirSync(this.markerDir)) {
      const m = /^ran-(.+)\.log$/.exec(f);
      if (!m) continue;
      const counts = new Map<string, number>();
      for (const line of readFileSync(join(this.markerDir, f), 'utf8').split('\n')) {
        if (line) counts.set(line, (counts.get(line) ?? 0) + 1);
      }
      out.set(m[1]!, counts);
    }
    return out;
  }

  /** An agent's journal, read after it stopped. */
  journal(a: FleetAgent): JournalRow[] {
    const path = join(dirname(a.config), 'state', 'journal.db');
    if (!existsSync(path)) return [];
    const db = new DatabaseSync(path);
    try {
      const rows = db.prepare('SELECT id, state, result, reported_at FROM commands').all() as { id: string; state: string; result: string | null; reported_at: string | null }[];
      return rows.map((r) => ({ id: r.id, state: r.state, result: r.result ? (JSON.parse(r.result) as CommandResult) : null, reported: r.reported_at !== null }));
    } finally {
      db.close();
    }
  }

  /** Writes every process's output to DIR/logs (server-N.log, AGENT-N.log), for a look after a failure. */
  writeLogs(): string {
    const logs = join(this.dir, 'logs');
    mkdirSync(logs, { recursive: true });
    this.serverProcs.forEach((p, i) => writeFileSync(join(logs, `server-${i}.log`), p.output()));
    for (const a of this.agents) a.procs.forEach((p, i) => writeFileSync(join(logs, `${a.name}-${i}.log`), p.output()));
    return logs;
  }

  /** Log lines matching `re` in every process of the fleet (server and agents). */
  logCount(re: RegExp, which: 'server' | 'agents'): number {
    const procs = which === 'server' ? this.serverProcs : this.agents.flatMap((a) => a.procs);
    return procs.reduce((n, p) => n + p.output().split('\n').filter((l) => re.test(l)).length, 0);
  }

  /**
   * Compares the control plane's commands (fetched while it runs) with the marker files and the
   * journals (read after the agents stopped): see `Audit`.
   */
  audit(runs: { run: RunRecord; commands: CommandRecord[] }[]): Audit {
    const ran = this.executions();
    const commands = runs.flatMap((r) => r.commands);
    const byId = new Map(commands.map((c) => [c.id, c]));
    const byStatus: Record<string, number> = {};
    const duplicates: string[] = [];
    const missing: string[] = [];
    const other: string[] = [];
    const known = new Set<string>();
    for (const { run, commands: cs } of runs) {
      const nonce = nonceOf(run);
      for (const c of cs) {
        byStatus[c.status] = (byStatus[c.status] ?? 0) + 1;
        const n = ran.get(c.agent_name)?.get(nonce) ?? 0;
        known.add(`${c.agent_name}\t${nonce}`);
        const what = `${c.id} (${c.agent_name}, run ${run.id}, ${c.status})`;
        if (n > 1) duplicates.push(`${what} ran ${n} times`);
        if (!isFinal(c.status)) missing.push(`${what} never ended`);
        if (c.status === 'succeeded') {
          if (n !== 1) missing.push(`${what} succeeded but ran ${n} times`);
          if (c.stdout !== `done ${nonce} ${c.agent_name}\n`) missing.push(`${what} succeeded with stdout ${JSON.stringify(c.stdout)}`);
        }
      }
    }
    for (const [agent, counts] of ran) {
      for (const [nonce, n] of counts) if (!known.has(`${agent}\t${nonce}`)) other.push(`${agent} ran ${nonce} ${n} time(s), a command the control plane does not know`);
    }
    const journaled = new Set<string>();
    for (const a of this.agents) {
      for (const j of this.journal(a)) {
        journaled.add(j.id);
        const c = byId.get(j.id);
        if (!c) {
          other.push(`${a.name}'s journal holds ${j.id}, which is in no run`);
          continue;
        }
        if (!j.result) missing.push(`${j.id} (${a.name}) has no result in the agent's journal`);
        else if (j.result.status !== c.status) missing.push(`${j.id} (${a.name}): the agent finished it ${j.result.status}, the control plane says ${c.status}`);
      }
    }
    for (const { run, commands: cs } of runs) {
      for (const c of cs) {
        if (journaled.has(c.id)) continue;
        if ((RESULT_STATUSES as readonly string[]).includes(c.status)) other.push(`${c.id} (${c.agent_name}) ended ${c.status}, but its agent never journaled it`);
        if (ran.get(c.agent_name)?.get(nonceOf(run))) other.push(`${c.id} (${c.agent_name}) ran without being journaled`);
      }
    }
    let executions = 0;
    for (const counts of ran.values()) for (const n of counts.values()) executions += n;
    return { runs: runs.length, commands, byStatus, executions, duplicates, missing, other };
  }

  /** Every run on the control plane with its commands. */
  async runsWithCommands(): Promise<{ run: RunRecord; commands: CommandRecord[] }[]> {
    const runs = await retrying(() => this.client.runs(1000));
    if (runs.length >= 1000) throw new Error('more than 1000 runs: the audit would miss some');
    const out: { run: RunRecord; commands: CommandRecord[] }[] = [];
    for (const r of runs) out.push(await retrying(() => this.client.getRun(r.id)));
    return out;
  }
}

/**
 * Fails unless the audit is clean: every command ended (`drained`), none ran twice, no result is
 * missing or wrong, nothing adds up otherwise; kill -9 leaves two honest outcomes, succeeded (it
 * ran and the result arrived) or lost (it was running on a killed agent); at least `minCommands`.
 */
export function assertAudit(audit: Audit, drained: boolean, minCommands: number): void {
  const none = (list: string[], what: string) => assert.equal(list.length, 0, `${list.length} ${what}:\n${list.slice(0, 20).join('\n')}`);
  assert.ok(drained, `not every command ended: ${JSON.stringify(audit.byStatus)}\n${audit.missing.slice(0, 20).join('\n')}`);
  none(audit.duplicates, 'commands ran more than once');
  none(audit.missing, 'results missing or wrong');
  none(audit.other, 'executions or journal entries that do not add up');
  const unexpected = Object.keys(audit.byStatus).filter((s) => s !== 'succeeded' && s !== 'lost');
  assert.deepEqual(unexpected, [], `statuses: ${JSON.stringify(audit.byStatus)}`);
  assert.ok(audit.commands.length >= minCommands, `${audit.commands.length} commands, expected at least ${minCommands}`);
}

/** The seeds to run: PREFIX_SEED=S replays one; PREFIX_SEEDS=N runs 1..N (default `count`). */
export function faultSeeds(prefix: string, count: number): number[] {
  const one = process.env[`${prefix}_SEED`];
  if (one) return [Number(one)];
  const n = Number(process.env[`${prefix}_SEEDS`] ?? count);
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** The nonce of a fleet run: the first argument after the script (`sh -c SCRIPT NONCE DIR SECONDS`). */
function nonceOf(run: RunRecord): string {
  return run.args[2]!;
}

/** Signals the process and waits for it to exit (SIGKILL after 30 s if a SIGTERM is not enough). */
async function stop(proc: Proc, signal: NodeJS.Signals): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 30_000);
  await proc.exited;
  clearTimeout(timer);
}

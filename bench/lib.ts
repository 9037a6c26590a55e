// Shared pieces of the benchmarks: a control plane and agents as real processes on loopback,
// agents registered through the real enrollment API, timing, markdown tables, and the one way a
// scenario records its figures for bench-results.json (figure, samples; see results.ts).

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../src/agent/control-client.ts';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { parseEnrollmentToken } from '../src/protocol/enrollment-token.ts';
import { MYX_VERSION } from '../src/protocol/version.ts';
import { startExe, startProc, startServer as startTestServer, tempDir, type Proc, type TestServer } from '../test/helpers.ts';
import { SCHEMA, thisMachine, type BenchResults, type Figure, type Unit } from './results.ts';

export { tempDir, type TestServer };

export const ROOT = join(import.meta.dirname, '..');
/**
 * The tree whose control plane, agents and CLI are measured: this one, or `MYX_BENCH_ROOT` (another
 * checkout, built), so a change can be measured against the code before it in the same session.
 */
export const TESTED_ROOT = process.env.MYX_BENCH_ROOT ?? ROOT;
export const MYX_BIN = join(TESTED_ROOT, 'bin', 'myx.js');
export const MYX_AGENT = join(TESTED_ROOT, 'bin', 'myx-agent.js');

/**
 * Profiling of the control planes of every scenario, by environment: `MYX_BENCH_CPU_PROF=DIR`
 * (`--cpu-prof`: a V8 CPU profile per control plane, written when it stops), `MYX_BENCH_HEAP_PROF=DIR`
 * (`--heap-prof`: a sampling heap profile), `MYX_BENCH_LOOP=DIR` (bench/loop-probe.ts: event-loop
 * delay, RSS and heap every second, one JSON line each). Each control plane gets its own folder,
 * named for the scenario (MYX_BENCH_SCENARIO, set by run.ts) and a counter.
 */
export function profileEnv(label = 'server'): Record<string, string> {
  const { MYX_BENCH_CPU_PROF: cpu, MYX_BENCH_HEAP_PROF: heap, MYX_BENCH_LOOP: loop } = process.env;
  if (!cpu && !heap && !loop) return {};
  const name = `${process.env.MYX_BENCH_SCENARIO ?? 'bench'}-${label}-${++profiled}`;
  const flags: string[] = [];
  if (cpu) flags.push('--cpu-prof', `--cpu-prof-dir=${join(cpu, name)}`);
  if (heap) flags.push('--heap-prof', `--heap-prof-dir=${join(heap, name)}`);
  const env: Record<string, string> = {};
  if (loop) {
    mkdirSync(loop, { recursive: true });
    flags.push('--import', join(import.meta.dirname, 'loop-probe.ts'));
    env.MYX_BENCH_LOOP_FILE = join(loop, `${name}.jsonl`);
  }
  return { ...env, NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', ...flags].join(' ').trim() };
}
let profiled = 0;

/** A control plane as the tests start it (of TESTED_ROOT), profiled as profileEnv says. */
export function startServer(dir: string, extra: string[] = [], opts: { exe?: string; env?: Record<string, string>; label?: string } = {}): Promise<TestServer> {
  const { label, ...rest } = opts;
  const env = { ...profileEnv(label), ...rest.env };
  if (rest.exe || TESTED_ROOT === ROOT) return startTestServer(dir, extra, { ...rest, env });
  // another tree: its bin/myx.js, run by this node
  const exe = join(dir, 'tested-myx.sh');
  mkdirSync(dir, { recursive: true });
  writeFileSync(exe, `#!/bin/sh\nexec ${process.execPath} ${MYX_BIN} "$@"\n`, { mode: 0o755 });
  return startTestServer(dir, extra, { exe, env: { ...env, MYX_LOG_FORMAT: 'json' } });
}

export async function operator(server: TestServer): Promise<OperatorClient> {
  return new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
}

export interface Registered {
  name: string;
  agentId: string;
  token: string;
}

/** Enrolls an agent through the operator and agent APIs (no process per enrollment). */
export async function register(client: OperatorClient, server: TestServer, name: string, mode: 'web' | 'poll', port: number | null, address: string | null, fingerprint: string | null = null): Promise<Registered> {
  const { token } = await client.createEnrollmentToken(600);
  const pin = parseEnrollmentToken(token)!.serverFingerprint;
  const res = await ControlClient.register([server.url], pin, {
    enrollment_token: token, name, hostname: hostname(), os: 'linux', version: MYX_VERSION, mode, web_port: port,
    fingerprint, advertise_address: address, labels: {},
  });
  return { name, agentId: res.agent_id, token: res.agent_token };
}

/** Writes a config file for a registered agent and starts it as its own process (`exe`: a packaged myx-agent). */
export async function startRealAgent(dir: string, server: TestServer, reg: Registered, web: { bind: string; port: number } | null, exe?: string): Promise<Proc> {
  const cfgDir = join(dir, reg.name);
  mkdirSync(cfgDir, { recursive: true });
  const config = join(cfgDir, 'config.json');
  writeFileSync(config, JSON.stringify({
    server_url: server.url, server_fingerprint: server.fingerprint, agent_id: reg.agentId, agent_token: reg.token, name: reg.name,
    web_service_enabled: web !== null, web_service_port: web?.port ?? 8443, web_service_bind: web?.bind ?? '127.0.0.1',
    ...(web ? { advertise_address: web.bind } : {}), log_level: 'warn',
  }), { mode: 0o600 });
  const proc = exe
    ? startExe(exe, ['--config', config], { ...process.env, MYX_LOG_FORMAT: 'json', MYX_LOG_LEVEL: 'info' })
    : startProc(MYX_AGENT, ['--config', config], { MYX_LOG_LEVEL: 'info' });
  await proc.waitFor(/connected to the control plane/, 120_000);
  return proc;
}

const recorded: BenchResults = { schema: SCHEMA, scenarios: {} };

/** What this process's scenarios recorded so far. */
export function recordedResults(): BenchResults {
  return recorded;
}

function scenario(name: string) {
  return (recorded.scenarios[name] ??= { measured_at: new Date().toISOString(), machine: thisMachine(), figures: [] });
}

/** Records one figure of `scenarioName` (a later one with the same id replaces it). */
export function figure(scenarioName: string, f: Figure): void {
  const s = scenario(scenarioName);
  s.figures = [...s.figures.filter((x) => x.id !== f.id), f];
}

/** Records the p50, p90 and p99 of a latency distribution (ms) as figures `<id>.p50` ..., and its samples. */
export function latency(scenarioName: string, id: string, what: string, values: number[], params: Record<string, string | number> = {}): ReturnType<typeof stats> {
  const st = stats(values);
  for (const q of ['p50', 'p90', 'p99'] as const) figure(scenarioName, { id: `${id}.${q}`, what: `${what}, ${q}`, value: round(st[q]), unit: 'ms', better: 'lower', params: { ...params, stat: q } });
  samples(scenarioName, id, 'ms', values);
  return st;
}

/** Keeps the raw samples of a distribution (charts draw them). */
export function samples(scenarioName: string, name: string, unit: Unit, values: number[]): void {
  const s = scenario(scenarioName);
  (s.samples ??= {})[name] = { unit, values: values.map(round) };
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function stats(samples: number[]): { n: number; p50: number; p90: number; p99: number; min: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), min: s[0]! };
}

export function ms(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`;
}

export function ratio(peer: number | undefined, ours: number | undefined): string {
  if (!peer || !ours) return '-';
  return `${(peer / ours).toFixed(1)}x`;
}

export function table(title: string, head: string[], rows: (string | number)[][], notes: string[] = []): string {
  const lines = [`### ${title}`, '', `| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`));
  const text = lines.join('\n') + '\n';
  console.log('\n' + text);
  return text;
}

/** Runs a shell command `n` times (after `warmup` untimed runs); returns wall times in ms. */
export function timeShell(cmd: string, n: number, warmup = 1, env: NodeJS.ProcessEnv = process.env): number[] {
  const out: number[] = [];
  for (let i = 0; i < n + warmup; i++) {
    const t0 = performance.now();
    const r = spawnSync('sh', ['-c', cmd], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const dt = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr?.toString().slice(0, 500)}`);
    if (i >= warmup) out.push(dt);
  }
  return out;
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Resident memory (KiB; anonKiB: the private part, without pages of the executable and other files) and CPU time used so far (ms) of a process, from /proc. */
export function procUsage(pid: number): { rssKiB: number; anonKiB: number; cpuMs: number } {
  const status = spawnSync('cat', [`/proc/${pid}/status`, `/proc/${pid}/stat`], { encoding: 'utf8' }).stdout;
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const anon = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = status.slice(status.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssKiB: rss, anonKiB: anon, cpuMs: (ticks * 1000) / 100 };
}

export function spawnNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
}

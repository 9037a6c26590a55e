// Test helpers: real processes on loopback, each test in its own temp dir with its own ports.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(import.meta.dirname, '..');
export const MYX = join(ROOT, 'bin', 'myx.js');
const MYX_AGENT = join(ROOT, 'bin', 'myx-agent.js');

/** Dirs to remove when this test file's process exits (those made without a test context to clean up after). */
const leftovers: string[] = [];
process.once('exit', () => {
  if (process.env.MYX_KEEP_TEST_DIRS === '1') return; // to look at a failed test's files
  for (const dir of leftovers) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir: removed after `t`, or when the test file ends (releases and big outputs add up to gigabytes). */
export function tempDir(t?: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'myx-test-'));
  if (t) t.after(() => rmSync(dir, { recursive: true, force: true }));
  else leftovers.push(dir);
  return dir;
}

export interface Proc {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the first output line matching `re`. */
  waitFor: (re: RegExp, ms?: number) => Promise<string>;
  exited: Promise<number | null>;
  kill: (signal?: NodeJS.Signals) => Promise<void>;
}

export function startProc(bin: string, args: string[], env: Record<string, string> = {}, cwd?: string): Proc {
  return startExe(process.execPath, [bin, ...args], { ...process.env, MYX_LOG_FORMAT: 'json', ...env }, cwd);
}

/** Starts an executable with exactly `env` (nothing inherited), e.g. a packaged binary. */
export function startExe(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Proc {
  const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      const line = out.split('\n').find((l) => w.re.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return {
    child,
    output: () => out,
    exited,
    waitFor(re, ms = 20_000) {
      const line = out.split('\n').find((l) => re.test(l));
      if (line !== undefined) return Promise.resolve(line);
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`timed out waiting for ${re} in output:\n${out}`)), ms);
        waiters.push({ re, resolve: (l) => { clearTimeout(timer); res(l); } });
        void exited.then((code) => rej(new Error(`process exited (${code}) before ${re}; output:\n${out}`)));
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await exited;
      }
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runBin(bin: 'myx' | 'myx-agent', args: string[], env: Record<string, string> = {}, timeoutMs = 60_000, cwd?: string): Promise<CliResult> {
  return runExe(process.execPath, [bin === 'myx' ? MYX : MYX_AGENT, ...args], { ...process.env, MYX_LOG_FORMAT: 'json', ...env }, timeoutMs, cwd);
}

/** Runs an executable to its end with exactly `env` (nothing inherited). */
export function runExe(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000, cwd?: string): Promise<CliResult> {
  const bin = basename(file);
  return new Promise((res, rej) => {
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`${bin} ${args.join(' ')} took longer than ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    // 'close', not 'exit': the process may exit before its last output was read from the pipes
    child.once('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

export interface TestServer {
  proc: Proc;
  dataDir: string;
  /** curl options presenting the control plane's certificate (agents take pushes only with it). */
  clientCertCurlArgs: string[];
  url: string;
  fingerprint: string;
  myx: (args: string[], timeoutMs?: number) => Promise<CliResult>;
}

/** With MYX_TEST_STORE=postgres, every test control plane keeps its state in PostgreSQL: one database per data dir. */
const testDatabases = new Map<string, Promise<string>>();

async function testStoreArgs(dataDir: string, extra: string[]): Promise<string[]> {
  if (process.env.MYX_TEST_STORE !== 'postgres' || extra.includes('--store')) return [];
  let db = testDatabases.get(dataDir);
  if (!db) testDatabases.set(dataDir, (db = import('./postgres-server.ts').then(async (m) => (await m.postgresServer()).createDatabase())));
  return ['--store', await db];
}

/**
 * A control plane in `dir`/server. `exe` runs a packaged `myx` binary instead of bin/myx.js; `env`
 * adds to the environment, e.g. `{ MYX_LOG_FORMAT: 'pretty' }` for the log a person reads on a terminal.
 * MYX_TEST_STORE=postgres runs it on PostgreSQL (a database of its own, kept across restarts).
 */
export async function startServer(dir: string, extra: string[] = [], opts: { exe?: string; env?: Record<string, string> } = {}): Promise<TestServer> {
  const dataDir = join(dir, 'server');
  const args = ['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...extra, ...await testStoreArgs(dataDir, extra)];
  const proc = opts.exe ? startExe(opts.exe, args, { ...process.env, MYX_LOG_FORMAT: 'json', ...opts.env }) : startProc(MYX, args, opts.env);
  await proc.waitFor(/control plane listening/);
  const info = JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { url: string; fingerprint: string };
  return {
    proc, dataDir, url: info.url, fingerprint: info.fingerprint,
    clientCertCurlArgs: ['--cert', join(dataDir, 'tls', 'server.crt'), '--key', join(dataDir, 'tls', 'server.key')],
    myx: (args, timeoutMs) => runBin('myx', args, { MYX_DATA_DIR: dataDir }, timeoutMs),
  };
}

export interface TestAgent {
  proc: Proc;
  configPath: string;
  name: string;
  port: number;
  token: () => string;
}

export async function createToken(server: TestServer, ttl = '1h'): Promise<string> {
  const r = await server.myx(['token', 'create', '--json', '--ttl', ttl]);
  if (r.code !== 0) throw new Error(`token create failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { token: string }).token;
}

export async function enrollAgent(server: TestServer, dir: string, name: string, extra: string[] = []): Promise<string> {
  const configPath = join(dir, name, 'config.json');
  const token = await createToken(server);
  const r = await runBin('myx-agent', ['enroll', '--server', server.url, '--token', token, '--config', configPath, '--name', name, '--bind', '127.0.0.1', ...extra]);
  if (r.code !== 0) throw new Error(`enroll failed: ${r.stderr}`);
  return configPath;
}

export async function startAgent(configPath: string, flags: string[] = ['--web-port', '0']): Promise<TestAgent> {
  const proc = startProc(MYX_AGENT, ['--config', configPath, ...flags]);
  const line = await proc.waitFor(/"msg":"agent .* (serving on|in poll mode)/);
  await proc.waitFor(/connected to the control plane/);
  const rec = JSON.parse(line) as { agent: string; web_url: string | null };
  const cfg = () => JSON.parse(readFileSync(configPath, 'utf8')) as { agent_token: string };
  return { proc, configPath, name: rec.agent, port: rec.web_url ? Number(new URL(rec.web_url).port) : 0, token: () => cfg().agent_token };
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
export async function eventually<T>(fn: () => Promise<T> | T, ms = 15_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** True while `pid` runs. A zombie (killed, not yet reaped by an init that reaps lazily) is not running. */
export function pidRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export { existsSync };

/** A port that was free a moment ago on 127.0.0.1 (for a server that must come back on the same port). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** `npm run package` into `outDir` (a temp dir: tests never trust a release/ that may be stale), stamped `version` if given. */
export async function packageRelease(outDir: string, version?: string): Promise<string> {
  const env = { ...process.env, ...(version ? { MYX_VERSION: version } : {}) };
  const r = await runExe(process.execPath, [join(ROOT, 'scripts', 'package.ts'), '--out', outDir], env, 300_000);
  if (r.code !== 0) throw new Error(`packaging failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  return outDir;
}

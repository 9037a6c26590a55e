// Many simulated agents in one process, speaking the real protocol over real HTTPS on loopback:
// web mode serves POST /api/execute on its own port per agent and reports a result at once;
// poll mode long-polls and heartbeats between its polls, timing every heartbeat. Used by scenarios 3 and 4.
//
//   node bench/sim-agents.ts SPEC.json     (prints "ready", then at the end one JSON line of stats)

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestJson } from '../src/common/json-client.ts';
import { PinnedPool } from '../src/common/pinned-pool.ts';
import type { CommandResult, Delivery, ExecuteRequest, HeartbeatRequest, HeartbeatResponse } from '../src/protocol/wire.ts';

export interface SimSpec {
  serverUrl: string;
  serverFingerprint: string;
  mode: 'web' | 'poll';
  agents: { name: string; agentId: string; token: string; port: number }[];
  cert: { certPem: string; keyPem: string; fingerprint: string };
  /** poll mode: seconds between heartbeats, how long to ramp up, and how long to measure after */
  heartbeatSeconds: number;
  rampSeconds: number;
  durationSeconds: number;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as SimSpec;
/** Poll mode: agents leave over this long after the measured window. */
const RAMP_DOWN_MS = 5000;
const pool = new PinnedPool({ fingerprint: spec.serverFingerprint, connections: spec.agents.length * 2 + 16, connectTimeoutMs: 30_000 });
const heartbeatMs: number[] = [];
/** Web mode: every heartbeat after ready, as [when it was sent (epoch ms), ms it took or -1 if it failed]. */
const beats: [number, number][] = [];
let timeAll = false;
let errors = 0;
let results = 0;

const post = <T>(token: string, path: string, body: unknown, timeoutMs = 30_000) =>
  requestJson<T>({ method: 'POST', url: spec.serverUrl + path, pool, headers: { 'x-agent-token': token }, body, timeoutMs });

function facts(a: SimSpec['agents'][number]): HeartbeatRequest {
  return {
    name: a.name, hostname: 'sim', os: 'simulated', version: '0.1.0', mode: spec.mode, web_port: spec.mode === 'web' ? a.port : null,
    fingerprint: spec.mode === 'web' ? spec.cert.fingerprint : null, advertise_address: spec.mode === 'web' ? '127.0.0.1' : null,
    labels: { sim: 'yes' }, uptime_seconds: 1, running: 0,
  };
}

async function report(token: string, commandId: string): Promise<void> {
  const now = new Date().toISOString();
  const result: CommandResult = {
    status: 'succeeded', exit_code: 0, signal: null, stdout: '', stderr: '', stdout_bytes: 0, stderr_bytes: 0,
    stdout_truncated: false, stderr_truncated: false, error: null, started_at: now, finished_at: now,
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await post(token, `/api/agents/commands/${commandId}/result`, result);
      results++;
      return;
    } catch {
      errors++;
      await sleep(200 * (attempt + 1));
    }
  }
}

/** Runs `fn` over `items` with at most `n` at once. */
async function limited<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** The interval each agent was told in its last heartbeat answer (seconds), as a real agent keeps it. */
const intervals = new Map<string, number>();
const intervalMs = (a: SimSpec['agents'][number]) => (intervals.get(a.token) ?? spec.heartbeatSeconds) * 1000;

async function heartbeat(a: SimSpec['agents'][number], timed: boolean): Promise<Delivery | undefined> {
  const t0 = performance.now();
  const at = Date.now();
  try {
    const res = await post<HeartbeatResponse>(a.token, '/api/agents/heartbeat', facts(a));
    intervals.set(a.token, res.body.heartbeat_interval_seconds);
    if (timed) heartbeatMs.push(performance.now() - t0);
    if (timeAll) beats.push([at, performance.now() - t0]);
    for (const c of res.body.commands) void report(a.token, c.command_id);
    return res.body;
  } catch {
    errors++;
    if (timeAll) beats.push([at, -1]);
    return undefined;
  }
}

const servers: Server[] = [];
if (spec.mode === 'web') {
  for (const a of spec.agents) {
    const srv = createServer({ cert: spec.cert.certPem, key: spec.cert.keyPem, keepAliveTimeout: 65_000 }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.headers['x-agent-token'] !== a.token || req.url !== '/api/execute') {
          res.writeHead(401).end();
          return;
        }
        const cmd = JSON.parse(body) as ExecuteRequest;
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'accepted', command_id: cmd.command_id, duplicate: false, state: 'running' }));
        void report(a.token, cmd.command_id);
      });
    });
    await new Promise<void>((r) => srv.listen(a.port, '127.0.0.1', r));
    servers.push(srv);
  }
  await limited(spec.agents, 64, async (a) => void (await heartbeat(a, false)));
  timeAll = true;
  console.log('ready');
  // real agents heartbeat in web mode too; a command whose push failed arrives that way
  spec.agents.forEach((a, i) => {
    const beat = async () => {
      await heartbeat(a, false);
      setTimeout(() => void beat(), intervalMs(a)).unref(); // the interval the control plane said
    };
    setTimeout(() => void beat(), (i / spec.agents.length) * intervalMs(a)).unref();
  });
} else {
  await limited(spec.agents, 64, async (a) => void (await heartbeat(a, false)));
  console.log('ready');
  // Ramp up: agents open their long polls spread over rampSeconds, as a fleet coming up would;
  // heartbeats are timed only after that, for durationSeconds of steady state. As a real poll-mode
  // agent does, each beats between its polls over the same connection: a poll waits at most until
  // the next beat is due (the beats of the fleet spread over the interval).
  const rampEnd = Date.now() + spec.rampSeconds * 1000;
  const end = rampEnd + spec.durationSeconds * 1000;
  await Promise.all(spec.agents.map(async (a, i) => {
    await sleep((i / spec.agents.length) * spec.rampSeconds * 1000);
    let due = rampEnd + (i / spec.agents.length) * intervalMs(a);
    // and leave spread over RAMP_DOWN_MS after the window, as they came: ended all at once, the
    // fleet's last polls would be answered in one burst at the window's end, which no fleet does
    const leave = end + (i / spec.agents.length) * RAMP_DOWN_MS;
    while (Date.now() < leave) {
      if (Date.now() >= due) {
        await heartbeat(a, Date.now() < end);
        due = Date.now() + intervalMs(a);
        continue;
      }
      try {
        const wait = Math.min(25, Math.max(0.1, Math.round(Math.min(due, leave) - Date.now()) / 1000));
        const d = await requestJson<Delivery>({ method: 'GET', url: `${spec.serverUrl}/api/agents/poll?wait=${wait}`, pool, headers: { 'x-agent-token': a.token }, timeoutMs: (wait + 10) * 1000 });
        for (const c of d.body.commands) await report(a.token, c.command_id);
      } catch {
        errors++;
        await sleep(Math.min(1000 + Math.random() * 1000, Math.max(0, due - Date.now())));
      }
    }
  }));
}

if (spec.mode === 'web') {
  process.on('SIGTERM', () => {
    // written whole before exiting (a large line through a pipe is written asynchronously)
    process.stdout.write(JSON.stringify({ results, errors, beats }) + '\n', () => process.exit(0));
  });
} else {
  process.stdout.write(JSON.stringify({ heartbeatMs: summarize(heartbeatMs), heartbeats: heartbeatMs.length, results, errors }) + '\n', () => process.exit(0));
}

function summarize(v: number[]) {
  const s = [...v].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}

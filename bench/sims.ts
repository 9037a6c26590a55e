// Starting simulated agents (bench/sim-agents.ts) in a few processes, after registering them
// through the real enrollment API.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureSelfSigned } from '../src/common/tls-cert.ts';
import type { OperatorClient } from '../src/cli/operator-client.ts';
import { procUsage, register, spawnNode, type Registered, type TestServer } from './lib.ts';
import type { SimSpec } from './sim-agents.ts';

const SIM = join(import.meta.dirname, 'sim-agents.ts');

export async function registerMany(client: OperatorClient, server: TestServer, prefix: string, count: number, mode: 'web' | 'poll', firstPort: number, fingerprint: string | null): Promise<(Registered & { port: number })[]> {
  const out: (Registered & { port: number })[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < count) {
      const i = next++;
      const port = firstPort + i;
      const reg = await register(client, server, `${prefix}${i}`, mode, mode === 'web' ? port : null, mode === 'web' ? '127.0.0.1' : null, fingerprint);
      out[i] = { ...reg, port };
    }
  }));
  return out;
}

export interface SimGroup {
  stop(): Promise<string[]>;
  /** CPU time (user + system) the processes used so far, ms. */
  cpuMs(): number;
  /** Resolves with each process's final JSON line (poll mode ends by itself). */
  finished: Promise<string[]>;
}

/**
 * `processes` processes of simulated agents, the agents split evenly between them. `serverUrls`
 * (replicas): process p reports to the p-th URL (round robin), as agents behind a load balancer would.
 */
export async function startSims(dir: string, server: TestServer, mode: 'web' | 'poll', agents: (Registered & { port: number })[], processes: number, extra: Partial<SimSpec> = {}, serverUrls: string[] = [server.url]): Promise<SimGroup> {
  const cert = await ensureSelfSigned({ certPath: join(dir, 'sim.crt'), keyPath: join(dir, 'sim.key') }, 'myx sim agent');
  const per = Math.ceil(agents.length / processes);
  const children: ReturnType<typeof spawnNode>[] = [];
  for (let p = 0; p < processes && p * per < agents.length; p++) {
    const spec: SimSpec = {
      serverUrl: serverUrls[p % serverUrls.length]!, serverFingerprint: server.fingerprint, mode, cert,
      agents: agents.slice(p * per, (p + 1) * per).map((a) => ({ name: a.name, agentId: a.agentId, token: a.token, port: a.port })),
      heartbeatSeconds: 5, rampSeconds: 5, durationSeconds: 30, ...extra,
    };
    const file = join(dir, `sim-${mode}-${p}-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(spec));
    children.push(spawnNode(SIM, [file]));
  }
  const lines = children.map((c) => {
    let out = '';
    const ready = new Promise<void>((res, rej) => {
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) res();
      });
      c.once('exit', (code) => rej(new Error(`simulated agents exited (${code}) before ready`)));
    });
    const done = new Promise<string>((res) => c.once('close', () => res(out.split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}')));
    return { ready, done };
  });
  await Promise.all(lines.map((l) => l.ready));
  const finished = Promise.all(lines.map((l) => l.done));
  return {
    finished,
    cpuMs: () => children.reduce((sum, c) => sum + (c.exitCode === null && c.signalCode === null ? procUsage(c.pid!).cpuMs : 0), 0),
    async stop() {
      for (const c of children) c.kill('SIGTERM');
      return finished;
    },
  };
}

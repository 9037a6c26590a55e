// Scenario 6: the packaged single executables (`npm run package`) next to `node bin/...`: start-up
// (`--version`) and resident memory of idle agents (web and poll mode) and of an idle control plane.

import { spawnSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRelease } from '../test/helpers.ts';
import { figure, ms, operator, procUsage, register, ROOT, startRealAgent, startServer, stats, table, tempDir, timeShell } from './lib.ts';

interface Rss {
  rssKiB: number;
  anonKiB: number;
}

interface Idle {
  web: Rss;
  poll: Rss;
  server: Rss;
}

const S = 'binaries';

export async function binaries(windowSeconds = 10): Promise<string> {
  const dir = tempDir();
  try {
    // node bin/ loads dist/ only while it is fresh: build it, as `npm ci` does, for a fair comparison
    spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.ts')], { stdio: 'ignore' });
    const t0 = Date.now();
    const release = await packageRelease(join(dir, 'release'));
    const packSeconds = (Date.now() - t0) / 1000;
    const startUp = (cmd: string) => stats(timeShell(cmd, 20, 2)).p50;
    const rows: string[][] = [];
    for (const name of ['myx', 'myx-agent']) {
      const exe = startUp(`${join(release, name)} --version`);
      const node = startUp(`${process.execPath} ${join(ROOT, 'bin', `${name}.js`)} --version`);
      rows.push([`\`${name} --version\` (p50 of 20)`, ms(exe), ms(node), times(exe, node)]);
      figure(S, { id: `${name}.start.binary`, what: `\`${name} --version\`, packaged binary (p50)`, value: exe, unit: 'ms', better: 'lower', params: { name, how: 'binary' } });
      figure(S, { id: `${name}.start.node`, what: `\`${name} --version\`, node bin/ (p50)`, value: node, unit: 'ms', better: 'lower', params: { name, how: 'node' } });
    }
    const exe = await idle(join(dir, 'binary'), release, windowSeconds);
    const node = await idle(join(dir, 'node'), null, windowSeconds);
    const mib = (r: Rss) => `${(r.rssKiB / 1024).toFixed(0)} MiB (${(r.anonKiB / 1024).toFixed(0)})`;
    const memory = (what: string, a: Rss, b: Rss) => {
      rows.push([`${what} RSS (private)`, mib(a), mib(b), `${times(a.rssKiB, b.rssKiB)} (${times(a.anonKiB, b.anonKiB)})`]);
      const key = what.replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '');
      for (const [how, r] of [['binary', a], ['node', b]] as const) {
        figure(S, { id: `${key}.rss.${how}`, what: `${what} RSS, ${how}`, value: r.rssKiB / 1024, unit: 'MiB', better: 'lower', params: { how } });
        figure(S, { id: `${key}.private.${how}`, what: `${what} private memory, ${how}`, value: r.anonKiB / 1024, unit: 'MiB', better: 'lower', params: { how } });
      }
    };
    memory('idle agent, web mode,', exe.web, node.web);
    memory('idle agent, poll mode,', exe.poll, node.poll);
    memory('idle control plane (these two agents),', exe.server, node.server);
    const size = (n: string) => `${n} ${(statSync(join(release, n)).size / 2 ** 20).toFixed(0)} MiB`;
    return table('6. Packaged binaries vs `node bin/...`', ['', 'binary', '`node bin/` (dist bundle)', 'binary / node'], rows, [
      `binaries: ${size('myx')}, ${size('myx-agent')}; \`npm run package\` took ${packSeconds.toFixed(1)} s here.`,
      `RSS read from /proc after ${windowSeconds} s idle (heartbeat every 5 s), one control plane with one web and one poll agent per column.`,
      '(private): anonymous memory (heaps, stacks), what a process costs its host; the rest of RSS is clean pages of the executable file, which the kernel can drop and re-read.',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** RSS (KiB) of a control plane with one web-mode and one poll-mode agent, all idle; `release` null: node bin/. */
async function idle(dir: string, release: string | null, windowSeconds: number): Promise<Idle> {
  const server = await startServer(dir, [], release ? { exe: join(release, 'myx') } : {});
  const client = await operator(server);
  const agentExe = release ? join(release, 'myx-agent') : undefined;
  const web = await register(client, server, 'idle-web', 'web', 8443, '127.0.0.1');
  const poll = await register(client, server, 'idle-poll', 'poll', null, null);
  const procs = await Promise.all([
    startRealAgent(dir, server, web, { bind: '127.0.0.1', port: 0 }, agentExe),
    startRealAgent(dir, server, poll, null, agentExe),
  ]);
  try {
    await sleep(windowSeconds * 1000);
    const rss = (pid: number | undefined): Rss => procUsage(pid!);
    return { web: rss(procs[0].child.pid), poll: rss(procs[1].child.pid), server: rss(server.proc.child.pid) };
  } finally {
    await client.close();
    await Promise.all(procs.map((p) => p.kill()));
    await server.proc.kill();
  }
}

function times(binary: number, node: number): string {
  return `${(binary / node).toFixed(2)}x`;
}

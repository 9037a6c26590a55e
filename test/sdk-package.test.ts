// The SDK as another project gets it: a project outside this repository installs the package (npm
// install of the checkout, as the README says, offline), type-checks its code against the
// declaration files the build emits (mistakes in its use are errors), and runs it. The README's SDK
// example is taken from README.md as it is and run against a real control plane and real agents,
// so the example cannot rot.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { enrollAgent, ROOT, runExe, startAgent, startServer, tempDir } from './helpers.ts';

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The first ```ts block of the README's "## SDK" section, as written. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## SDK$/m)[1]?.split(/^## /m)[0];
  assert.ok(section, 'the README has a "## SDK" section');
  const code = /^```ts\n([\s\S]*?)^```$/m.exec(section)?.[1];
  assert.ok(code, 'with a ```ts block');
  return code;
}

/** Why the SDK's build in dist/ cannot be used: missing, or older than a source file (npm test builds first; by hand: npm run build). */
function staleBuild(): string | null {
  const mtime = (p: string) => {
    try {
      return statSync(p).mtimeMs;
    } catch {
      return 0;
    }
  };
  const built = mtime(join(ROOT, 'dist', '.built'));
  if (built === 0 || mtime(join(ROOT, 'dist', 'sdk.js')) === 0) return 'dist/ has no build: run `npm run build`';
  const newest = readdirSync(join(ROOT, 'src'), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile()).reduce((n, e) => Math.max(n, mtime(join(e.parentPath, e.name))), 0);
  return built >= newest ? null : 'dist/ is older than src/: run `npm run build` (npm test does)';
}

describe('the package, as a project outside this repository uses it', () => {
  const project = join(tempDir(), 'consumer');

  before(() => {
    const stale = staleBuild();
    assert.equal(stale, null, stale ?? '');
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // a folder dependency is a link: nothing is downloaded, whatever the network
    const npm = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--engine-strict=false', ROOT], { cwd: project, encoding: 'utf8' });
    assert.equal(npm.status, 0, `npm install of the checkout: ${npm.stdout}${npm.stderr}`);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true,
        // our declaration files are checked too, with only Node's types (which the example uses for process.env) beside them
        skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      include: ['*.ts'],
    }));
  });

  test('the tarball npm pack makes carries the SDK\'s bundle and declarations', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of ['package.json', 'dist/sdk.js', 'dist/types/sdk/index.d.ts', 'dist/types/protocol/wire.d.ts', 'bin/myx.js']) assert.ok(files.includes(f), `${f} in the tarball`);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    assert.deepEqual(pkg.exports['.'], { types: './dist/types/sdk/index.d.ts', default: './dist/sdk.js' });
  });

  test('its code type-checks against the emitted declarations, and the compiler catches misuse', async () => {
    writeFileSync(join(project, 'uses.ts'), `
import { connect, MyxError, type CommandRecord, type RunEvent, type RunHandle } from 'myx';

export async function use(): Promise<CommandRecord[]> {
  const myx = await connect({ dataDir: '/var/lib/myx' });
  const run: RunHandle = await myx.run({ targets: { agents: ['web-01'] }, command: 'uptime', maxConcurrency: '10%', maxErrors: 1, ttl: 600 });
  for await (const ev of run.events({ output: false })) describe(ev);
  try {
    return await run.wait();
  } catch (err) {
    if (err instanceof MyxError && err.code === 'ROLE_FORBIDDEN' && err.status === 403) return [];
    throw err;
  } finally {
    await myx.close();
  }
}

function describe(ev: RunEvent): string {
  switch (ev.type) {
    case 'output': return ev.agent + ev.stream + ev.data.length;
    case 'status': return ev.command.status;
    case 'end': return String(ev.commands.length);
    case 'disconnected': return ev.error.code;
    case 'reconnected': return ev.url;
    default: { const never: never = ev; return never; }
  }
}

export async function mistakes(): Promise<void> {
  // @ts-expect-error: a token and a fingerprint go with a server
  await connect({ server: 'https://cp:8000' });
  const myx = await connect({ dataDir: 'x' });
  // @ts-expect-error: a run needs a command
  await myx.run({ targets: { all: true } });
  // @ts-expect-error: a timeout is a number of seconds
  await myx.run({ targets: { all: true }, command: 'true', timeout: '30s' });
  // @ts-expect-error: targets are agents, labels or all
  await myx.run({ targets: { hosts: ['a'] }, command: 'true' });
  const [c] = await myx.commands({ status: 'running' });
  // @ts-expect-error: statuses are the lifecycle's
  if (c && c.status === 'done') return;
}
`);
    writeFileSync(join(project, 'example.ts'), readmeExample());
    const r = await runExe(process.execPath, [TSC, '-p', project], process.env, 120_000);
    assert.equal(r.code, 0, `tsc in the consumer project:\n${r.stdout}${r.stderr}`);
  });

  test('the README\'s SDK example runs as written: it prints each web agent\'s uname -a as it arrives, then a summary', { timeout: 120_000 }, async (t) => {
    const dir = tempDir(t);
    const server = await startServer(dir, ['--heartbeat-interval', '0.5']);
    t.after(() => server.proc.kill());
    const agents = await Promise.all([
      enrollAgent(server, dir, 'web-1', ['--label', 'role=web']).then((c) => startAgent(c)),
      enrollAgent(server, dir, 'web-2', ['--label', 'role=web', '--no-web']).then((c) => startAgent(c, [])),
      enrollAgent(server, dir, 'db-1', ['--label', 'role=db']).then((c) => startAgent(c)),
    ]);
    t.after(() => Promise.all(agents.map((a) => a.proc.kill())));
    writeFileSync(join(project, 'example.ts'), readmeExample());
    const token = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    // Node 24 runs the TypeScript example as it is (type stripping), from the project's folder
    const r = await runExe(process.execPath, [join(project, 'example.ts')], {
      PATH: process.env.PATH, MYX_SERVER: server.url, MYX_TOKEN: token, MYX_SERVER_FINGERPRINT: server.fingerprint,
    }, 60_000, project);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    const uname = spawnSync('uname', ['-a'], { encoding: 'utf8' }).stdout;
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.deepEqual(lines.slice(0, 2).sort(), [`web-1: ${uname.trim()}`, `web-2: ${uname.trim()}`]);
    assert.match(lines[2]!, /^run_\S+: 2 of 2 agents succeeded$/);
    assert.equal(lines.length, 3, r.stdout);
  });
});

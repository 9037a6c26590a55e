// `npm run package [-- --out DIR]`: writes release/myx and release/myx-agent, single executables
// (Node single executable applications) that run on a host without Node, and release/SHA256SUMS.
// MYX_VERSION=X stamps another version than package.json's (tests of upgrades need two).

import { build, type Metafile, type Plugin } from 'esbuild';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { consoleAssets } from './console-assets.ts';
import { inlineAssets } from './inline-assets.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BINARIES = { myx: 'src/cli/myx.ts', 'myx-agent': 'src/cli/myx-agent.ts' } as const;
type Name = keyof typeof BINARIES;
// The fuse Node looks for to know a blob was injected (doc: single executable applications).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const VERSION_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

try {
  const { values: flags } = parseArgs({ options: { out: { type: 'string', default: join(ROOT, 'release') } } });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  await main(resolve(flags.out!), process.env.MYX_VERSION || pkg.version);
} catch (err) {
  process.stderr.write(`package: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}

async function main(outDir: string, version: string): Promise<void> {
  if (process.platform !== 'linux') fail(`single executables are built for Linux here; this is ${process.platform}`);
  if (!VERSION_RE.test(version)) fail(`MYX_VERSION must look like 1.2.3 or 1.2.3-rc.1, got "${version}"`);
  const started = Date.now();
  mkdirSync(outDir, { recursive: true });
  // Staged beside the outputs (same file system), so each lands with a rename: an interrupted run
  // leaves the previous release whole.
  const staging = mkdtempSync(join(outDir, '.staging-'));
  try {
    await bundle(staging, version);
    const names = Object.keys(BINARIES) as Name[];
    // settled, not all(): a failure must not delete the staging dir under the other injection
    const made = await Promise.allSettled(names.map((name) => makeExecutable(staging, name, version)));
    const failed = made.find((m) => m.status === 'rejected');
    if (failed) throw failed.reason;
    const stripped = made.map((m) => m.status === 'fulfilled' && m.value);
    writeFileSync(join(staging, 'SHA256SUMS'), names.map((name) => `${sha256(join(staging, name))}  ${name}\n`).join(''));
    for (const file of [...names, 'SHA256SUMS']) renameSync(join(staging, file), join(outDir, file));
    const sizes = names.map((n) => `${n} ${(statSync(join(outDir, n)).size / 2 ** 20).toFixed(1)} MiB`).join(', ');
    console.log(`packaged myx ${version} for ${process.platform}-${process.arch} (Node ${process.versions.node}) into ${outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${sizes}`);
    if (!stripped.every(Boolean)) console.log('note: `strip` (binutils) was not found, so the binaries keep their symbol tables (about 18 MiB larger each)');
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** One CommonJS file per binary: a SEA runs a single script whose require() sees only built-ins. */
async function bundle(staging: string, version: string): Promise<void> {
  const result = await build({
    entryPoints: BINARIES,
    outdir: staging,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node24',
    define: { MYX_BUILD_VERSION: JSON.stringify(version) },
    metafile: true,
    plugins: [inlineAssets, consoleAssets, withoutPgNative()],
    logLevel: 'silent',
  });
  // A warning here (import.meta in CommonJS, an unresolvable require) is a binary that breaks at run time.
  const problems = result.warnings.map((w) => `${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.text}`);
  problems.push(...notSelfContained(result.metafile));
  if (problems.length) fail(`the bundle would not work inside a single executable:\n  ${problems.join('\n  ')}`);
}

/**
 * `pg` loads its optional native binding (`pg-native`, a compiled addon) only when asked for
 * (`pg.native`, NODE_PG_FORCE_NATIVE); myx never asks, and a single executable cannot carry an addon.
 * The require resolves to a module that says so instead of a file looked up at run time.
 */
function withoutPgNative(): Plugin {
  return {
    name: 'without-pg-native',
    setup(b) {
      b.onResolve({ filter: /^pg-native$/ }, () => ({ path: 'pg-native', namespace: 'without-pg-native' }));
      b.onLoad({ filter: /.*/, namespace: 'without-pg-native' }, () => ({
        contents: "throw new Error('pg-native is not part of myx: it uses the pure JavaScript PostgreSQL client (unset NODE_PG_FORCE_NATIVE)');",
        loader: 'js',
      }));
    },
  };
}

/** Imports left to run time must be built-ins loaded by require(): no files, and no import(), which the code cache breaks. */
function notSelfContained(meta: Metafile): string[] {
  const out: string[] = [];
  for (const [file, o] of Object.entries(meta.outputs)) {
    for (const i of o.imports) {
      if (!i.external) continue;
      if (!isBuiltin(i.path)) out.push(`${file} loads ${i.path} from disk at run time`);
      else if (i.kind === 'dynamic-import') out.push(`${file} uses import('${i.path}')`);
    }
  }
  return out;
}

/** The running Node binary (the project's Node 24 under npm) with the bundle injected; true if stripped. */
async function makeExecutable(staging: string, name: Name, version: string): Promise<boolean> {
  const blob = join(staging, `${name}.blob`);
  const config = join(staging, `${name}.sea.json`);
  writeFileSync(config, JSON.stringify({
    main: join(staging, `${name}.js`),
    output: blob,
    disableExperimentalSEAWarning: true, // an operator should see our output, not Node's
    useCodeCache: true, // compiled code in the blob: start-up ~30 ms instead of ~80 ms
    useSnapshot: false,
    execArgvExtension: 'none', // NODE_OPTIONS of the host must not change how an agent runs
  }));
  run(process.execPath, ['--experimental-sea-config', config], `preparing the ${name} blob`);
  const exe = join(staging, name);
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  const strip = spawnSync('strip', [exe], { encoding: 'utf8' });
  if (strip.status !== 0 && !(strip.error && 'code' in strip.error && strip.error.code === 'ENOENT')) {
    fail(`strip ${name} failed: ${strip.stderr || strip.error?.message}`);
  }
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  await runAsync(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], `injecting the ${name} blob`);
  // The check an operator would do first: it starts without Node on the PATH and knows its version.
  const check = spawnSync(exe, ['--version'], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
  if (check.status !== 0 || check.stdout.trim() !== version || check.stderr !== '') {
    fail(`${name} --version printed ${JSON.stringify(check.stdout + check.stderr)} (exit ${check.status}), expected only "${version}"`);
  }
  return strip.status === 0;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) fail(`${what} failed (exit ${r.status}):\n${r.stdout}${r.stderr}${r.error?.message ?? ''}`);
}

/** Like run(), without blocking: the two injections (1-3 s each) overlap. Output only on failure. */
function runAsync(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', rej);
    child.once('exit', (code) => (code === 0 ? res() : rej(new Error(`${what} failed (exit ${code}):\n${out}`))));
  });
}

function fail(message: string): never {
  throw new Error(message);
}

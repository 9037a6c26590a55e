// Bundles the two entry points into dist/ so the CLIs start fast (one file to load instead of
// type-stripping ~80 modules), and the SDK (the package's export) into dist/sdk.js with its
// declaration files in dist/types/. bin/*.js use the CLI bundles only while they are newer than
// every source.

import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { consoleAssets } from './console-assets.ts';
import { inlineAssets } from './inline-assets.ts';

const ROOT = resolve(import.meta.dirname, '..');
const started = Date.now();
rmSync(join(ROOT, 'dist', 'types'), { recursive: true, force: true }); // no declarations of files that are gone
await Promise.all([
  build({
    entryPoints: { myx: 'src/cli/myx.ts', 'myx-agent': 'src/cli/myx-agent.ts' },
    outdir: 'dist',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    chunkNames: 'chunks/[name]-[hash]',
    // dependencies written as CommonJS call require(); give the ES module bundle a real one
    banner: { js: "import { createRequire as __myxRequire } from 'node:module'; const require = __myxRequire(import.meta.url);" },
    plugins: [inlineAssets, consoleAssets],
    logLevel: 'warning',
  }),
  // The SDK: one file, Node's own modules only (test/layering.test.ts keeps it so), nothing to install beside it.
  build({
    entryPoints: { sdk: 'src/sdk/index.ts' },
    outdir: 'dist',
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    logLevel: 'warning',
  }),
  declarations(),
]);
writeFileSync('dist/.built', new Date().toISOString() + '\n');
console.log(`built dist/ in ${Date.now() - started} ms`);

/** The SDK's .d.ts files, by the project's TypeScript (tsconfig.sdk.json). */
async function declarations(): Promise<void> {
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.sdk.json')], { cwd: ROOT });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`the SDK's declarations did not build:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

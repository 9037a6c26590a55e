// Bundles the two entry points into dist/ so the CLIs start fast (one file to load instead of
// type-stripping ~80 modules). bin/*.js use the bundle only while it is newer than every source.

import { build } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { consoleAssets } from './console-assets.ts';
import { inlineAssets } from './inline-assets.ts';

const started = Date.now();
await build({
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
});
writeFileSync('dist/.built', new Date().toISOString() + '\n');
console.log(`built dist/ in ${Date.now() - started} ms`);

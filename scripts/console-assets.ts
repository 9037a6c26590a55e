// An esbuild plugin both bundles use (dist/ and the single executables): it replaces
// src/server/console-assets.ts, which compiles the web console at run time when the control plane
// runs from the sources, with the console compiled now, as text. So a bundle carries the console
// and never loads esbuild; nothing generated is written into the sources or committed.

import type { Plugin } from 'esbuild';
import { buildConsole } from '../src/server/console-build.ts';

export const consoleAssets: Plugin = {
  name: 'console-assets',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]server[\\/]console-assets\.ts$/ }, async () => {
      const files = await buildConsole();
      const contents = `// The web console, compiled at build time by scripts/console-assets.ts.
export async function loadConsoleFiles() { return ${JSON.stringify(files)}; }
`;
      return { contents, loader: 'ts' };
    });
  },
};

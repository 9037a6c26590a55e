// An esbuild plugin both bundles use: a module named `*.asset.ts` reads files that sit beside it,
// `readFileSync(new URL('./NAME', import.meta.url), 'utf8')`, when run from the sources; in a bundle
// each such call becomes the file's text, so a single executable carries it (it has no files beside it).

import type { Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const READ = /readFileSync\(new URL\('\.\/([^']+)', import\.meta\.url\), 'utf8'\)/g;

export const inlineAssets: Plugin = {
  name: 'inline-assets',
  setup(build) {
    build.onLoad({ filter: /\.asset\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const files: string[] = [];
      let contents = source;
      for (const m of source.matchAll(READ)) {
        const file = join(dirname(args.path), m[1]!);
        files.push(file);
        contents = contents.replace(m[0], JSON.stringify(await readFile(file, 'utf8')));
      }
      if (files.length === 0 || /import\.meta/.test(contents.replace(/^\s*\/\/.*$/gm, ''))) {
        return { errors: [{ text: `${args.path}: a *.asset.ts module may read files beside it only as readFileSync(new URL('./NAME', import.meta.url), 'utf8')` }] };
      }
      return { contents, loader: 'ts', watchFiles: files };
    });
  },
};

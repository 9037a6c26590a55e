// Compiles the web console (src/console: Preact and TSX) into the files the control plane serves:
// the page, one script and one style sheet, named by a hash of their content. Used by the build
// scripts (scripts/console-assets.ts puts the result into every bundle) and, when the control plane
// runs from the sources, at run time (console-assets.ts). Needs esbuild, a devDependency.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ConsoleFile } from './console-assets.ts';

const CONSOLE_DIR = fileURLToPath(new URL('../console/', import.meta.url));

export async function buildConsole(): Promise<ConsoleFile[]> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: { console: `${CONSOLE_DIR}main.tsx` },
    outdir: '/assets', // nothing is written (write: false); names only
    write: false,
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome110', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'silent',
  });
  if (result.errors.length > 0) throw new Error(`the console does not compile: ${result.errors.map((e) => e.text).join('; ')}`);
  const files: ConsoleFile[] = [];
  const named = (ext: string, contentType: string) => {
    const out = result.outputFiles.find((f) => f.path.endsWith(`.${ext}`));
    if (!out) throw new Error(`the console build made no .${ext} file`);
    const hash = createHash('sha256').update(out.contents).digest('hex').slice(0, 16);
    const file: ConsoleFile = { path: `/assets/console-${hash}.${ext}`, contentType, body: out.text, immutable: true };
    files.push(file);
    return file.path;
  };
  const script = named('js', 'text/javascript; charset=utf-8');
  const style = named('css', 'text/css; charset=utf-8');
  const page = (await readFile(`${CONSOLE_DIR}index.html`, 'utf8')).replace('{{script}}', script).replace('{{style}}', style);
  files.push({ path: '/', contentType: 'text/html; charset=utf-8', body: page, immutable: false });
  return files;
}

// The dependency direction of DESIGN.md, enforced: protocol imports nothing of ours and no Node
// API; agent and server never import each other; only cli wires them together. The SDK (what
// `import 'myx'` gives) imports protocol and common only, and no package, so a project using it
// installs nothing else; the CLI is built on it. The web console (browser code, compiled by
// esbuild) imports protocol only, and of packages only preact.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.ts';

const SRC = join(ROOT, 'src');
const ALLOWED: Record<string, string[]> = {
  protocol: ['protocol'],
  common: ['protocol', 'common'],
  agent: ['protocol', 'common', 'agent'],
  server: ['protocol', 'common', 'server'],
  sdk: ['protocol', 'common', 'sdk'],
  cli: ['protocol', 'common', 'sdk', 'agent', 'server', 'cli'],
  console: ['protocol', 'console'],
};
/** Packages browser code may import (anything else would be a Node module or a dependency to review). */
const CONSOLE_PACKAGES = /^preact(\/(hooks|jsx-runtime))?$/;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : []);
}

test('every import follows the layering', () => {
  const problems: string[] = [];
  for (const file of files(SRC)) {
    const part = relative(SRC, file).split('/')[0]!;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) {
        const target = relative(SRC, resolve(dirname(file), spec)).split('/')[0]!;
        if (!ALLOWED[part]!.includes(target)) problems.push(`${relative(ROOT, file)} imports ${spec} (${part} -> ${target})`);
      } else if (part === 'protocol') {
        problems.push(`${relative(ROOT, file)} imports ${spec}: protocol stays free of I/O and packages`);
      } else if (part === 'sdk' && !spec.startsWith('node:')) {
        problems.push(`${relative(ROOT, file)} imports ${spec}: the SDK imports Node's modules and ours only (a project using it installs nothing else)`);
      } else if (part === 'console' && !CONSOLE_PACKAGES.test(spec)) {
        problems.push(`${relative(ROOT, file)} imports ${spec}: the console imports preact and our protocol only`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('MYX_VERSION matches package.json', async () => {
  const { MYX_VERSION } = await import('../src/protocol/version.ts');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(MYX_VERSION, pkg.version);
});

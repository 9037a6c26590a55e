// The project's docs stay true to the code: docs/protocol.md names every route both services
// register and every error code, and the README links only to files a clone has.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ERRORS } from '../src/protocol/errors.ts';
import { ROOT } from './helpers.ts';

const protocol = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

test('docs/protocol.md lists every route the control plane and the agent register', () => {
  const missing: string[] = [];
  for (const file of [...sources(join(ROOT, 'src', 'server')), ...sources(join(ROOT, 'src', 'agent'))]) {
    for (const m of readFileSync(file, 'utf8').matchAll(/app\.(get|post|delete|put|patch)\b[^(]*\(\s*'(\/[^']*)'/g)) {
      const route = `${m[1]!.toUpperCase()} ${m[2]}`;
      if (!protocol.includes(`\`${route}`)) missing.push(`${route} (${file.slice(ROOT.length + 1)})`);
    }
  }
  assert.deepEqual(missing, []);
});

test('docs/protocol.md lists every error code with its HTTP status', () => {
  const missing = Object.entries(ERRORS).filter(([code, e]) => !new RegExp(`\\| \`${code}\` \\| ${e.status} \\|`).test(protocol)).map(([code]) => code);
  assert.deepEqual(missing, []);
});

test('every relative link in the README and docs/ points to a file of this repository', () => {
  const broken: string[] = [];
  for (const file of ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))]) {
    for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      if (!existsSync(join(ROOT, dirname(file), target))) broken.push(`${file}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});

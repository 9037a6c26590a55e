// Shared by bin/myx.js and bin/myx-agent.js: checks the runtime, then loads the bundle in dist/
// (fast start) when it is newer than every source file, else the TypeScript sources directly
// (Node 24 strips types), so a stale bundle can never run old code.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export async function load(name) {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) {
    process.stderr.write(`${name} needs Node.js 24 or newer (this is ${process.version}). Run it through npm: \`npx ${name} ...\` after \`npm ci\`, which installs a project-local Node 24.\n`);
    process.exit(2);
  }
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const built = mtime(join(root, 'dist', '.built'));
  if (built > 0 && built >= newest(join(root, 'src'))) await import(join(root, 'dist', `${name}.js`));
  else await import(join(root, 'src', 'cli', `${name}.ts`));
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function newest(dir) {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) max = Math.max(max, mtime(join(e.parentPath, e.name)));
  }
  return max;
}

#!/usr/bin/env node
// Entry point: checks the runtime, then loads the TypeScript sources (Node 24 strips types).
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(`myx needs Node.js 24 or newer (this is ${process.version}). Run it through npm: \`npx myx ...\` after \`npm ci\`, which installs a project-local Node 24.\n`);
  process.exit(2);
}
await import("../src/cli/myx.ts");

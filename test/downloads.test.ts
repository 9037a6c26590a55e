// The control plane hands out its release directory over its own HTTPS: the agent binary and
// SHA256SUMS to anyone (the installer has no token yet), and a clear error where there is none.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { closePool, send } from './raw-http.ts';
import { startServer, tempDir } from './helpers.ts';

after(closePool);

/** A release directory holding a stand-in agent that prints `version`. */
function fakeRelease(dir: string, version: string): { sha256: string; body: string } {
  mkdirSync(dir, { recursive: true });
  const body = `#!/bin/sh\necho ${version}\n`;
  writeFileSync(join(dir, 'myx-agent'), body);
  chmodSync(join(dir, 'myx-agent'), 0o755);
  const sha256 = createHash('sha256').update(body).digest('hex');
  writeFileSync(join(dir, 'SHA256SUMS'), `${sha256}  myx-agent\n`);
  return { sha256, body };
}

test('the agent binary and SHA256SUMS are served from --release-dir without a token, and a new release is picked up in place', async (t) => {
  const dir = tempDir(t);
  const release = join(dir, 'release');
  const first = fakeRelease(release, '1.0.0');
  const server = await startServer(dir, ['--release-dir', release]);
  t.after(() => server.proc.kill());
  assert.match(server.proc.output(), /"agent_version":"1\.0\.0"/, 'the start line says which agent version it hands out');

  const bin = await send(`${server.url}/downloads/myx-agent`);
  assert.equal(bin.status, 200);
  assert.equal(bin.text, first.body);
  assert.equal(bin.headers['content-type'], 'application/octet-stream');
  const sums = await send(`${server.url}/downloads/SHA256SUMS`);
  assert.equal(sums.status, 200);
  assert.equal(sums.text, `${first.sha256}  myx-agent\n`);

  const second = fakeRelease(release, '1.0.1-longer');
  const again = await send(`${server.url}/downloads/myx-agent`);
  assert.equal(again.text, second.body);
  assert.equal(again.headers['x-myx-sha256'], second.sha256);
});

test('without a release, downloads answer 404 RELEASE_NOT_FOUND saying what is missing and how to make one', async (t) => {
  const dir = tempDir(t);
  const server = await startServer(dir, ['--release-dir', join(dir, 'nowhere')]);
  t.after(() => server.proc.kill());
  assert.match(server.proc.output(), /no agent release to hand out/);
  for (const path of ['/downloads/myx-agent', '/downloads/SHA256SUMS']) {
    const r = await send(`${server.url}${path}`);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'RELEASE_NOT_FOUND');
    assert.match(r.body.error.message, /nowhere\/myx-agent is missing: build one with `npm run package`/);
  }
});

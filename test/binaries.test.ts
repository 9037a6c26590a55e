// The packaged single executables: built once for this file into a temp dir, stamped with a version
// of their own, then run with an environment holding no Node at all, as on a bare host.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packageRelease, runExe, startExe, tempDir, type Proc } from './helpers.ts';

const VERSION = '9.9.9';
let dir: string;
let release: string;
/** `env -i` with a PATH that has `echo` and nothing else (this machine's /usr/bin has a Node 20). */
let bare: NodeJS.ProcessEnv;

before(async () => {
  dir = tempDir();
  const path = join(dir, 'path');
  mkdirSync(path);
  symlinkSync('/bin/echo', join(path, 'echo'));
  bare = { PATH: path };
  release = await packageRelease(join(dir, 'release'), VERSION);
}, { timeout: 300_000 });

after(() => rmSync(dir, { recursive: true, force: true }));

test('npm run package writes myx, myx-agent and a SHA256SUMS that sha256sum -c accepts', () => {
  for (const name of ['myx', 'myx-agent']) assert.equal(statSync(join(release, name)).mode & 0o777, 0o755, name);
  assert.deepEqual(readFileSync(join(release, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split(/\s+/)[1]), ['myx', 'myx-agent']);
  const out = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: release, encoding: 'utf8' });
  assert.equal(out, 'myx: OK\nmyx-agent: OK\n');
});

test('both binaries run without Node and print the version stamped by MYX_VERSION, and nothing else', async () => {
  for (const name of ['myx', 'myx-agent']) {
    const r = await runExe(join(release, name), ['--version'], bare);
    assert.deepEqual(r, { code: 0, stdout: `${VERSION}\n`, stderr: '' }, name);
  }
});

test('a control plane, an agent in web mode and the CLI, all from the binaries, run a command end to end', async (t) => {
  const myx = (args: string[]) => runExe(join(release, 'myx'), args, { ...bare, MYX_DATA_DIR: dataDir });
  const dataDir = join(dir, 'server');
  const procs: Proc[] = [];
  t.after(() => Promise.all(procs.map((p) => p.kill())));

  const server = startExe(join(release, 'myx'), ['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], bare);
  procs.push(server);
  await server.waitFor(/control plane listening/);
  const url = (JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { url: string }).url;

  const created = await myx(['token', 'create', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const token = (JSON.parse(created.stdout) as { token: string }).token;

  const config = join(dir, 'agent', 'config.json');
  const enrolled = await runExe(join(release, 'myx-agent'), ['enroll', '--server', url, '--config', config, '--name', 'bare-01', '--bind', '127.0.0.1', '--web-port', '0'],
    { ...bare, MYX_ENROLL_TOKEN: token });
  assert.equal(enrolled.code, 0, enrolled.stderr);
  assert.match(enrolled.stdout, /enrolled as "bare-01"/);

  const agent = startExe(join(release, 'myx-agent'), ['--config', config], bare);
  procs.push(agent);
  assert.match(await agent.waitFor(/"msg":"agent bare-01 serving on https:\/\/127\.0\.0\.1:\d+"/), /"version":"9\.9\.9"/);
  await agent.waitFor(/connected to the control plane/);

  const ran = await myx(['run', '--all', '--', 'echo', 'hi']);
  assert.equal(ran.code, 0, ran.stdout + ran.stderr);
  assert.match(ran.stdout, /^hi$/m);

  const agents = await myx(['agents', '--json']);
  const list = JSON.parse(agents.stdout) as { name: string; mode: string; version: string }[];
  assert.deepEqual(list.map((a) => [a.name, a.mode, a.version]), [['bare-01', 'web', VERSION]]);
  for (const p of [agent, server]) assert.doesNotMatch(p.output(), /Warning|"level":[56]0/, 'no warnings or errors in the logs');
});

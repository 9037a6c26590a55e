// What `myx agents upgrade` refuses, and what it cannot do, said clearly: no release, a release whose
// agent does not run, a release older than an agent (unless --allow-downgrade), an agent that runs
// from sources (it cannot replace itself). Agents already on the release's version succeed at once.
// Releases here are stand-in scripts (the control plane only runs `--version`): nothing is packaged.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareVersions } from '../src/protocol/semver.ts';
import { MYX_VERSION } from '../src/protocol/version.ts';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { enrollAgent, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';

describe('upgrades that cannot happen', () => {
  let dir: string;
  let release: string;
  let server: TestServer;
  let agent: TestAgent;
  /** Puts a stand-in agent binary in the release directory, in one rename (the control plane re-reads it). */
  const fakeRelease = (script: string) => {
    mkdirSync(release, { recursive: true });
    writeFileSync(join(release, '.next'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    const sum = createHash('sha256').update(`#!/bin/sh\n${script}\n`).digest('hex');
    writeFileSync(join(release, '.sums'), `${sum}  myx-agent\n`);
    renameSync(join(release, '.next'), join(release, 'myx-agent'));
    renameSync(join(release, '.sums'), join(release, 'SHA256SUMS'));
  };
  const version = (v: string) => fakeRelease(`echo ${v}`);

  before(async () => {
    dir = tempDir();
    release = join(dir, 'release');
    server = await startServer(dir, ['--release-dir', release]);
    agent = await startAgent(await enrollAgent(server, dir, 'src1'));
  });
  after(async () => {
    await agent?.proc.kill();
    await server?.proc.kill();
  });

  test('without a release: RELEASE_NOT_FOUND, saying what is missing and how to make one', async () => {
    const r = await server.myx(['agents', 'upgrade', '--all']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /release\/myx-agent is missing: build one with `npm run package`/);
  });

  test('a release whose agent does not run here is refused (RELEASE_UNUSABLE)', async () => {
    fakeRelease('exit 1');
    const r = await server.myx(['agents', 'upgrade', '--all']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /myx-agent does not run on the control plane's host .*: rebuild the release with `npm run package`/);
  });

  test('an agent already on the release\'s version succeeds at once, with "already on"', async () => {
    version(MYX_VERSION);
    const r = await server.myx(['agents', 'upgrade', '--all']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^already on ${MYX_VERSION.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(r.stderr, /1 of 1 already on it/);
  });

  test('a release older than an agent is refused, unless --allow-downgrade', async () => {
    version('0.0.1');
    const r = await server.myx(['agents', 'upgrade', '--agent', 'src1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`1 of the targets run a newer version than the release \\(0\\.0\\.1\\): src1 \\(${MYX_VERSION}\\); pass --allow-downgrade`));
    const forced = await server.myx(['agents', 'upgrade', '--agent', 'src1', '--allow-downgrade', '--json']);
    assert.equal(forced.code, 1); // this agent cannot replace itself (next test)
    assert.equal((JSON.parse(forced.stdout) as CommandRecord[])[0]!.upgrade?.version, '0.0.1');
  });

  test('an agent running from sources fails with the reason and keeps working', async () => {
    version('99.0.0');
    const r = await server.myx(['agents', 'upgrade', '--all', '--json']);
    assert.equal(r.code, 1);
    const [c] = JSON.parse(r.stdout) as CommandRecord[];
    assert.equal(c!.status, 'failed');
    assert.match(c!.error!, /^this agent runs from sources \(.*bin\/myx-agent\.js\), not the myx-agent binary, so it cannot replace itself: upgrade it with your package manager or git$/);
    const ok = await server.myx(['run', '--all', '--', 'echo', 'still here']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /still here/);
  });

  test('--max-concurrency and --max-errors are checked as for myx run, and targets must be chosen', async () => {
    const bad = await server.myx(['agents', 'upgrade', '--all', '--max-errors', 'lots']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-errors must be a number or a percentage/);
    const none = await server.myx(['agents', 'upgrade']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /say which agents to upgrade: --agent NAME/);
  });
});

test('versions compare as semver', () => {
  const order = ['0.9.0', '0.10.0', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.10.0', '2.0.0'];
  for (let i = 0; i < order.length; i++) {
    for (let j = 0; j < order.length; j++) assert.equal(compareVersions(order[i]!, order[j]!), Math.sign(i - j), `${order[i]} vs ${order[j]}`);
  }
  assert.equal(compareVersions('1.0.0+build.5', '1.0.0'), 0);
  assert.equal(compareVersions('dev', '1.0.0'), null);
});

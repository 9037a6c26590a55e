// The control plane as a service: `myx server install` (run from the packaged binary) into a
// --prefix, the sandboxed unit it writes checked by systemd-analyze verify, and the installed
// control plane run the way the unit runs it (an unprivileged user, no capabilities, no new
// privileges), handing out the agent from its own folder.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { agentUnit } from '../src/server/install/agent-unit.ts';
import { serverUnit } from '../src/server/install/server-unit.ts';
import { packageRelease, runExe, startExe, tempDir, type CliResult } from './helpers.ts';
import { closePool, send } from './raw-http.ts';

let dir: string;
let release: string;
let prefix: string;
const env: NodeJS.ProcessEnv = { PATH: '/usr/local/bin:/usr/bin:/bin' };

before(async () => {
  dir = tempDir();
  chmodSync(dir, 0o755); // the unprivileged user below must reach the installed files
  release = await packageRelease(join(dir, 'release'));
  prefix = join(dir, 'root');
}, { timeout: 300_000 });

after(() => {
  closePool();
  rmSync(dir, { recursive: true, force: true });
});

function install(exe: string, args: string[]): Promise<CliResult> {
  return runExe(exe, ['server', 'install', ...args], env, 120_000);
}

/** systemd-analyze verify's whole output for `unit` (empty: no error, no warning). */
function verify(unit: string): string {
  return execFileSync('sh', ['-c', `systemd-analyze verify '${unit}' 2>&1; echo "exit $?"`], { encoding: 'utf8' });
}

const unitPath = () => join(prefix, 'etc/systemd/system/myx-server.service');
const libDir = () => join(prefix, 'usr/local/lib/myx');
const envFile = () => join(prefix, 'etc/myx/server.env');

test('myx server install --prefix --no-start puts the checked release in /usr/local/lib/myx, links /usr/local/bin/myx and writes the sandboxed unit', async () => {
  const r = await install(join(release, 'myx'), ['--prefix', prefix, '--no-start', '--listen', '0.0.0.0:8000', '--public-url', 'https://control.example:8000']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const [name, mode] of [['myx', 0o755], ['myx-agent', 0o755], ['SHA256SUMS', 0o644]] as const) {
    assert.ok(readFileSync(join(libDir(), name)).equals(readFileSync(join(release, name))), name);
    assert.equal(statSync(join(libDir(), name)).mode & 0o777, mode, name);
  }
  assert.deepEqual(readdirSync(libDir()).sort(), ['SHA256SUMS', 'myx', 'myx-agent'], 'no temporary file left');
  assert.equal(readlinkSync(join(prefix, 'usr/local/bin/myx')), '../lib/myx/myx');
  assert.equal(realpathSync(join(prefix, 'usr/local/bin/myx')), join(libDir(), 'myx'));

  const unit = readFileSync(unitPath(), 'utf8');
  assert.equal(unit, serverUnit({ libDir: libDir(), listen: '0.0.0.0:8000', port: 8000, publicUrl: 'https://control.example:8000', envFile: envFile() }));
  assert.ok(unit.includes(`EnvironmentFile=-${envFile()}\n`), 'read when an operator adds it');
  assert.equal(existsSync(envFile()), false, 'none without a database URL: SQLite');
  assert.match(r.stdout, /store +SQLite in \/var\/lib\/myx/);
  assert.ok(unit.includes(`ExecStart=${libDir()}/myx server --data-dir /var/lib/myx --listen 0.0.0.0:8000 --release-dir ${libDir()} --public-url https://control.example:8000\n`));
  for (const line of ['User=myx', 'StateDirectory=myx', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'PrivateDevices=yes',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK', 'SystemCallFilter=@system-service', 'CapabilityBoundingSet=', 'Restart=always']) {
    assert.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
  }
  assert.doesNotMatch(unit, /^(AmbientCapabilities|MemoryDenyWriteExecute)=/m, 'no capability; no W^X rule that would break V8\'s JIT');
  assert.match(r.stdout, /myx \(not created: --prefix\)/);
  assert.ok(r.stdout.includes(`Start it with:  systemctl link ${unitPath()} && systemctl enable --now myx-server.service`), r.stdout);
});

test('systemd-analyze verify accepts the control plane unit, and the agent unit, with no warning', () => {
  assert.equal(verify(unitPath()), 'exit 0\n');
  const agentDir = join(dir, 'agent-root');
  mkdirSync(join(agentDir, 'bin'), { recursive: true });
  writeFileSync(join(agentDir, 'bin', 'myx-agent'), readFileSync(join(release, 'myx-agent')), { mode: 0o755 });
  writeFileSync(join(agentDir, 'myx-agent.service'), agentUnit({ bin: join(agentDir, 'bin', 'myx-agent'), config: join(agentDir, 'config.json') }));
  assert.equal(verify(join(agentDir, 'myx-agent.service')), 'exit 0\n');
});

test('a port below 1024 gives the unit CAP_NET_BIND_SERVICE and no other capability', async () => {
  const r = await install(join(release, 'myx'), ['--prefix', prefix, '--no-start', '--listen', '0.0.0.0:443']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /myx-server\.service \(rewritten\)/);
  const unit = readFileSync(unitPath(), 'utf8');
  assert.match(unit, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  assert.equal(verify(unitPath()), 'exit 0\n');
});

test('installing again from the installed binary itself changes nothing but what was asked', async () => {
  const r = await install(join(prefix, 'usr/local/bin/myx'), ['--prefix', prefix, '--no-start', '--listen', '0.0.0.0:8000', '--public-url', 'https://control.example:8000']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /myx unchanged, myx-agent unchanged, SHA256SUMS unchanged/);
  assert.match(r.stdout, /-> \.\.\/lib\/myx\/myx \(unchanged\)/);
  assert.match(r.stdout, /myx-server\.service \(rewritten\)/, 'back to port 8000');
  const again = await install(join(prefix, 'usr/local/bin/myx'), ['--prefix', prefix, '--no-start', '--listen', '0.0.0.0:8000', '--public-url', 'https://control.example:8000']);
  assert.match(again.stdout, /myx-server\.service \(unchanged\)/);
});

test('with a database URL the unit gets MYX_DATABASE_URL from an environment file of root\'s (0600), never on a command line', async () => {
  const url = 'postgres://myx:s3cret@db.example:5432/myx?sslmode=require';
  const args = ['server', 'install', '--prefix', prefix, '--no-start', '--listen', '0.0.0.0:8000', '--public-url', 'https://control.example:8000'];
  const r = await runExe(join(prefix, 'usr/local/bin/myx'), args, { ...env, MYX_DATABASE_URL: url }, 120_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(statSync(envFile()).mode & 0o777, 0o600);
  assert.match(readFileSync(envFile(), 'utf8'), /^MYX_DATABASE_URL=postgres:\/\/myx:s3cret@db\.example:5432\/myx\?sslmode=require$/m);
  const unit = readFileSync(unitPath(), 'utf8');
  assert.match(r.stdout, /myx-server\.service \(unchanged\)/, 'the unit is the same: it reads the file when there is one');
  assert.doesNotMatch(unit, /s3cret|postgres:/);
  assert.doesNotMatch(r.stdout + r.stderr, /s3cret/);
  assert.match(r.stdout, /store +PostgreSQL postgres:\/\/myx:\*\*\*@db\.example:5432\/myx.*MYX_DATABASE_URL in .*server\.env \(0600, written\)/);
  assert.equal(verify(unitPath()), 'exit 0\n');
  // again without a URL: the file stays as it is
  const again = await runExe(join(prefix, 'usr/local/bin/myx'), args, env, 120_000);
  assert.match(again.stdout, /store +as .*server\.env says \(left as it is\)/);
  assert.match(readFileSync(envFile(), 'utf8'), /s3cret/);
  const bad = await runExe(join(prefix, 'usr/local/bin/myx'), args, { ...env, MYX_DATABASE_URL: 'postgres://myx@db/my db' }, 120_000);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /percent-encode it/);
});

test('the installed control plane, run as an unprivileged user without capabilities, hands out the agent from its own folder', async (t) => {
  const data = join(dir, 'var-lib-myx');
  mkdirSync(data, { mode: 0o700 });
  chownSync(data, 65534, 65534);
  // what the unit does: its own user, no capabilities, no new privileges (here by setpriv, not systemd)
  const server = startExe('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs', '--bounding-set=-all', '--inh-caps=-all',
    join(prefix, 'usr/local/bin/myx'), 'server', '--data-dir', data, '--listen', '127.0.0.1:0'], { ...env, MYX_LOG_FORMAT: 'json' });
  t.after(() => server.kill());
  const started = await server.waitFor(/control plane listening/);
  assert.match(started, new RegExp(`"release_dir":"${libDir()}","agent_version":"0\\.1\\.0"`), 'its release dir is the folder of the binary behind the /usr/local/bin/myx link');
  const url = (JSON.parse(readFileSync(join(data, 'server.json'), 'utf8')) as { url: string }).url;
  const sums = await send(`${url}/downloads/SHA256SUMS`);
  assert.equal(sums.text, readFileSync(join(release, 'SHA256SUMS'), 'utf8'));
  const script = await send(`${url}/install.sh`);
  assert.equal(script.status, 200);
  assert.match(script.text, /^#!\/bin\/sh\n/);
  assert.equal(statSync(join(data, 'operator.token')).uid, 65534);
});

test('refused before anything is written: a release that does not match its SHA256SUMS, no root without --prefix, no systemd without --no-start', async () => {
  const fake = join(dir, 'fake-release');
  mkdirSync(fake);
  for (const name of ['myx', 'myx-agent']) writeFileSync(join(fake, name), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(fake, 'SHA256SUMS'), `${'0'.repeat(64)}  myx\n${'0'.repeat(64)}  myx-agent\n`);
  const target = join(dir, 'refused');
  const r = await install(join(release, 'myx'), ['--prefix', target, '--no-start', '--release-dir', fake]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /fake-release\/myx does not match .*SHA256SUMS \(SHA-256 [0-9a-f]{64}, expected 0{64}\)/);

  const asNobody = await runExe('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', join(release, 'myx'), 'server', 'install', '--no-start'], env);
  assert.equal(asNobody.code, 2);
  assert.match(asNobody.stderr, /this needs root .* or pass --prefix DIR/);

  if (!existsSync('/run/systemd/system')) {
    const noSystemd = await install(join(release, 'myx'), ['--prefix', target]);
    assert.equal(noSystemd.code, 2);
    assert.match(noSystemd.stderr, /systemd is not running on this host.*add --no-start/);
  }
  assert.ok(!existsSync(target));
});

// The one-line install: the line `myx token create` prints, run verbatim by sh (with a `sudo` that
// just runs its arguments: the tests run as root) against a control plane serving a real release,
// installing into a --prefix without starting anything. Then the installed agent runs a command,
// and every way the install can fail (pin, checksum, token) leaves nothing behind.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { agentUnit } from '../src/server/install/agent-unit.ts';
import { eventually, packageRelease, runExe, startExe, startServer, tempDir, type CliResult, type TestServer } from './helpers.ts';

let dir: string;
let release: string;
let server: TestServer;
/** PATH with a `sudo` that runs its arguments (`sudo VAR=x sh` -> `env VAR=x sh`), then the system's tools. */
let env: NodeJS.ProcessEnv;

before(async () => {
  dir = tempDir();
  release = await packageRelease(join(dir, 'release'));
  mkdirSync(join(dir, 'shim'));
  writeFileSync(join(dir, 'shim', 'sudo'), '#!/bin/sh\nexec env "$@"\n', { mode: 0o755 });
  env = { PATH: `${join(dir, 'shim')}:/usr/local/bin:/usr/bin:/bin`, HOME: dir };
  // the packaged control plane: the installer it serves must be inside its single executable
  server = await startServer(dir, ['--release-dir', release], { exe: join(release, 'myx') });
}, { timeout: 300_000 });

after(async () => {
  await server?.proc.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** `myx token create` of `on`: the install line exactly as printed, and the token. */
async function createLine(on: TestServer, ttl = '1h'): Promise<{ line: string; token: string }> {
  const r = await on.myx(['token', 'create', '--ttl', ttl]);
  assert.equal(r.code, 0, r.stderr);
  const line = /^ {2}(curl .*)$/m.exec(r.stdout)?.[1];
  const token = /^ {2}(myx1\.\S+)$/m.exec(r.stdout)?.[1];
  assert.ok(line && token, r.stdout);
  return { line, token };
}

/** Runs `line` with `extra` appended, as an operator pastes it into a shell. */
function run(line: string, extra: string): Promise<CliResult> {
  return runExe('/bin/sh', ['-c', `${line} ${extra}`], env, 120_000);
}

/** Every path under `root`, relative, sorted (what an install left there). */
function tree(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).sort();
}

function paths(prefix: string) {
  return {
    bin: join(prefix, 'usr/local/bin/myx-agent'),
    config: join(prefix, 'etc/myx-agent/config.json'),
    unit: join(prefix, 'etc/systemd/system/myx-agent.service'),
  };
}

async function agents(on: TestServer): Promise<{ id: string; name: string; status: string; labels: Record<string, string> }[]> {
  const r = await on.myx(['agents', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const INSTALLED = ['etc', 'etc/myx-agent', 'etc/myx-agent/config.json', 'etc/myx-agent/ssl', 'etc/myx-agent/ssl/agent.crt', 'etc/myx-agent/ssl/agent.key',
  'etc/systemd', 'etc/systemd/system', 'etc/systemd/system/myx-agent.service', 'usr', 'usr/local', 'usr/local/bin', 'usr/local/bin/myx-agent'];

let first: { line: string; token: string; prefix: string; agentId: string };

test('myx token create prints a curl line pinned to the public key of the control plane\'s certificate, in text and in --json', async () => {
  const { line, token } = await createLine(server);
  const spkiPin = execFileSync('sh', ['-c', `openssl x509 -in '${join(server.dataDir, 'tls', 'server.crt')}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`], { encoding: 'utf8' }).trim();
  assert.equal(line, `curl -fsS -k --pinnedpubkey 'sha256//${spkiPin}' ${server.url}/install.sh | sudo MYX_ENROLL_TOKEN=${token} sh -s --`);

  const json = await server.myx(['token', 'create', '--json']);
  const created = JSON.parse(json.stdout) as { token: string; install: string; join: string };
  assert.equal(created.install, `curl -fsS -k --pinnedpubkey 'sha256//${spkiPin}' ${server.url}/install.sh | sudo MYX_ENROLL_TOKEN=${created.token} sh -s --`);

  const script = execFileSync('curl', ['-fsS', '-k', '--pinnedpubkey', `sha256//${spkiPin}`, '-D', join(dir, 'headers'), `${server.url}/install.sh`], { encoding: 'utf8' });
  assert.match(readFileSync(join(dir, 'headers'), 'utf8'), /^content-type: text\/plain; charset=utf-8\r$/mi);
  assert.match(script, new RegExp(`^SERVER_URL='${server.url.replaceAll('.', '\\.')}'$`, 'm'));
  assert.match(script, new RegExp(`^PINNED_PUBKEY='sha256//${spkiPin.replaceAll('+', '\\+')}'$`, 'm'));
  assert.doesNotMatch(script, /@MYX_[A-Z_]+@/, 'every placeholder is filled in');
  assert.ok(script.includes(agentUnit({ bin: '@BIN@', config: '@CONFIG@' })), 'the agent unit of agent-unit.ts is in it');
  execFileSync('sh', ['-n'], { input: script }); // parses as POSIX sh (dash)
});

test('the printed line installs into --prefix with --no-start: binary 0755, config 0600, the unit of agent-unit.ts, nothing else; the agent shows enrolled', async () => {
  const { line, token } = await createLine(server);
  const prefix = join(dir, 'host-1');
  const r = await run(line, `--prefix ${prefix} --no-start --name inst-01 --label env=test --web-port 0 --bind 127.0.0.1`);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const p = paths(prefix);
  assert.deepEqual(tree(prefix), INSTALLED, 'no temporary file or folder is left');
  assert.equal(statSync(p.bin).mode & 0o777, 0o755);
  assert.equal(statSync(p.config).mode & 0o777, 0o600);
  assert.equal(statSync(join(prefix, 'etc/myx-agent')).mode & 0o777, 0o700);
  assert.equal(statSync(p.unit).mode & 0o777, 0o644);
  assert.ok(readFileSync(p.bin).equals(readFileSync(join(release, 'myx-agent'))), 'the release\'s agent');
  assert.equal(readFileSync(p.unit, 'utf8'), agentUnit({ bin: p.bin, config: p.config }));
  const config = JSON.parse(readFileSync(p.config, 'utf8')) as Record<string, unknown>;
  assert.equal(config.server_url, server.url);
  assert.equal(config.name, 'inst-01');
  assert.deepEqual(config.labels, { env: 'test' });

  for (const said of [`binary   ${p.bin} (version 0.1.0, installed)`, `config   ${p.config} (0600`, `unit     ${p.unit} (written)`, 'not started (--no-start)',
    `${p.bin} --config ${p.config}`, `systemctl link ${p.unit} && systemctl enable --now myx-agent`, `--uninstall --prefix ${prefix}`, 'myx agents remove inst-01']) {
    assert.ok(r.stdout.includes(said), `says: ${said}\n${r.stdout}`);
  }
  assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token), 'the token is never printed');

  const listed = await agents(server);
  const agent = listed.find((a) => a.name === 'inst-01');
  assert.equal(agent?.status, 'enrolled', 'enrolled, its daemon never started');
  first = { line, token, prefix, agentId: agent.id };
});

test('systemd-analyze verify accepts the agent unit the installer wrote', () => {
  const r = execFileSync('sh', ['-c', `systemd-analyze verify '${paths(first.prefix).unit}' 2>&1`], { encoding: 'utf8' });
  assert.equal(r, '', 'no warning either');
});

test('the installed agent, started from the prefix, runs a command', async (t) => {
  const p = paths(first.prefix);
  const agent = startExe(p.bin, ['--config', p.config], { PATH: '/usr/bin:/bin', MYX_LOG_FORMAT: 'json' });
  t.after(() => agent.kill());
  await agent.waitFor(/connected to the control plane/);
  const ran = await server.myx(['run', '--agent', 'inst-01', '--', 'echo', 'installed']);
  assert.equal(ran.code, 0, ran.stdout + ran.stderr);
  assert.match(ran.stdout, /^installed$/m);
  assert.equal((await agents(server)).find((a) => a.name === 'inst-01')?.status, 'online');
});

test('running the line again is safe: same identity, nothing rewritten; a changed binary is replaced', async () => {
  const p = paths(first.prefix);
  const again = await run(first.line, `--prefix ${first.prefix} --no-start`);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /already enrolled: kept \(MYX_ENROLL_TOKEN was not used\)/);
  assert.ok(again.stdout.includes(`${p.bin} (version 0.1.0, unchanged)`), again.stdout);
  assert.ok(again.stdout.includes(`${p.unit} (unchanged)`), again.stdout);

  appendFileSync(p.bin, 'x');
  writeFileSync(p.unit, '# edited by hand\n');
  const third = await run(first.line, `--prefix ${first.prefix} --no-start`);
  assert.equal(third.code, 0, third.stdout + third.stderr);
  assert.ok(third.stdout.includes(`${p.bin} (version 0.1.0, updated)`), third.stdout);
  assert.ok(third.stdout.includes(`${p.unit} (rewritten)`), third.stdout);
  assert.ok(readFileSync(p.bin).equals(readFileSync(join(release, 'myx-agent'))));
  assert.equal(readFileSync(p.unit, 'utf8'), agentUnit({ bin: p.bin, config: p.config }));
  assert.deepEqual(tree(first.prefix), [...INSTALLED, 'etc/myx-agent/state', 'etc/myx-agent/state/control-plane-urls.json', 'etc/myx-agent/state/journal.db'].sort(),
    'the journal and the learned control-plane URLs of the agent that ran, and nothing more');
  assert.equal(JSON.parse(readFileSync(p.config, 'utf8')).agent_id, first.agentId);
  assert.deepEqual((await agents(server)).filter((a) => a.name === 'inst-01').map((a) => a.id), [first.agentId], 'no second agent');
});

test('uninstall (the line the installer printed) removes binary, unit and, unless --keep-config, the config, and says to remove the agent on the control plane', async () => {
  const p = paths(first.prefix);
  const uninstallLine = (await run(first.line, `--prefix ${first.prefix} --no-start`)).stdout.match(/^Uninstall: {2}(curl .*)$/m)?.[1];
  assert.ok(uninstallLine);
  assert.ok(!uninstallLine.includes(first.token));

  const kept = await runExe('/bin/sh', ['-c', `${uninstallLine} --keep-config`], env);
  assert.equal(kept.code, 0, kept.stdout + kept.stderr);
  assert.ok(!existsSync(p.bin) && !existsSync(p.unit));
  assert.ok(existsSync(p.config), 'config kept');
  assert.match(kept.stdout, /kept .*myx-agent \(the agent's identity and token: installing again reuses them\)/);
  const back = await run(first.line, `--prefix ${first.prefix} --no-start`);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, new RegExp(`inst-01 \\(${first.agentId}\\), already enrolled: kept`));

  const gone = await runExe('/bin/sh', ['-c', uninstallLine], env);
  assert.equal(gone.code, 0, gone.stdout + gone.stderr);
  for (const f of [p.bin, p.unit, join(first.prefix, 'etc/myx-agent')]) assert.ok(!existsSync(f), `${f} removed`);
  assert.ok(gone.stdout.includes(`removed ${p.bin}`) && gone.stdout.includes(`removed ${p.unit}`), gone.stdout);
  assert.match(gone.stdout, /On the control plane, finish with: {2}myx agents remove inst-01/);
});

test('--force enrolls a host anew: an agent removed on the control plane comes back with a new identity', async () => {
  const { line } = await createLine(server);
  const prefix = join(dir, 'host-2');
  assert.equal((await run(line, `--prefix ${prefix} --no-start --name inst-02`)).code, 0);
  const old = (await agents(server)).find((a) => a.name === 'inst-02')!;
  assert.equal((await server.myx(['agents', 'remove', 'inst-02'])).code, 0);

  const again = await createLine(server);
  const plain = await run(again.line, `--prefix ${prefix} --no-start`);
  assert.match(plain.stdout, /already enrolled: kept/, 'without --force the old identity stays');
  const forced = await run(again.line, `--prefix ${prefix} --no-start --force`);
  assert.equal(forced.code, 0, forced.stdout + forced.stderr);
  assert.match(forced.stdout, /inst-02 \(agt_\S+\), enrolled now/);
  const back = (await agents(server)).find((a) => a.name === 'inst-02')!;
  assert.notEqual(back.id, old.id);
  assert.equal(back.status, 'enrolled');
  assert.equal(JSON.parse(readFileSync(paths(prefix).config, 'utf8')).agent_id, back.id);
  assert.deepEqual(tree(prefix), INSTALLED);
});

test('a wrong pin in the line: curl refuses the control plane, the installer never runs, nothing is written', async () => {
  const { line } = await createLine(server);
  const wrong = line.replace(/sha256\/\/(.)/, (_m, c: string) => `sha256//${c === 'A' ? 'B' : 'A'}`);
  assert.notEqual(wrong, line);
  const prefix = join(dir, 'wrong-pin');
  const r = await run(wrong, `--prefix ${prefix} --no-start`);
  assert.match(r.stderr, /curl: \(90\) SSL: public key does not match pinned public key/);
  assert.equal(r.stdout, '');
  assert.deepEqual(tree(prefix), []);
});

test('an installer whose control plane does not match its pin stops before downloading anything, and leaves nothing', async () => {
  const { line, token } = await createLine(server);
  const script = execFileSync('sh', ['-c', line.split(' | ')[0]!], { encoding: 'utf8' })
    .replace(/^PINNED_PUBKEY=.*$/m, `PINNED_PUBKEY='sha256//${Buffer.alloc(32, 7).toString('base64')}'`);
  writeFileSync(join(dir, 'other-pin.sh'), script);
  const prefix = join(dir, 'other-pin');
  const r = await runExe('/bin/sh', [join(dir, 'other-pin.sh'), '--prefix', prefix, '--no-start'], { ...env, MYX_ENROLL_TOKEN: token });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /myx install: the control plane at https:\/\/127\.0\.0\.1:\d+ presented a certificate whose public key is not the pinned one/);
  assert.match(r.stderr, /nothing was installed or changed on this host/);
  assert.deepEqual(tree(prefix), []);
});

test('a tampered download fails its checksum and installs nothing; the token stays usable', async (t) => {
  const tampered = join(dir, 'tampered');
  mkdirSync(tampered);
  copyFileSync(join(release, 'SHA256SUMS'), join(tampered, 'SHA256SUMS'));
  writeFileSync(join(tampered, 'myx-agent'), '#!/bin/sh\necho 0.1.0\n'); // replaced after SHA256SUMS was written
  chmodSync(join(tampered, 'myx-agent'), 0o755);
  const other = await startServer(join(dir, 'cp-tampered'), ['--release-dir', tampered]);
  t.after(() => other.proc.kill());
  const { line } = await createLine(other);
  const prefix = join(dir, 'tampered-host');
  const r = await run(line, `--prefix ${prefix} --no-start`);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /myx install: checksum mismatch: the downloaded myx-agent has SHA-256 [0-9a-f]{64}, but the control plane's SHA256SUMS says [0-9a-f]{64}/);
  assert.match(r.stderr, /nothing was installed or changed on this host/);
  assert.deepEqual(tree(prefix), []);
  const tokens = JSON.parse((await other.myx(['token', 'list', '--json'])).stdout) as { state: string }[];
  assert.deepEqual(tokens.map((x) => x.state), ['usable']);
});

test('a used token and an expired token: the enrollment error, and nothing installed', async () => {
  const used = join(dir, 'used-token');
  const r = await run(first.line, `--prefix ${used} --no-start`);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /myx-agent: the enrollment token was already used; create a new one with `myx token create`\nmyx install: enrollment failed \(the reason is above\)\nmyx install: nothing was installed or changed on this host\n$/);
  assert.deepEqual(tree(used), []);

  const { line } = await createLine(server, '1s');
  await eventually(async () => {
    const list = JSON.parse((await server.myx(['token', 'list', '--json'])).stdout) as { state: string }[];
    return list[0]?.state === 'expired';
  }, 10_000, 'the token to expire');
  const expired = join(dir, 'expired-token');
  const e = await run(line, `--prefix ${expired} --no-start`);
  assert.equal(e.code, 1, e.stdout);
  assert.match(e.stderr, /the enrollment token has expired/);
  assert.deepEqual(tree(expired), []);
});

test('refused before anything happens: no root without --prefix, no systemd without --no-start, no token', async () => {
  const { line } = await createLine(server);
  const script = execFileSync('sh', ['-c', line.split(' | ')[0]!], { encoding: 'utf8' });
  writeFileSync(join(dir, 'install.sh'), script, { mode: 0o644 });
  chmodSync(dir, 0o755);
  const asNobody = await runExe('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', join(dir, 'install.sh')], { ...env, MYX_ENROLL_TOKEN: 'x' });
  assert.equal(asNobody.code, 1);
  assert.match(asNobody.stderr, /^myx install: this needs root .*run it with sudo.* or pass --prefix DIR/);

  const prefix = join(dir, 'refused');
  if (!existsSync('/run/systemd/system')) {
    const noSystemd = await run(line, `--prefix ${prefix}`);
    assert.equal(noSystemd.code, 1);
    assert.match(noSystemd.stderr, /systemd is not running on this host.*add --no-start/);
  }
  const noToken = await runExe('/bin/sh', ['-c', `sh ${join(dir, 'install.sh')} --prefix ${prefix} --no-start`], env);
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /no enrollment token: MYX_ENROLL_TOKEN is not set/);
  const badOption = await run(line, `--prefix ${prefix} --no-start --label nokey`);
  assert.match(badOption.stderr, /--label must be KEY=VALUE, got 'nokey'/);
  assert.deepEqual(tree(prefix), []);
});

// The agent's certificate over its life: regenerated after deletion (and the control plane
// follows over the authenticated channel), or replaced by the operator's own pair.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { ensureSelfSigned } from '../src/common/tls-cert.ts';
import { enrollAgent, startAgent, startServer, tempDir } from './helpers.ts';

test('deleting the certificate and restarting makes a new pair, and pushes keep working', async (t) => {
  const dir = tempDir(t);
  const server = await startServer(dir);
  t.after(() => server.proc.kill());
  const config = await enrollAgent(server, dir, 'phoenix');
  const first = await startAgent(config);
  const before = JSON.parse(first.proc.output().split('\n').find((l) => l.includes('serving on'))!) as { fingerprint: string };
  await first.proc.kill();

  rmSync(join(dirname(config), 'ssl'), { recursive: true });
  const second = await startAgent(config);
  t.after(() => second.proc.kill());
  const after = JSON.parse(second.proc.output().split('\n').find((l) => l.includes('serving on'))!) as { fingerprint: string };
  assert.notEqual(after.fingerprint, before.fingerprint);
  assert.match(second.proc.output(), /generated a new self-signed certificate/);

  const r = await server.myx(['run', '--agent', 'phoenix', '--json', '--', 'echo', 'reborn']);
  assert.equal(r.code, 0, r.stderr);
  const [c] = JSON.parse(r.stdout) as CommandRecord[];
  assert.deepEqual([c!.stdout, c!.delivery], ['reborn\n', 'push']);
  const agents = JSON.parse((await server.myx(['agents', '--json'])).stdout) as { fingerprint: string }[];
  assert.equal(agents[0]!.fingerprint, after.fingerprint);
});

test('certificate_path and private_key_path replace the generated pair', async (t) => {
  const dir = tempDir(t);
  const server = await startServer(dir);
  t.after(() => server.proc.kill());
  const own = await ensureSelfSigned({ certPath: join(dir, 'own', 'my.crt'), keyPath: join(dir, 'own', 'my.key') }, 'my own');
  const configPath = join(dir, 'byo', 'config.json');
  mkdirSync(dirname(configPath), { recursive: true });
  writeFileSync(configPath, JSON.stringify({ certificate_path: own.certPath, private_key_path: own.keyPath }));
  const config = await enrollAgent(server, dir, 'byo');
  assert.equal(config, configPath);
  const agent = await startAgent(config);
  t.after(() => agent.proc.kill());
  assert.match(agent.proc.output(), new RegExp(`"fingerprint":"${own.fingerprint}"`));
  const served = execFileSync('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${agent.port} 2>/dev/null | openssl x509 -noout -fingerprint -sha256`], { encoding: 'utf8' });
  assert.match(served, new RegExp(own.fingerprint));
  const r = await server.myx(['run', '--agent', 'byo', '--', 'true']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(configPath, 'utf8').includes(own.certPath), true);
});

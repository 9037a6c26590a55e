// Issue 2 acceptance on trust: pinned pushes, single-use expiring enrollment tokens.

import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ensureSelfSigned } from '../src/common/tls-cert.ts';
import { PinMismatchError, PinnedPool } from '../src/common/pinned-pool.ts';
import { requestJson, RequestFailedError } from '../src/common/json-client.ts';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { createToken, enrollAgent, eventually, runBin, startAgent, startServer, tempDir, type TestServer } from './helpers.ts';

describe('pinning', () => {
  test('a pinned client refuses a server whose certificate does not match, and talks to one that does', async (t) => {
    const dir = tempDir(t);
    const good = await ensureSelfSigned({ certPath: join(dir, 'a.crt'), keyPath: join(dir, 'a.key') }, 'a');
    const other = await ensureSelfSigned({ certPath: join(dir, 'b.crt'), keyPath: join(dir, 'b.key') }, 'b');
    let hits = 0;
    const srv = createServer({ cert: good.certPem, key: good.keyPem }, (_req, res) => {
      hits++;
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.after(() => srv.close());
    const url = `https://127.0.0.1:${(srv.address() as { port: number }).port}/`;
    const ok = await requestJson<{ ok: boolean }>({ method: 'GET', url, pool: new PinnedPool({ fingerprint: good.fingerprint }) });
    assert.deepEqual(ok.body, { ok: true });
    await assert.rejects(
      requestJson({ method: 'GET', url, pool: new PinnedPool({ fingerprint: other.fingerprint }) }),
      (err: RequestFailedError) => err.code === 'CERT_PIN_MISMATCH' && /does not match the pinned fingerprint/.test(err.message),
    );
    assert.equal(hits, 1, 'the mismatched client never sent its request');
    assert.ok(new PinMismatchError('a', 'b', 'h') instanceof Error);
  });

  test('a new connection resumes the TLS session of a pinned one; a server that cannot resume it passes the pin check again or is refused', async (t) => {
    const dir = tempDir(t);
    const good = await ensureSelfSigned({ certPath: join(dir, 'a.crt'), keyPath: join(dir, 'a.key') }, 'a');
    const other = await ensureSelfSigned({ certPath: join(dir, 'b.crt'), keyPath: join(dir, 'b.key') }, 'b');
    const resumed: boolean[] = [];
    const serve = (cert: typeof good, port = 0) => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const srv = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
        resumed.push((req.socket as import('node:tls').TLSSocket).isSessionReused());
        // every answer closes its connection: each request needs a new one
        res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end('{"ok":true}');
      });
      srv.listen(port, '127.0.0.1', () => resolve(srv));
    });
    let srv = await serve(good);
    const port = (srv.address() as { port: number }).port;
    const url = `https://127.0.0.1:${port}/`;
    const pool = new PinnedPool({ fingerprint: good.fingerprint });
    t.after(() => pool.destroy());
    for (let i = 0; i < 3; i++) assert.deepEqual((await requestJson({ method: 'GET', url, pool })).body, { ok: true });
    assert.deepEqual(resumed, [false, true, true], 'the first connection shook hands in full, the next ones resumed its session');

    // another process on the port (it cannot resume: its ticket keys are its own) with another certificate
    await new Promise((r) => srv.close(r));
    srv = await serve(other, port);
    await assert.rejects(requestJson({ method: 'GET', url, pool }), (err: RequestFailedError) => err.code === 'CERT_PIN_MISMATCH');
    await new Promise((r) => srv.close(r));
    // and one with the pinned certificate: a full handshake, checked, then resumed again
    srv = await serve(good, port);
    t.after(() => srv.close());
    resumed.length = 0;
    for (let i = 0; i < 2; i++) await requestJson({ method: 'GET', url, pool });
    assert.deepEqual(resumed, [false, true]);
  });

  test('a push to an agent whose certificate does not match the pinned fingerprint is refused', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(dir);
    t.after(() => server.proc.kill());
    const agent = await startAgent(await enrollAgent(server, dir, 'real'));
    const port = agent.port;
    await agent.proc.kill('SIGKILL'); // no goodbye: the control plane still pins the real certificate

    // An impostor takes over the agent's address and port with a certificate of its own.
    const fake = await ensureSelfSigned({ certPath: join(dir, 'fake.crt'), keyPath: join(dir, 'fake.key') }, 'impostor');
    let received = 0;
    const impostor = createServer({ cert: fake.certPem, key: fake.keyPem }, (_req, res) => {
      received++;
      res.statusCode = 202;
      res.end('{}');
    });
    await new Promise<void>((r) => impostor.listen(port, '127.0.0.1', r));
    t.after(() => impostor.close());

    const client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
    t.after(() => client.close());
    const [cmd] = await client.createCommands({ targets: { agents: ['real'] }, command: 'echo', args: ['pwned'] });
    const seen = await eventually(async () => {
      const c = await client.command(cmd!.id);
      return c.last_push_error ? c : undefined;
    }, 15_000, 'push failure recorded');
    assert.match(seen.last_push_error!, /does not match the pinned fingerprint/);
    assert.equal(seen.status, 'queued');
    assert.equal(received, 0, 'the impostor never saw the command');
    await eventually(() => /push refused.*does not match the pinned fingerprint/.test(server.proc.output()), 5000, 'refusal logged');
  });
});

describe('enrollment tokens', () => {
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = tempDir();
    server = await startServer(dir);
  });
  after(() => server.proc.kill());

  const enroll = (token: string, name: string) =>
    runBin('myx-agent', ['enroll', '--server', server.url, '--token', token, '--config', join(dir, name, 'config.json'), '--name', name]);

  test('works once, and the second use says it was used', async () => {
    const token = await createToken(server);
    const first = await enroll(token, 'once-a');
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /enrolled as "once-a"/);
    const second = await enroll(token, 'once-b');
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /already used/);
  });

  test('does not work after it expires, and says so', async () => {
    const token = await createToken(server, '1s');
    await sleep(1500);
    const r = await enroll(token, 'late');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /expired/);
  });

  test('an unknown or malformed token is refused with a clear message', async () => {
    const real = await createToken(server);
    const forged = real.replace(/^myx1\.[^.]+/, 'myx1.' + 'A'.repeat(43));
    const r = await enroll(forged, 'forged');
    assert.match(r.stderr, /not known to this control plane/);
    const bad = await enroll('hello', 'bad');
    assert.match(bad.stderr, /malformed/);
  });

  test('the token pins the control plane: a token naming another fingerprint cannot enroll', async () => {
    const real = await createToken(server);
    const wrongPin = real.replace(/\.[0-9a-f]{64}$/, '.' + 'ab'.repeat(32));
    const r = await enroll(wrongPin, 'mitm');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /does not match the pinned fingerprint/);
  });

  test('the config file written by enroll is 0600 and holds the pinned fingerprint', async () => {
    const token = await createToken(server);
    const r = await enroll(token, 'cfg');
    assert.equal(r.code, 0, r.stderr);
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg', 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.server_fingerprint, server.fingerprint);
    assert.match(String(cfg.agent_token), /^myxa_/);
  });
});

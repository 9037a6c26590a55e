// Issue 5, authentication and secrets: every kind of token on every kind of endpoint, mutual TLS
// for pushes, the TLS policy, rate limiting of failed authentication, file modes, no secret leaks.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createHttpApp } from '../src/common/http-app.ts';
import { routeFor } from '../src/common/route-auth.ts';
import { operatorRoute, serverCallers } from '../src/server/auth.ts';
import type { Store } from '../src/server/store/store.ts';
import { createLogger } from '../src/common/logger.ts';
import { ensureSelfSigned } from '../src/common/tls-cert.ts';
import { createToken, enrollAgent, runBin, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';

interface Reply { status: number; body: { error?: { code: string } } & Record<string, unknown>; headers: Record<string, unknown> }

function call(url: string, opts: { method?: string; headers?: Record<string, string>; body?: unknown; from?: string; cert?: string; key?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(url, {
      method: opts.method ?? (data ? 'POST' : 'GET'), rejectUnauthorized: false, agent: false,
      headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      ...(opts.from ? { localAddress: opts.from } : {}), ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : {}, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

describe('tokens, mutual TLS, TLS policy and rate limits', () => {
  const dir = tempDir();
  let server: TestServer;
  let web: TestAgent;
  let other: TestAgent;
  let operatorToken: string;
  let cmdOfWeb: string;
  const executeBody = (id: string) => ({ command_id: id, command: 'true' });

  before(async () => {
    server = await startServer(dir);
    const [cw, co] = await Promise.all([enrollAgent(server, dir, 'web'), enrollAgent(server, dir, 'other', ['--no-web'])]);
    [web, other] = await Promise.all([startAgent(cw), startAgent(co, [])]);
    operatorToken = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    const r = await server.myx(['run', '--agent', 'web', '--json', '--', 'true']);
    cmdOfWeb = (JSON.parse(r.stdout) as { id: string }[])[0]!.id;
  });
  after(async () => {
    await Promise.all([web?.proc.kill(), other?.proc.kill()]);
    await server?.proc.kill();
  });

  test('each kind of token opens only its own endpoints', async () => {
    const op = { authorization: `Bearer ${operatorToken}` };
    const asAgent = { 'x-agent-token': other.token() };
    const enrollment = await createToken(server);
    // an agent token, an enrollment token or nothing on operator endpoints
    for (const path of ['/api/agents', '/api/commands', '/api/runs', `/api/commands/${cmdOfWeb}`]) {
      assert.equal((await call(server.url + path, { headers: { authorization: `Bearer ${other.token()}` } })).body.error?.code, 'OPERATOR_TOKEN_INVALID');
      assert.equal((await call(server.url + path, { headers: { authorization: `Bearer ${enrollment}` } })).body.error?.code, 'OPERATOR_TOKEN_INVALID');
      assert.equal((await call(server.url + path, { headers: asAgent })).body.error?.code, 'OPERATOR_TOKEN_MISSING');
    }
    // the operator token, or another agent's, on agent endpoints
    assert.equal((await call(server.url + '/api/agents/heartbeat', { headers: { 'x-agent-token': operatorToken }, body: {} })).body.error?.code, 'AGENT_TOKEN_INVALID'); // before the body is looked at
    assert.equal((await call(server.url + '/api/agents/poll', { headers: { 'x-agent-token': enrollment } })).status, 401);
    // an agent cannot report on another agent's command
    const forged = await call(`${server.url}/api/agents/commands/${cmdOfWeb}/result`, {
      headers: asAgent,
      body: { status: 'failed', exit_code: 1, signal: null, stdout: '', stderr: 'forged', stdout_bytes: 0, stderr_bytes: 0, stdout_truncated: false, stderr_truncated: false, started_at: new Date().toISOString(), finished_at: new Date().toISOString(), error: null },
    });
    assert.equal(forged.status, 403, JSON.stringify(forged.body));
    const shown = await call(`${server.url}/api/commands/${cmdOfWeb}`, { headers: op });
    assert.equal(shown.body.status, 'succeeded');
    // the agent's own service: the operator token is not the agent token
    const cert = { cert: readFileSync(join(server.dataDir, 'tls', 'server.crt'), 'utf8'), key: readFileSync(join(server.dataDir, 'tls', 'server.key'), 'utf8') };
    assert.equal((await call(`https://127.0.0.1:${web.port}/api/status`, { headers: { 'x-agent-token': operatorToken }, ...cert })).body.error?.code, 'AGENT_TOKEN_INVALID');
  });

  test('reading an agent (status, a command\'s output) takes the control plane\'s certificate too: its token alone (as in a copy of the database) reads nothing', async () => {
    const headers = { 'x-agent-token': web.token() };
    const cert = { cert: readFileSync(join(server.dataDir, 'tls', 'server.crt'), 'utf8'), key: readFileSync(join(server.dataDir, 'tls', 'server.key'), 'utf8') };
    for (const path of ['/api/status', `/api/commands/${cmdOfWeb}`]) {
      const alone = await call(`https://127.0.0.1:${web.port}${path}`, { headers });
      assert.deepEqual([alone.status, alone.body.error?.code], [403, 'CLIENT_CERT_REQUIRED'], path);
      assert.equal((await call(`https://127.0.0.1:${web.port}${path}`, { headers, ...cert })).status, 200, path);
    }
    const stranger = await ensureSelfSigned({ certPath: join(dir, 'y', 'y.crt'), keyPath: join(dir, 'y', 'y.key') }, 'not the control plane');
    const wrong = await call(`https://127.0.0.1:${web.port}/api/commands/${cmdOfWeb}`, { headers, cert: stranger.certPem, key: stranger.keyPem });
    assert.deepEqual([wrong.status, wrong.body.error?.code], [403, 'CLIENT_CERT_MISMATCH']);
  });

  test('a removed agent\'s token stops working', async (t) => {
    const cfg = await enrollAgent(server, dir, 'gone', ['--no-web']);
    const token = (JSON.parse(readFileSync(cfg, 'utf8')) as { agent_token: string }).agent_token;
    assert.equal((await call(server.url + '/api/agents/poll?wait=0', { headers: { 'x-agent-token': token } })).status, 200);
    assert.equal((await server.myx(['agents', 'remove', 'gone'])).code, 0);
    const r = await call(server.url + '/api/agents/poll?wait=0', { headers: { 'x-agent-token': token } });
    assert.deepEqual([r.status, r.body.error?.code], [410, 'AGENT_REMOVED'], 'said plainly, and not counted as a failed authentication');
    t.diagnostic('removed agent token: 410 AGENT_REMOVED');
  });

  test('pushes need the control plane\'s client certificate: the agent token alone cannot run anything', async () => {
    const url = `https://127.0.0.1:${web.port}/api/execute`;
    const headers = { 'x-agent-token': web.token() };
    const none = await call(url, { headers, body: executeBody('cmd_mtls_none') });
    assert.deepEqual([none.status, none.body.error?.code], [403, 'CLIENT_CERT_REQUIRED']);
    const stranger = await ensureSelfSigned({ certPath: join(dir, 'x', 'x.crt'), keyPath: join(dir, 'x', 'x.key') }, 'not the control plane');
    const wrong = await call(url, { headers, body: executeBody('cmd_mtls_wrong'), cert: stranger.certPem, key: stranger.keyPem });
    assert.deepEqual([wrong.status, wrong.body.error?.code], [403, 'CLIENT_CERT_MISMATCH']);
    const cancel = await call(`https://127.0.0.1:${web.port}/api/commands/${cmdOfWeb}/cancel`, { headers, method: 'POST' });
    assert.equal(cancel.body.error?.code, 'CLIENT_CERT_REQUIRED');
    // the control plane presents its certificate: pushes work
    const r = await server.myx(['run', '--agent', 'web', '--json', '--', 'echo', 'pushed']);
    const [c] = JSON.parse(r.stdout) as { stdout: string; delivery: string }[];
    assert.deepEqual([c!.stdout, c!.delivery], ['pushed\n', 'push']);
  });

  test('TLS: 1.0 and 1.1 refused, CBC and non-forward-secret suites refused, renegotiation refused', async () => {
    for (const port of [Number(new URL(server.url).port), web.port]) {
      const sClient = (...args: string[]) => spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { input: '', encoding: 'utf8', timeout: 30_000 });
      assert.notEqual(sClient('-tls1_1').status, 0, 'TLS 1.1 accepted');
      assert.notEqual(sClient('-tls1_2', '-cipher', 'AES128-SHA:AES256-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA').status, 0, 'a CBC or RSA-kx suite accepted');
      assert.equal(sClient('-tls1_2').status, 0, 'TLS 1.2 refused');
      assert.equal(sClient('-tls1_3').status, 0, 'TLS 1.3 refused');
      const renegotiated = await new Promise<Error | null>((resolve) => {
        const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' }, () => {
          s.renegotiate({ rejectUnauthorized: false }, (err) => {
            s.destroy();
            resolve(err ?? null);
          });
          s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'); // the server acts on the request when it reads on
        });
        s.on('error', (err) => resolve(err));
        s.on('close', () => resolve(new Error('the server closed the connection')));
      });
      assert.ok(renegotiated instanceof Error, `port ${port} allowed renegotiation`);
    }
  });

  test('a burst of bad tokens from one address is answered 429 and does not slow down the fleet', async () => {
    const burst = async (url: string, headers: Record<string, string>, from: string) => {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) statuses.push((await call(url, { headers, from })).status);
      return statuses;
    };
    const fromServer = await burst(server.url + '/api/agents/poll?wait=0', { 'x-agent-token': 'myxa_' + 'x'.repeat(40) }, '127.0.0.9');
    assert.ok(fromServer.slice(0, 20).every((s) => s === 401), fromServer.join(','));
    assert.ok(fromServer.slice(21).every((s) => s === 429), fromServer.join(','));
    const fromOperator = await burst(server.url + '/api/agents', { authorization: 'Bearer nope' }, '127.0.0.10');
    assert.ok(fromOperator.slice(21).every((s) => s === 429));
    const limited = await call(server.url + '/api/agents', { headers: { authorization: 'Bearer nope' }, from: '127.0.0.10' });
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal(limited.body.error?.code, 'AUTH_RATE_LIMITED');
    // the agent's own web service limits the same way
    const fromAgent = await burst(`https://127.0.0.1:${web.port}/api/status`, { 'x-agent-token': 'nope' }, '127.0.0.11');
    assert.ok(fromAgent.slice(21).every((s) => s === 429), fromAgent.join(','));
    // other addresses are not affected: the operator (127.0.0.1), both agents and the push path work
    const r = await server.myx(['run', '--all', '--json', '--', 'echo', 'still fine']);
    assert.equal(r.code, 0, r.stderr);
    const recs = JSON.parse(r.stdout) as { stdout: string; delivery: string }[];
    assert.deepEqual(recs.map((c) => c.stdout), ['still fine\n', 'still fine\n']);
    // and the right token from the limited address is limited too (per address), /health is not
    assert.equal((await call(`https://127.0.0.1:${web.port}/health`, { from: '127.0.0.11' })).status, 200);
    assert.match(server.proc.output(), /too many failed authentications from 127\.0\.0\.9/);
  });

  test('console sign-in: a wrong token counts against the address like any failed authentication; the session cookie then works as the Bearer token does', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await call(`${server.url}/api/session`, { body: { token: `myxo_wrong${i}` }, from: '127.0.0.14' })).status);
    assert.ok(statuses.slice(0, 20).every((s) => s === 401), statuses.join(','));
    assert.ok(statuses.slice(21).every((s) => s === 429), statuses.join(','));
    const limited = await call(`${server.url}/api/session`, { body: { token: operatorToken }, from: '127.0.0.14' });
    assert.equal(limited.status, 429, 'the right token waits too, from that address');
    assert.equal((await call(`${server.url}/api/session`, { body: { token: other.token() }, from: '127.0.0.15' })).body.error?.code, 'OPERATOR_TOKEN_INVALID', 'an agent token is no operator token');
    const signIn = await call(`${server.url}/api/session`, { body: { token: operatorToken }, from: '127.0.0.15' });
    assert.equal(signIn.status, 201);
    const cookie = String((signIn.headers['set-cookie'] as string[])[0]).split(';')[0]!;
    assert.match(String((signIn.headers['set-cookie'] as string[])[0]), /; Max-Age=43200; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
    assert.equal((await call(`${server.url}/api/agents`, { headers: { cookie } })).status, 200);
    assert.equal((await call(`${server.url}/api/session`, { headers: { cookie } })).body.csrf_token, signIn.body.csrf_token);
    // a Bearer header is judged alone, cookie or not
    assert.equal((await call(`${server.url}/api/agents`, { headers: { cookie, authorization: 'Bearer nope' } })).body.error?.code, 'OPERATOR_TOKEN_INVALID');
    assert.equal((await call(`${server.url}/api/session`, { headers: { authorization: `Bearer ${operatorToken}` } })).body.via, 'token');
    // a cookie naming no session
    assert.equal((await call(`${server.url}/api/agents`, { headers: { cookie: `__Host-myx-session=myxs_${'x'.repeat(43)}` } })).body.error?.code, 'SESSION_INVALID');
    assert.ok(!server.proc.output().includes(cookie.split('=')[1]!), 'the session id is never logged');
  });

  test('the control plane\'s certificate is never rate limited on an agent, even when it presents a wrong token (another agent\'s address)', async () => {
    const cert = { cert: readFileSync(join(server.dataDir, 'tls', 'server.crt'), 'utf8'), key: readFileSync(join(server.dataDir, 'tls', 'server.key'), 'utf8') };
    const url = `https://127.0.0.1:${web.port}/api/status`;
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await call(url, { headers: { 'x-agent-token': 'myxa_' + 'y'.repeat(40) }, from: '127.0.0.12', ...cert })).status);
    assert.ok(statuses.every((s) => s === 401), statuses.join(','));
    assert.equal((await call(url, { headers: { 'x-agent-token': web.token() }, from: '127.0.0.12', ...cert })).status, 200);
    // a stranger from that address, without the certificate, has its own budget as usual
    const stranger: number[] = [];
    for (let i = 0; i < 25; i++) stranger.push((await call(url, { headers: { 'x-agent-token': 'nope' }, from: '127.0.0.12' })).status);
    assert.ok(stranger.slice(21).every((s) => s === 429), stranger.join(','));
    assert.equal((await call(url, { headers: { 'x-agent-token': web.token() }, from: '127.0.0.12', ...cert })).status, 200, 'the control plane is still let in');
  });

  test('an agent that reports another agent\'s certificate is enrolled, and the control plane says so once', async () => {
    const fingerprint = new X509Certificate(readFileSync(join(dirname(web.configPath), 'ssl', 'agent.crt'))).fingerprint256;
    const facts = { name: 'poser', hostname: 'h', os: 'linux', version: '0.1.0', mode: 'web', web_port: web.port, fingerprint, advertise_address: '127.0.0.1', labels: {} };
    const reg = await call(`${server.url}/api/agents/register`, { body: { enrollment_token: await createToken(server), ...facts } });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const hb = await call(`${server.url}/api/agents/heartbeat`, { headers: { 'x-agent-token': reg.body.agent_token as string }, body: { ...facts, uptime_seconds: 1, running: 0 } });
    assert.equal(hb.status, 200, JSON.stringify(hb.body));
    const warnings = server.proc.output().split('\n').filter((l) => /agent poser reports the same certificate as agent web/.test(l));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    // its commands are pushed to web's address with its own token: web refuses them, and web's own commands still arrive by push
    const posed = await call(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${operatorToken}` }, body: { targets: { agents: ['poser'] }, command: 'true' } });
    assert.equal(posed.status, 201);
    const own = await server.myx(['run', '--agent', 'web', '--json', '--', 'echo', 'mine']);
    const [c] = JSON.parse(own.stdout) as { stdout: string; delivery: string }[];
    assert.deepEqual([c!.stdout, c!.delivery], ['mine\n', 'push']);
    const posedId = (posed.body.commands as { id: string }[])[0]!.id;
    assert.ok(!web.proc.output().includes(posedId), 'web ran a command meant for the poser');
    assert.equal((await server.myx(['agents', 'remove', 'poser'])).code, 0);
  });

  test('no token in logs, `myx agents` output or process arguments', async () => {
    const tokens = [operatorToken, web.token(), other.token()];
    const agentsOut = (await server.myx(['agents', '--json'])).stdout + (await server.myx(['agents'])).stdout;
    const args = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    for (const text of [server.proc.output(), web.proc.output(), other.proc.output(), agentsOut, args]) {
      for (const t of tokens) assert.ok(!text.includes(t), 'a token leaked');
    }
  });
});

describe('deny by default', () => {
  test('a route that does not declare who may call it cannot be added, on either service\'s app', () => {
    const app = createHttpApp({ logger: createLogger({ name: 'test', level: 'error' }), callers: { public: null, operator: () => {} } });
    assert.throws(() => app.get('/api/forgotten', async () => ({ secret: true })), /must declare who may call it/);
    assert.throws(() => app.get('/api/typo', { config: { caller: 'operater' } }, async () => ({})), /must declare who may call it/);
    app.get('/api/declared', { config: { caller: 'operator' } }, async () => ({}));
  });

  test('on the control plane an operator route must also declare the role it needs, and one that changes something its audit action', () => {
    const callers = serverCallers({} as Store);
    const app = createHttpApp({ logger: createLogger({ name: 'test', level: 'error' }), callers });
    assert.throws(() => app.get('/api/no-role', routeFor('operator'), async () => ({})), /must declare the role it needs \(config\.role: viewer \| operator \| admin\)/);
    assert.throws(() => app.get('/api/bad-role', routeFor('operator', { role: 'root' as never }), async () => ({})), /must declare the role it needs/);
    assert.throws(() => app.post('/api/unaudited', operatorRoute('admin'), async () => ({})), /changes something, so it must declare its audit action/);
    assert.throws(() => app.delete('/api/unaudited', operatorRoute('operator'), async () => ({})), /must declare its audit action/);
    app.get('/api/read', operatorRoute('viewer'), async () => ({}));
    app.post('/api/wait-like', operatorRoute('viewer', false), async () => ({}));
    app.post('/api/change', operatorRoute('operator', 'run.create'), async () => ({}));
  });
});

describe('secret files are checked at start', () => {
  test('the control plane refuses an operator token or key open to others', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(dir);
    await server.proc.kill();
    const start = () => runBin('myx', ['server', '--data-dir', server.dataDir, '--listen', '127.0.0.1:0'], {}, 30_000);
    chmodSync(join(server.dataDir, 'operator.token'), 0o644);
    const r = await start();
    assert.equal(r.code, 2);
    assert.match(r.stderr, /operator\.token holds a secret but its mode is 0644 \(open to everyone\): run `chmod 600 /);
    chmodSync(join(server.dataDir, 'operator.token'), 0o600);
    chmodSync(join(server.dataDir, 'tls', 'server.key'), 0o640);
    const k = await start();
    assert.equal(k.code, 2);
    assert.match(k.stderr, /server\.key holds a secret but its mode is 0640 \(open to its group\)/);
  });

  test('the agent refuses a config (it holds the agent token) open to others', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(dir);
    t.after(() => server.proc.kill());
    const cfg = await enrollAgent(server, dir, 'loose');
    chmodSync(cfg, 0o604);
    const r = await runBin('myx-agent', ['--config', cfg, '--web-port', '0'], {}, 30_000);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /config\.json holds a secret but its mode is 0604 \(open to everyone\): run `chmod 600 /);
  });

  test('enroll takes the token from MYX_ENROLL_TOKEN, so it never shows in the process list', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(dir);
    t.after(() => server.proc.kill());
    const created = JSON.parse((await server.myx(['token', 'create', '--json'])).stdout) as { token: string; join: string };
    assert.ok(created.join.startsWith(`MYX_ENROLL_TOKEN=${created.token} myx-agent enroll --server `));
    assert.ok(!created.join.includes('--token'));
    const cfg = join(dir, 'env', 'config.json');
    const r = await runBin('myx-agent', ['enroll', '--server', server.url, '--config', cfg, '--no-web'], { MYX_ENROLL_TOKEN: created.token });
    assert.equal(r.code, 0, r.stderr);
    const missing = await runBin('myx-agent', ['enroll', '--server', server.url, '--config', join(dir, 'none', 'c.json')], { MYX_ENROLL_TOKEN: '' });
    assert.match(missing.stderr, /no enrollment token: set MYX_ENROLL_TOKEN/);
  });
});

// Every protected route of the control plane and of the agent's web service, written every way a
// request target can be written (path-spellings.ts) and sent over raw TLS: without credentials,
// with another kind of caller's token, and (on the agent) with the token but without the control
// plane's client certificate. None may answer 2xx or show anything but a JSON error. The same
// spellings with the right credentials do reach the routes, so the refusals are the routes' own.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { createToken, enrollAgent, ROOT, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';
import { pathlessTargets, spellingsOf, type Spelling } from './path-spellings.ts';
import { closePool, errorProblem, RawSession, send, type RawSessionReply } from './raw-http.ts';

type Svc = 'cp' | 'agent';
type Caller = 'operator' | 'agent' | 'control-plane';

interface Route {
  svc: Svc;
  method: string;
  /** The route as registered, to check that this list has every protected route. */
  route: string;
  /** The path (and query) to send, with real ids: a route that answered would show real data. */
  path: string;
  caller: Caller;
  body?: unknown;
  /** Safe to call with the right credentials (read only): the check that spellings reach the route. */
  readOnly?: boolean;
}

/** Statuses a refused request may get; anything else (2xx above all) fails. */
const REFUSALS = new Set([400, 401, 403, 404, 405, 429]);
const NOW = () => new Date().toISOString();

describe('every spelling of every protected route is refused without the right credentials', () => {
  const dir = tempDir();
  const secret = `secret-${randomBytes(12).toString('hex')}`;
  let server: TestServer;
  let web: TestAgent;
  let operatorToken: string;
  let dummyToken: string;
  let cert: { cert: string; key: string };
  let routes: Route[] = [];
  let nextAddress = 0;
  let execs = 0;
  const cpPort = () => Number(new URL(server.url).port);

  /** A fresh source address per few requests: failed authentications are limited per address. */
  const address = () => {
    const n = nextAddress++;
    return `127.${90 + (n >> 16)}.${(n >> 8) & 255}.${(n & 255) || 1}`;
  };

  const headOf = (method: string, target: string, headers: Record<string, string>, body?: string) =>
    `${method} ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}`
    + `${body === undefined ? '' : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`}\r\n`;

  const bodyOf = (r: Route) => {
    if (r.body === undefined) return undefined;
    // a fresh command id per execute: should one get through, it runs (and the test sees it)
    return JSON.stringify(r.route === '/api/execute' ? { ...(r.body as object), command_id: `cmd_spell_${execs++}` } : r.body);
  };

  /** Sends every (route, spelling) with `headers` (and the client certificate when `withCert`), a few per connection. */
  async function sendAll(cases: { r: Route; s: Spelling }[], headers: (r: Route) => Record<string, string>, withCert: boolean) {
    const results: { r: Route; s: Spelling; reply: RawSessionReply }[] = [];
    const perConnection = 8;
    const batches: { r: Route; s: Spelling }[][] = [];
    for (let i = 0; i < cases.length; i += perConnection) batches.push(cases.slice(i, i + perConnection));
    let next = 0;
    const worker = async () => {
      for (;;) {
        const batch = batches[next++];
        if (!batch) return;
        const sessions = new Map<Svc, RawSession>();
        const from = address();
        for (const c of batch) {
          let session = sessions.get(c.r.svc);
          if (!session) {
            session = new RawSession(c.r.svc === 'cp' ? cpPort() : web.port, { from, timeoutMs: 15_000, ...(withCert ? cert : {}) });
            sessions.set(c.r.svc, session);
          }
          const body = bodyOf(c.r);
          results.push({ ...c, reply: await session.request(headOf(c.r.method, c.s.target, headers(c.r), body), body) });
        }
        for (const s of sessions.values()) s.close();
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    return results;
  }

  const casesFor = (list: Route[]) => list.flatMap((r) => {
    const authority = `127.0.0.1:${r.svc === 'cp' ? cpPort() : web.port}`;
    const methods = r.method === 'GET' ? ['GET', 'HEAD'] : [r.method];
    return methods.flatMap((method) => [...spellingsOf(r.path, authority), ...pathlessTargets(authority)].map((s) => ({ r: { ...r, method }, s })));
  });

  /** What no refusal may contain. */
  const leaks = () => [secret, web.token(), dummyToken, operatorToken];

  function checkRefused(results: { r: Route; s: Spelling; reply: RawSessionReply }[], label: string) {
    const statuses = new Map<number | null, number>();
    const reached = new Map<string, number>();
    for (const { r, s, reply } of results) {
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      const what = `${label}: ${r.svc} ${r.method} ${JSON.stringify(s.target)} (${s.what})`;
      // a CONNECT-like target may be closed without an answer: nothing was served
      if (reply.status === null && s.what.startsWith('authority-form')) continue;
      assert.ok(reply.status !== null && REFUSALS.has(reply.status), `${what} answered ${reply.status}: ${reply.text.slice(0, 300)}`);
      if (r.method !== 'HEAD') assert.equal(errorProblem(reply), null, `${what}: ${errorProblem(reply)}`);
      for (const leak of leaks()) assert.ok(!reply.text.includes(leak) && !reply.headers.includes(leak), `${what} leaked data: ${reply.text.slice(0, 300)}`);
      if (reply.status === 401 || reply.status === 403) reached.set(`${r.svc} ${r.method} ${r.route}`, (reached.get(`${r.svc} ${r.method} ${r.route}`) ?? 0) + 1);
    }
    return { statuses, reached };
  }

  before(async () => {
    server = await startServer(dir, ['--heartbeat-interval', '0.5']);
    web = await startAgent(await enrollAgent(server, dir, 'sp-web'));
    operatorToken = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    cert = { cert: readFileSync(join(server.dataDir, 'tls', 'server.crt'), 'utf8'), key: readFileSync(join(server.dataDir, 'tls', 'server.key'), 'utf8') };
    const facts = { name: 'sp-dummy', hostname: 'h', os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null, labels: {} };
    const reg = await send(`${server.url}/api/agents/register`, { json: { enrollment_token: await createToken(server), ...facts } });
    assert.equal(reg.status, 201, reg.text);
    dummyToken = reg.body.agent_token;
    const client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
    const ran = await server.myx(['run', '--agent', 'sp-web', '--json', '--', 'echo', secret]);
    assert.equal(ran.code, 0, ran.stderr);
    const [cmdWeb] = JSON.parse(ran.stdout) as CommandRecord[];
    const [cmdDummy] = await client.createCommands({ targets: { agents: ['sp-dummy'] }, command: 'echo', args: [secret] }) as [CommandRecord];
    const spareToken = await client.createEnrollmentToken(600);
    const hook = await client.addWebhook({ url: 'http://127.0.0.1:9/spelled', events: ['run.finished'], secret });
    const spareHook = await client.addWebhook({ url: 'http://127.0.0.1:9/spare', events: ['run.finished'] });
    const result = { status: 'succeeded', exit_code: 0, signal: null, stdout: secret, stderr: '', stdout_bytes: 1, stderr_bytes: 0, stdout_truncated: false,
      stderr_truncated: false, error: null, started_at: NOW(), finished_at: NOW() };
    const op = (method: string, route: string, path: string, extra: Partial<Route> = {}): Route => ({ svc: 'cp', method, route, path, caller: 'operator', ...extra });
    const ag = (method: string, route: string, path: string, body?: unknown): Route => ({ svc: 'cp', method, route, path, caller: 'agent', ...(body ? { body } : {}) });
    const cp = (method: string, route: string, path: string, extra: Partial<Route> = {}): Route => ({ svc: 'agent', method, route, path, caller: 'control-plane', ...extra });
    routes = [
      op('GET', '/api/agents', '/api/agents', { readOnly: true }),
      op('DELETE', '/api/agents/:id', '/api/agents/sp-dummy'),
      op('POST', '/api/agents/:id/labels', '/api/agents/sp-dummy/labels', { body: { set: { spelled: 'yes' } } }),
      op('POST', '/api/agents/upgrade', '/api/agents/upgrade', { body: { targets: { agents: ['sp-dummy'] } } }),
      op('POST', '/api/enrollment-tokens', '/api/enrollment-tokens', { body: { ttl_seconds: 60 } }),
      op('GET', '/api/enrollment-tokens', '/api/enrollment-tokens', { readOnly: true }),
      op('DELETE', '/api/enrollment-tokens/:id', `/api/enrollment-tokens/${spareToken.id}`),
      op('POST', '/api/runs', '/api/runs', { body: { targets: { agents: ['sp-dummy'] }, command: 'echo', args: ['spelled'] } }),
      op('POST', '/api/runs/preview', '/api/runs/preview', { body: { targets: { all: true } } }),
      op('GET', '/api/session', '/api/session', { readOnly: true }),
      op('DELETE', '/api/session', '/api/session'),
      op('GET', '/api/commands/:id/output', `/api/commands/${cmdWeb!.id}/output?stream=stdout`, { readOnly: true }),
      op('GET', '/api/commands/:id/output/raw', `/api/commands/${cmdWeb!.id}/output/raw?stream=stdout`, { readOnly: true }),
      op('GET', '/api/runs', '/api/runs', { readOnly: true }),
      op('GET', '/api/replicas', '/api/replicas', { readOnly: true }),
      op('GET', '/api/runs/:id', `/api/runs/${cmdWeb!.run_id}`, { readOnly: true }),
      op('GET', '/api/commands', '/api/commands', { readOnly: true }),
      op('GET', '/api/commands/:id', `/api/commands/${cmdWeb!.id}`, { readOnly: true }),
      op('POST', '/api/commands/:id/cancel', `/api/commands/${cmdDummy.id}/cancel`),
      op('POST', '/api/commands/wait', '/api/commands/wait', { body: { ids: [cmdWeb!.id], timeout: 0 } }),
      op('GET', '/api/commands/stream', `/api/commands/stream?ids=${cmdWeb!.id}`),
      op('GET', '/api/runs/:id/stream', `/api/runs/${cmdWeb!.run_id}/stream?output=none`),
      op('GET', '/api/operators', '/api/operators', { readOnly: true }),
      op('POST', '/api/operators', '/api/operators', { body: { name: 'spelled', role: 'admin' } }),
      op('DELETE', '/api/operators/:name', '/api/operators/admin'),
      op('POST', '/api/operators/:name/rotate', '/api/operators/admin/rotate'),
      op('GET', '/api/audit', '/api/audit', { readOnly: true }),
      op('GET', '/api/audit/verify', '/api/audit/verify', { readOnly: true }),
      op('POST', '/api/webhooks', '/api/webhooks', { body: { url: 'http://127.0.0.1:9/spelled-again', events: ['run.finished'] } }),
      op('GET', '/api/webhooks', '/api/webhooks', { readOnly: true }),
      op('DELETE', '/api/webhooks/:id', `/api/webhooks/${spareHook.webhook.id}`),
      op('GET', '/api/webhooks/:id/deliveries', `/api/webhooks/${hook.webhook.id}/deliveries`, { readOnly: true }),
      op('GET', '/metrics', '/metrics', { readOnly: true }),
      ag('POST', '/api/agents/heartbeat', '/api/agents/heartbeat', { ...facts, uptime_seconds: 1, running: 0 }),
      ag('GET', '/api/agents/poll', '/api/agents/poll?wait=0'),
      ag('POST', '/api/agents/commands/:id/progress', `/api/agents/commands/${cmdDummy.id}/progress`, { started_at: NOW(), chunks: [{ offset: 0, stream: 'stdout', data: secret }] }),
      ag('POST', '/api/agents/commands/:id/result', `/api/agents/commands/${cmdDummy.id}/result`, result),
      cp('GET', '/api/status', '/api/status', { readOnly: true }),
      cp('POST', '/api/execute', '/api/execute', { body: { command_id: 'cmd_spell', command: 'echo', args: ['spelled'] } }),
      cp('GET', '/api/commands/:id', `/api/commands/${cmdWeb!.id}`, { readOnly: true }),
      cp('POST', '/api/commands/:id/cancel', `/api/commands/${cmdWeb!.id}/cancel`),
      cp('POST', '/api/commands/:id/result', `/api/commands/${cmdWeb!.id}/result`, { body: result }),
    ];
  });
  after(async () => {
    closePool();
    await web?.proc.kill();
    await server?.proc.kill();
  });

  test('the list covers every route the services register, but the public ones (health, enrollment, downloads, installer, console sign-in and files)', () => {
    const registered = new Set<string>();
    const files = [...readdirSync(join(ROOT, 'src', 'server')).map((f) => ['cp', join(ROOT, 'src', 'server', f)]), ['agent', join(ROOT, 'src', 'agent', 'web-app.ts')]];
    for (const [svc, file] of files) {
      if (!file!.endsWith('.ts')) continue;
      for (const m of readFileSync(file!, 'utf8').matchAll(/app\.(get|post|delete|put|patch)\b[^(]*\(\s*'(\/[^']*)'/g)) registered.add(`${svc} ${m[1]!.toUpperCase()} ${m[2]}`);
    }
    const listed = new Set(routes.map((r) => `${r.svc} ${r.method} ${r.route}`));
    const unprotected = ['cp GET /health', 'cp POST /api/agents/register', 'cp GET /downloads/myx-agent', 'cp GET /downloads/SHA256SUMS', 'cp GET /install.sh', 'agent GET /health',
      'cp POST /api/session', 'cp GET /', 'cp GET /assets/:file'];
    assert.deepEqual([...registered].filter((r) => !listed.has(r) && !unprotected.includes(r)).sort(), [], 'routes missing from this test');
    assert.deepEqual([...listed].filter((r) => !registered.has(r)).sort(), [], 'routes listed here that no service registers');
  });

  test('without any credentials: no spelling answers, whether it reaches the route (401/403) or none (404/400)', async (t) => {
    const results = await sendAll(casesFor(routes), () => ({}), false);
    const { statuses, reached } = checkRefused(results, 'no credentials');
    for (const r of routes) assert.ok((reached.get(`${r.svc} ${r.method} ${r.route}`) ?? 0) >= 3, `${r.svc} ${r.route}: too few spellings reached the route`);
    assert.equal(statuses.get(429) ?? 0, 0, 'rate limited: the test would prove nothing');
    // CONNECT, the method authority-form targets are for, and OPTIONS *
    for (const port of [cpPort(), web.port]) {
      for (const head of [`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`, 'OPTIONS * HTTP/1.1\r\nhost: x\r\n\r\n']) {
        const session = new RawSession(port, { from: address() });
        const reply = await session.request(head);
        session.close();
        assert.ok(reply.status !== null && REFUSALS.has(reply.status) && errorProblem(reply) === null, `${head.split('\r')[0]}: ${reply.status} ${reply.text}`);
        t.diagnostic(`${head.split('\r')[0]}: ${reply.status ?? 'closed'}`);
      }
    }
    t.diagnostic(`${results.length} spellings of ${routes.length} routes: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}`);
  });

  test('with another kind of caller\'s token, and on the agent with the token but no client certificate', async (t) => {
    const headers = (r: Route): Record<string, string> => r.caller === 'operator' ? { 'x-agent-token': dummyToken, authorization: `Bearer ${dummyToken}` }
      : r.caller === 'agent' ? { authorization: `Bearer ${operatorToken}`, 'x-agent-token': operatorToken }
      : { 'x-agent-token': web.token(), authorization: `Bearer ${operatorToken}` };
    const results = await sendAll(casesFor(routes), headers, false);
    const { statuses } = checkRefused(results, 'wrong credentials');
    const certRefusals = results.filter((x) => x.r.svc === 'agent' && x.reply.body?.error?.code === 'CLIENT_CERT_REQUIRED').length;
    assert.ok(certRefusals >= routes.filter((r) => r.svc === 'agent').length * 3, `only ${certRefusals} agent requests were refused for want of the certificate`);
    t.diagnostic(`${results.length} requests: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}; ${certRefusals} refused on the agent for want of the client certificate`);
  });

  test('a console session cookie opens no agent route, on the control plane or on the agent, in any spelling', async (t) => {
    const signIn = await send(`${server.url}/api/session`, { json: { token: operatorToken } });
    assert.equal(signIn.status, 201, signIn.text);
    const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
    const csrf = signIn.body.csrf_token as string;
    const results = await sendAll(casesFor(routes.filter((r) => r.caller !== 'operator')), () => ({ cookie, 'x-myx-csrf': csrf }), false);
    const { statuses } = checkRefused(results, 'session cookie on agent routes');
    t.diagnostic(`${results.length} requests: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}`);
    // the same cookie does open the operator routes (so the refusals above are not a dead session)
    assert.equal((await send(`${server.url}/api/agents`, { headers: { cookie } })).status, 200);
  });

  test('on the agent, the client certificate without the token is refused too', async (t) => {
    const results = await sendAll(casesFor(routes.filter((r) => r.svc === 'agent')), () => ({}), true);
    const { statuses } = checkRefused(results, 'certificate, no token');
    assert.ok((statuses.get(401) ?? 0) > 0);
    t.diagnostic(`${results.length} requests: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}`);
  });

  test('the right credentials do reach the read-only routes through encoded spellings (so the refusals above are the routes\' own)', async (t) => {
    const headers = (r: Route): Record<string, string> => (r.caller === 'operator' ? { authorization: `Bearer ${operatorToken}` } : { 'x-agent-token': web.token() });
    const readOnly = routes.filter((r) => r.readOnly);
    const cases = readOnly.flatMap((r) => spellingsOf(r.path, `127.0.0.1:${r.svc === 'cp' ? cpPort() : web.port}`)
      .filter((s) => /^character \d+ encoded|absolute-form https:\/\/127/.test(s.what)).map((s) => ({ r, s })));
    const results = await sendAll(cases, headers, true);
    const ok = results.filter((x) => x.reply.status === 200);
    for (const r of readOnly) assert.ok(ok.some((x) => x.r === r), `${r.svc} ${r.route}: no spelling reached it with credentials`);
    const shown = ok.filter((x) => x.r.svc === 'agent' && x.r.route === '/api/commands/:id' && x.reply.text.includes(secret));
    assert.ok(shown.length > 0, 'the agent shows the command output to the control plane');
    t.diagnostic(`${ok.length} of ${results.length} encoded spellings reached their route with the right credentials`);
  });

  test('both services are still healthy, and nothing spelled ran', async () => {
    for (const port of [cpPort(), web.port]) assert.equal((await send(`https://127.0.0.1:${port}/health`)).status, 200);
    assert.ok(!/"command_id":"cmd_spell/.test(web.proc.output()), 'a spelled execute ran');
    const r = await server.myx(['run', '--agent', 'sp-web', '--json', '--', 'echo', 'after']);
    assert.equal(r.code, 0, r.stderr);
    const failures = [server.proc.output(), web.proc.output()].join('\n').split('\n').filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(failures, []);
  });
});

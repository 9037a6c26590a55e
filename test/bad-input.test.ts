// Issue 5, bad input: every HTTP endpoint of the control plane and of the agent's web service gets
// malformed JSON, wrong types, missing and extra fields, bodies over the limit, deep nesting,
// invalid UTF-8, absurd numbers, ids that are not ids, header abuse, plain HTTP on the HTTPS port
// and slow clients. Each is answered with `{ error: { code, message } }`, a stable code and the
// right status; neither process crashes or logs a failure; commands queued before all this run.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { isFinal } from '../src/protocol/command-status.ts';
import { AGENT_FACTS_BODY_LIMIT, PROGRESS_BODY_LIMIT, RESULT_BODY_LIMIT } from '../src/protocol/limits.ts';
import type { CommandRecord } from '../src/protocol/wire.ts';
import {
  createToken, enrollAgent, eventually, pidRunning, startAgent, startServer, tempDir, type TestAgent, type TestServer,
} from './helpers.ts';
import { bodyUntilAnswered, closePool, errorProblem, rawExchange, send, type RawReply, type Reply, type SendOptions } from './raw-http.ts';

const FAST = ['--heartbeat-interval', '0.5'];
const MiB = 1024 * 1024;
const NOW = () => new Date().toISOString();

type Svc = 'cp' | 'agent';

interface Endpoint {
  name: string;
  svc: Svc;
  path: string;
  /** A valid body (with ids nobody knows, so it changes nothing); absent: the route has no body schema. */
  body?: Record<string, unknown>;
  required?: string[];
  /** @default 1 MiB */
  limit?: number;
}

describe('bad input on every endpoint of the control plane and the agent', () => {
  const dir = tempDir();
  let server: TestServer;
  let web: TestAgent;
  let poll: TestAgent;
  let lateConfig: string;
  let late: TestAgent | undefined;
  let client: OperatorClient;
  let operatorToken: string;
  let dummyToken: string;
  let cert: { cert: string; key: string };
  let queuedForLate: CommandRecord;
  let runningDuring: CommandRecord;
  /** Reports are checked for their command before their body is read: these are real ones, of the dummy agent and of bad-web. */
  let dummyCommand: CommandRecord;
  let webDone: CommandRecord;
  let cases = 0;

  const cpPort = () => Number(new URL(server.url).port);
  const urlOf = (svc: Svc, path: string) => (svc === 'cp' ? server.url : `https://127.0.0.1:${web.port}`) + path;
  /** The credentials each route takes: operator, agent (the dummy agent's token), or the agent service's token and mTLS. */
  const authFor = (svc: Svc, path: string): SendOptions => {
    if (svc === 'agent') return { headers: { 'x-agent-token': web.token() }, ...cert };
    if (path === '/api/agents/register' || path === '/health') return {};
    if (/^\/api\/agents\/(heartbeat|poll|commands\/)/.test(path)) return { headers: { 'x-agent-token': dummyToken } };
    return { headers: { authorization: `Bearer ${operatorToken}` } };
  };
  const call = async (svc: Svc, path: string, o: SendOptions = {}): Promise<Reply> => {
    const auth = authFor(svc, path);
    cases++;
    return send(urlOf(svc, path), { ...auth, ...o, headers: { ...auth.headers, ...o.headers } });
  };
  const rawHead = (svc: Svc, path: string, extra: string[] = [], method = 'POST') => {
    const auth = authFor(svc, path);
    const headers = Object.entries(auth.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    return `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${headers}${extra.map((h) => `${h}\r\n`).join('')}\r\n`;
  };
  const raw = (svc: Svc, parts: Parameters<typeof rawExchange>[1], o: Parameters<typeof rawExchange>[2] = {}): Promise<RawReply> => {
    cases++;
    return rawExchange(svc === 'cp' ? cpPort() : web.port, parts, { ...(svc === 'agent' ? cert : {}), ...o });
  };
  const expectError = (r: { status: number | null; body: any }, status: number, code: string, what: string) => {
    assert.equal(errorProblem(r), null, `${what}: ${errorProblem(r)}`);
    assert.deepEqual([r.status, r.body.error.code], [status, code], `${what}: ${JSON.stringify(r.body)}`);
  };
  const assertAlive = async () => {
    assert.ok(pidRunning(server.proc.child.pid!), 'control plane died');
    assert.ok(pidRunning(web.proc.child.pid!), 'web agent died');
    assert.equal((await send(`${server.url}/health`)).status, 200);
    assert.equal((await send(`https://127.0.0.1:${web.port}/health`)).status, 200);
  };

  const result = () => ({
    status: 'succeeded', exit_code: 0, signal: null, stdout: 'x', stderr: '', stdout_bytes: 1, stderr_bytes: 0,
    stdout_truncated: false, stderr_truncated: false, error: null, started_at: NOW(), finished_at: NOW(),
  });
  const facts = () => ({
    name: 'bad-dummy', hostname: 'h', os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null,
    advertise_address: null, labels: {},
  });
  let endpoints: Endpoint[] = [];

  before(async () => {
    server = await startServer(dir, FAST);
    const [cw, cpl, cl] = await Promise.all([
      enrollAgent(server, dir, 'bad-web'), enrollAgent(server, dir, 'bad-poll', ['--no-web']), enrollAgent(server, dir, 'bad-late', ['--no-web']),
    ]);
    lateConfig = cl;
    [web, poll] = await Promise.all([startAgent(cw), startAgent(cpl, [])]);
    operatorToken = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    cert = { cert: readFileSync(join(server.dataDir, 'tls', 'server.crt'), 'utf8'), key: readFileSync(join(server.dataDir, 'tls', 'server.key'), 'utf8') };
    // an agent that never runs: its token is the one the agent-facing endpoints are called with
    const reg = await send(`${server.url}/api/agents/register`, { json: { enrollment_token: await createToken(server), ...facts() } });
    assert.equal(reg.status, 201, reg.text);
    dummyToken = reg.body.agent_token;
    client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
    // queued before the barrage: one for an agent that is not running yet, one that runs through it
    [queuedForLate] = await client.createCommands({ targets: { agents: ['bad-late'] }, command: 'sh', args: ['-c', 'echo queued before'] }) as [CommandRecord];
    [runningDuring] = await client.createCommands({ targets: { agents: ['bad-poll'] }, command: 'sh', args: ['-c', 'sleep 5; echo survived'] }) as [CommandRecord];
    [dummyCommand] = await client.createCommands({ targets: { agents: ['bad-dummy'] }, command: 'true' }) as [CommandRecord];
    // reported at once, so the dummy agent has nothing queued (its long polls below are held)
    const reported = await send(`${server.url}/api/agents/commands/${dummyCommand.id}/result`, { headers: { 'x-agent-token': dummyToken }, json: result() });
    assert.equal(reported.status, 200, reported.text);
    const ran = await server.myx(['run', '--agent', 'bad-web', '--json', '--', 'true']);
    assert.equal(ran.code, 0, ran.stderr);
    [webDone] = JSON.parse(ran.stdout) as [CommandRecord];

    endpoints = [
      { name: 'register', svc: 'cp', path: '/api/agents/register', required: ['enrollment_token', ...Object.keys(facts())],
        body: { enrollment_token: `myx1.${'a'.repeat(43)}.${'0'.repeat(64)}`, ...facts() }, limit: AGENT_FACTS_BODY_LIMIT },
      { name: 'heartbeat', svc: 'cp', path: '/api/agents/heartbeat', required: [...Object.keys(facts()), 'uptime_seconds', 'running'],
        body: { ...facts(), uptime_seconds: 1, running: 0 }, limit: AGENT_FACTS_BODY_LIMIT },
      { name: 'progress', svc: 'cp', path: `/api/agents/commands/${dummyCommand.id}/progress`, required: ['started_at', 'chunks'], limit: PROGRESS_BODY_LIMIT,
        body: { started_at: NOW(), chunks: [{ offset: 0, stream: 'stdout', data: 'x' }] } },
      { name: 'agent result', svc: 'cp', path: `/api/agents/commands/${dummyCommand.id}/result`, required: Object.keys(result()), limit: RESULT_BODY_LIMIT, body: result() },
      { name: 'enrollment token', svc: 'cp', path: '/api/enrollment-tokens', required: [], body: { ttl_seconds: 60 } },
      { name: 'run', svc: 'cp', path: '/api/runs', required: ['targets', 'command'], body: { targets: { agents: ['no-such-agent'] }, command: 'true', args: ['a'], timeout: 5, ttl: 60 } },
      { name: 'labels', svc: 'cp', path: '/api/agents/no-such-agent/labels', required: [], body: { set: { role: 'x' }, remove: ['old'] } },
      { name: 'wait', svc: 'cp', path: '/api/commands/wait', required: ['ids'], body: { ids: ['cmd_nosuch'], timeout: 0 } },
      { name: 'cancel', svc: 'cp', path: '/api/commands/cmd_nosuch/cancel' },
      { name: 'execute', svc: 'agent', path: '/api/execute', required: ['command_id', 'command'], body: { command_id: 'cmd_bad_exec', command: 'true', args: [], timeout: 5, env: {}, cwd: '/' } },
      { name: 'agent cancel', svc: 'agent', path: '/api/commands/cmd_nosuch/cancel' },
      { name: 'agent-side result', svc: 'agent', path: `/api/commands/${webDone.id}/result`, required: Object.keys(result()), limit: RESULT_BODY_LIMIT, body: result() },
    ];
  });

  after(async () => {
    await client?.close();
    closePool();
    await Promise.all([web?.proc.kill(), poll?.proc.kill(), late?.proc.kill()]);
    await server?.proc.kill();
  });

  /** What a valid request with unknown ids gets (a route without a body schema ignores the body). */
  const ignoredBody = (e: Endpoint): [number, string] => (e.name === 'labels' ? [404, 'AGENT_NOT_FOUND'] : [404, 'COMMAND_NOT_FOUND']);

  test('malformed JSON, wrong types, missing and extra fields: 400 with a stable code on every POST endpoint', async (t) => {
    const before = cases;
    const json = { 'content-type': 'application/json' };
    for (const e of endpoints) {
      expectError(await call(e.svc, e.path, { raw: '{"command": ', headers: json }), 400, 'BODY_NOT_JSON', `${e.name}: truncated JSON`);
      expectError(await call(e.svc, e.path, { raw: "{'single': 'quotes'}", headers: json }), 400, 'BODY_NOT_JSON', `${e.name}: not JSON`);
      expectError(await call(e.svc, e.path, { raw: '', headers: json }), 400, 'BODY_NOT_JSON', `${e.name}: empty body`);
      expectError(await call(e.svc, e.path, { raw: '{"a":1}{"b":2}', headers: json }), 400, 'BODY_NOT_JSON', `${e.name}: two documents`);
      expectError(await call(e.svc, e.path, { raw: '{"__proto__": {"admin": true}}', headers: json }), 400, 'BAD_REQUEST', `${e.name}: __proto__`);
      for (const top of [[], 'text', 42, null, true]) {
        const r = await call(e.svc, e.path, { json: top });
        if (e.body) expectError(r, 400, 'BAD_REQUEST', `${e.name}: body ${JSON.stringify(top)}`);
        else expectError(r, ...ignoredBody(e), `${e.name}: body ${JSON.stringify(top)} on a route that takes none`);
      }
      if (!e.body) continue;
      if (e.required!.length > 0) expectError(await call(e.svc, e.path, { json: {} }), 400, 'BAD_REQUEST', `${e.name}: {}`);
      expectError(await call(e.svc, e.path, { json: { ...e.body, surprise: 1 } }), 400, 'BAD_REQUEST', `${e.name}: extra field`);
      for (const [k, v] of Object.entries(e.body)) {
        const r = await call(e.svc, e.path, { json: { ...e.body, [k]: wrongType(v) } });
        expectError(r, 400, 'BAD_REQUEST', `${e.name}: ${k} of the wrong type`);
        assert.match(r.body.error.message, new RegExp(k), `${e.name}: the message names ${k}: ${r.body.error.message}`);
        if (e.required!.includes(k)) {
          const { [k]: _, ...missing } = e.body;
          expectError(await call(e.svc, e.path, { json: missing }), 400, 'BAD_REQUEST', `${e.name}: ${k} missing`);
        }
      }
    }
    // the wrong media type
    for (const e of endpoints) {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
        expectError(await call(e.svc, e.path, { raw: 'a=1', headers: { 'content-type': type } }), 415, 'UNSUPPORTED_MEDIA_TYPE', `${e.name}: ${type}`);
      }
      expectError(await call(e.svc, e.path, { raw: JSON.stringify(e.body ?? {}) }), 415, 'UNSUPPORTED_MEDIA_TYPE', `${e.name}: no content-type`);
    }
    // unknown endpoints and methods
    for (const [svc, method, path] of [['cp', 'GET', '/api/nope'], ['cp', 'PUT', '/api/runs'], ['cp', 'PATCH', '/api/agents'], ['agent', 'GET', '/api/execute'],
      ['agent', 'DELETE', '/api/status'], ['cp', 'GET', '/API/AGENTS'], ['cp', 'GET', '//api/agents']] as const) {
      expectError(await call(svc, path, { method }), 404, 'NOT_FOUND', `${method} ${path}`);
    }
    t.diagnostic(`${cases - before} malformed, mistyped, incomplete and over-complete requests: all 4xx with the expected code`);
    await assertAlive();
  });

  test('bodies over the limit: 413 PAYLOAD_TOO_LARGE, declared or streamed, and nothing hangs', async (t) => {
    const before = cases;
    for (const e of endpoints) {
      const limit = e.limit ?? MiB;
      // declared too large: answered before the body is read
      const declared = await raw(e.svc, [rawHead(e.svc, e.path, ['content-type: application/json', `content-length: ${limit + 1}`]), '{"a":"'], { firstResponse: true });
      expectError(declared, 413, 'PAYLOAD_TOO_LARGE', `${e.name}: declared ${limit + 1} bytes`);
      // streamed (chunked, no length): cut off once past the limit
      const r = await raw(e.svc, [rawHead(e.svc, e.path, ['content-type: application/json', 'transfer-encoding: chunked']), bodyUntilAnswered(chunkedJson(limit + 256 * 1024))], { firstResponse: true });
      expectError(r, 413, 'PAYLOAD_TOO_LARGE', `${e.name}: streamed ${limit + 256 * 1024} bytes`);
    }
    // the server answers 413 while the client is still sending: it lets the client finish instead of
    // resetting the connection, so the client reads the 413 every time (it once got EPIPE instead)
    const run = endpoints.find((x) => x.name === 'run')!;
    const over = chunkedJson(MiB + 512 * 1024);
    for (let i = 0; i < 100; i++) {
      const r = await raw('cp', [rawHead('cp', run.path, ['content-type: application/json', 'transfer-encoding: chunked']), bodyUntilAnswered(over)], { firstResponse: true });
      expectError(r, 413, 'PAYLOAD_TOO_LARGE', `run: streamed over the limit, try ${i + 1}`);
    }
    // a body of exactly the limit is read (and then judged on what it says)
    const e = endpoints.find((x) => x.name === 'run')!;
    const padded = JSON.stringify(e.body).padEnd(MiB, ' ');
    expectError(await call(e.svc, e.path, { raw: padded, headers: { 'content-type': 'application/json' } }), 404, 'AGENT_NOT_FOUND', 'run: a body of exactly 1 MiB');
    t.diagnostic(`${cases - before} oversized bodies refused with 413`);
    await assertAlive();
  });

  test('deep nesting and invalid UTF-8: 400, no crash', async (t) => {
    const before = cases;
    // as deep as each endpoint's body limit allows (100000 levels where it is 1 MiB)
    const deepArray = (limit: number) => {
      const n = Math.min(100_000, Math.floor((limit - 100) / 2));
      return '['.repeat(n) + ']'.repeat(n);
    };
    const deepObject = (limit: number) => {
      const n = Math.min(30_000, Math.floor((limit - 100) / 6));
      return '{"a":'.repeat(n) + '{"__proto__":{"x":1}}' + '}'.repeat(n);
    };
    const json = { 'content-type': 'application/json' };
    const invalid: [string, Buffer][] = [
      ['a lone 0xFF', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
      ['an overlong "/"', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])],
      ['an encoded surrogate', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])],
      ['a truncated sequence', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}')])],
      ['Latin-1', Buffer.from('{"command":"caf\xe9"}', 'latin1')],
    ];
    for (const e of endpoints) {
      const first = e.required?.[0] ?? Object.keys(e.body ?? { x: 0 })[0]!;
      const limit = e.limit ?? MiB;
      const nested = `{"${first}":${deepArray(limit - first.length - 5)}}`;
      for (const [what, body] of [['a deep array', deepArray(limit)], [`${first} deep`, nested], ['a deep object', deepObject(limit)]] as const) {
        const r = await call(e.svc, e.path, { raw: body, headers: json });
        if (what === 'a deep object') expectError(r, 400, 'BAD_REQUEST', `${e.name}: ${what}`); // __proto__ at the bottom
        else if (e.body) expectError(r, 400, 'BAD_REQUEST', `${e.name}: ${what}`);
        else expectError(r, ...ignoredBody(e), `${e.name}: ${what}`);
      }
      for (const [what, body] of invalid) {
        expectError(await call(e.svc, e.path, { raw: body, headers: json }), 400, 'BODY_NOT_UTF8', `${e.name}: ${what}`);
      }
    }
    // NUL cannot reach a process (spawn would throw): refused where the command is made and where it runs
    const run = endpoints.find((x) => x.name === 'run')!;
    const exec = endpoints.find((x) => x.name === 'execute')!;
    for (const [k, v] of [['command', 'tr\u0000ue'], ['args', ['a\u0000b']], ['env', { A: 'x\u0000y' }], ['cwd', '/tmp\u0000']] as const) {
      expectError(await call('cp', run.path, { json: { ...run.body, targets: { all: true }, [k]: v } }), 400, 'BAD_REQUEST', `run: NUL in ${k}`);
      expectError(await call('agent', exec.path, { json: { ...exec.body, command_id: 'cmd_bad_nul', [k]: v } }), 400, 'BAD_REQUEST', `execute: NUL in ${k}`);
    }
    // escaped lone surrogates are valid JSON: taken as data, no 5xx
    expectError(await call('cp', run.path, { raw: '{"targets":{"agents":["\\ud800"]},"command":"\\udfff"}', headers: json }), 404, 'AGENT_NOT_FOUND', 'run: lone surrogates');
    t.diagnostic(`${cases - before} deeply nested or non-UTF-8 bodies refused`);
    await assertAlive();
  });

  test('absurd numbers (negative, fractional, huge, Infinity, strings): 400', async (t) => {
    const before = cases;
    const byName = (n: string) => endpoints.find((x) => x.name === n)!;
    const numbers: [string, string, string[]][] = [
      ['run', 'timeout', ['-1', '0', '1.5', '604801', '1e400', '-1e400', '9007199254740993', '"30"']],
      ['run', 'ttl', ['-1', '0', '2592001', '1e400', '1e12']],
      ['run', 'max_concurrency', ['"-1"', '"1e3"', '"10%%"', '"1234567"', '5']],
      ['run', 'max_errors', ['"-1"', '"x"', '1']],
      ['enrollment token', 'ttl_seconds', ['-1', '0', '1e400', '1e12', '0.5']],
      ['wait', 'timeout', ['-1', '61', '1e400', '"5"']],
      ['execute', 'timeout', ['-1', '0', '1e400', '604801', '2.5']],
      ['heartbeat', 'web_port', ['0', '-1', '65536', '1e400', '443.5']],
      ['heartbeat', 'uptime_seconds', ['-1', '1e400', '1e300']],
      ['heartbeat', 'running', ['-1', '1e400', '0.5', '1e300']],
      ['agent result', 'exit_code', ['256', '-2', '1e400', '0.5']],
      ['agent result', 'stdout_bytes', ['-1', '1e400', '1e300']],
      ['agent-side result', 'stderr_bytes', ['-1', '1e400']],
      ['progress', 'chunks', ['[{"offset":-1,"stream":"stdout","data":"x"}]', '[{"offset":1e400,"stream":"stdout","data":"x"}]',
        '[{"offset":1.5,"stream":"stdout","data":"x"}]', '[{"offset":0,"stream":"stdin","data":"x"}]']],
    ];
    for (const [name, field, values] of numbers) {
      const e = byName(name);
      for (const v of values) {
        const text = JSON.stringify({ ...e.body, [field]: '@@' }).replace('"@@"', v);
        expectError(await call(e.svc, e.path, { raw: text, headers: { 'content-type': 'application/json' } }), 400, 'BAD_REQUEST', `${name}: ${field} = ${v}`);
      }
    }
    // a TTL past the 7 days an enrollment token may live has its own code
    expectError(await call('cp', '/api/enrollment-tokens', { json: { ttl_seconds: 604801 } }), 400, 'ENROLLMENT_TOKEN_TTL_TOO_LONG', 'enrollment token: ttl_seconds = 604801');
    // a concurrency of 0 passes the pattern but not the handler, which refuses it before anything is created
    for (const v of ['0', '0%']) {
      const r = await call('cp', '/api/runs', { json: { targets: { all: true }, command: 'true', max_concurrency: v } });
      expectError(r, 400, 'BAD_REQUEST', `run: max_concurrency ${v}`);
    }
    // timestamps are ISO 8601
    for (const [name, field] of [['agent result', 'finished_at'], ['progress', 'started_at'], ['agent-side result', 'started_at']] as const) {
      for (const v of ['yesterday', '2024-13-99', '', '1e400']) {
        const e = byName(name);
        expectError(await call(e.svc, e.path, { json: { ...e.body, [field]: v } }), 400, 'BAD_REQUEST', `${name}: ${field} = ${v}`);
      }
    }
    // query strings
    const queries: [Svc, string][] = [
      ['cp', '/api/agents/poll?wait=-1'], ['cp', '/api/agents/poll?wait=1e9'], ['cp', '/api/agents/poll?wait=99999'], ['cp', '/api/agents/poll?wait=NaN'],
      ['cp', '/api/agents/poll?wait='], ['cp', '/api/agents/poll?wait=1&wait=2'], ['cp', '/api/agents/poll?other=1'],
      ['cp', '/api/commands?limit=-1'], ['cp', '/api/commands?limit=1e9'], ['cp', '/api/commands?limit=99999'], ['cp', '/api/commands?status=bogus'],
      ['cp', '/api/runs?limit=abc'], ['cp', '/api/runs?limit=1&limit=2'], ['cp', '/api/runs?x=1'],
    ];
    for (const [svc, path] of queries) expectError(await call(svc, path), 400, 'BAD_REQUEST', path);
    t.diagnostic(`${cases - before} absurd numbers, timestamps and query values refused`);
    await assertAlive();
  });

  test('ids that are not ids and path tricks: 400 (or 404 for paths no route has)', async (t) => {
    const before = cases;
    const idRoutes: { svc: Svc; method: string; path: (id: string) => string; body?: Record<string, unknown>; names?: boolean }[] = [
      { svc: 'cp', method: 'GET', path: (id) => `/api/commands/${id}` },
      { svc: 'cp', method: 'POST', path: (id) => `/api/commands/${id}/cancel` },
      { svc: 'cp', method: 'GET', path: (id) => `/api/runs/${id}` },
      { svc: 'cp', method: 'DELETE', path: (id) => `/api/agents/${id}`, names: true },
      { svc: 'cp', method: 'POST', path: (id) => `/api/agents/${id}/labels`, body: {}, names: true },
      { svc: 'cp', method: 'POST', path: (id) => `/api/agents/commands/${id}/progress`, body: endpoints.find((e) => e.name === 'progress')!.body },
      { svc: 'cp', method: 'POST', path: (id) => `/api/agents/commands/${id}/result`, body: result() },
      { svc: 'agent', method: 'GET', path: (id) => `/api/commands/${id}` },
      { svc: 'agent', method: 'POST', path: (id) => `/api/commands/${id}/cancel` },
      { svc: 'agent', method: 'POST', path: (id) => `/api/commands/${id}/result`, body: result() },
    ];
    const badIds = ['..%2F..%2Fetc%2Fpasswd', '%2e%2e', '.', 'a%00b', 'a%20b', '%C3%A9t%C3%A9', "1'%20OR%20'1'%3D'1", 'a%2Fb', '%FF', '%', 'x'.repeat(150),
      '%3Cscript%3E', 'cmd_x%0d%0aSet-Cookie:%20a=b', '-rf', '_'];
    for (const route of idRoutes) {
      for (const id of badIds) {
        const r = await call(route.svc, route.path(id), { method: route.method, ...(route.body ? { json: route.body } : {}) });
        // `-rf` and `_` are well-formed command and run ids (that nobody has), not agent names
        if (!route.names && (id === '-rf' || id === '_')) assert.ok(r.status === 404 && errorProblem(r) === null, `${route.path(id)}: ${r.text}`);
        else expectError(r, 400, 'BAD_REQUEST', `${route.method} ${route.path(id)}`);
      }
      // 65 characters: too long for an id; an agent name can be looked up (and is not there)
      const long = await call(route.svc, route.path('x'.repeat(65)), { method: route.method, ...(route.body ? { json: route.body } : {}) });
      if (route.names) expectError(long, 404, 'AGENT_NOT_FOUND', `${route.path('x'.repeat(65))}`);
      else expectError(long, 400, 'BAD_REQUEST', `${route.path('x'.repeat(65))}`);
    }
    // paths that climb out of a route match no route
    for (const [svc, path] of [['cp', '/api/commands/cmd_x/../../agents'], ['cp', '/api/commands/cmd_x/cancel/../../../agents'], ['agent', '/api/commands/x/../../status'],
      ['cp', '/api/commands/%2e%2e/%2e%2e/agents'], ['cp', '/api/agents/x/labels/extra']] as const) {
      expectError(await call(svc, path), 404, 'NOT_FOUND', path);
    }
    // ids inside bodies and query strings
    const exec = endpoints.find((e) => e.name === 'execute')!;
    for (const id of ['../../etc', 'a b', '', 'x'.repeat(65), 'é', 'a/b', 'a\nb']) {
      expectError(await call('agent', exec.path, { json: { ...exec.body, command_id: id } }), 400, 'BAD_REQUEST', `execute: command_id ${JSON.stringify(id)}`);
      expectError(await call('cp', '/api/commands/wait', { json: { ids: [id] } }), 400, 'BAD_REQUEST', `wait: id ${JSON.stringify(id)}`);
    }
    for (const ids of ['a;b', ',', 'a,,b', '..%2Fx', '%FF', '', 'a%20b']) {
      expectError(await call('cp', `/api/commands/stream?ids=${ids}`), 400, 'BAD_REQUEST', `stream ids=${ids}`);
    }
    expectError(await call('cp', '/api/commands/stream?ids=cmd_nosuch'), 404, 'COMMAND_NOT_FOUND', 'stream of an unknown id');
    // an advertised address becomes the host of push URLs: a host name or an IP address, nothing more
    const hb = endpoints.find((e) => e.name === 'heartbeat')!;
    for (const address of ['127.0.0.1/evil?x=', 'user@host', 'a b', 'host#frag', 'host\\evil', '', 'x'.repeat(256)]) {
      expectError(await call('cp', hb.path, { json: { ...hb.body, advertise_address: address } }), 400, 'BAD_REQUEST', `heartbeat: advertise_address ${address}`);
    }
    expectError(await call('cp', '/api/commands?agent=..%2F..'), 404, 'AGENT_NOT_FOUND', 'commands of agent ../..');
    t.diagnostic(`${cases - before} bad ids and path tricks refused`);
    await assertAlive();
  });

  test('header abuse: oversized, malformed, duplicated, missing and unexpected headers', async (t) => {
    const before = cases;
    const health = 'GET /health HTTP/1.1\r\nhost: x\r\n';
    for (const svc of ['cp', 'agent'] as const) {
      expectError(await call(svc, '/health', { headers: { 'x-big': 'a'.repeat(20_000) } }), 431, 'HEADERS_TOO_LARGE', `${svc}: a 20 kB header`);
      expectError(await raw(svc, [`GET /health?${'a'.repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`]), 431, 'HEADERS_TOO_LARGE', `${svc}: a 20 kB URL`);
      expectError(await raw(svc, [`${health}x-a: a\x01b\r\n\r\n`]), 400, 'BAD_REQUEST', `${svc}: a control character in a header`);
      expectError(await raw(svc, [`${health}bad header\r\n\r\n`]), 400, 'BAD_REQUEST', `${svc}: a header line without a colon`);
      expectError(await raw(svc, ['FOO /health HTTP/1.1\r\nhost: x\r\n\r\n']), 400, 'BAD_REQUEST', `${svc}: an unknown method`);
      expectError(await raw(svc, ['GET /he alth HTTP/1.1\r\nhost: x\r\n\r\n']), 400, 'BAD_REQUEST', `${svc}: a space in the path`);
      expectError(await raw(svc, ['GET /health HTTP/9.9\r\nhost: x\r\n\r\n']), 400, 'BAD_REQUEST', `${svc}: HTTP/9.9`);
      expectError(await raw(svc, ['\x16\x03\x01garbage\r\n\r\n']), 400, 'BAD_REQUEST', `${svc}: TLS inside TLS`);
      expectError(await raw(svc, ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n']), 400, 'BAD_REQUEST', `${svc}: an HTTP/2 preface`);
      expectError(await call(svc, '/health', { headers: { expect: 'bogus' } }), 417, 'EXPECTATION_FAILED', `${svc}: Expect: bogus`);
      const post = endpoints.find((e) => e.svc === svc && e.body)!;
      const body = JSON.stringify(post.body);
      const len = Buffer.byteLength(body);
      for (const [what, headers] of [
        ['two different content-lengths', ['content-type: application/json', `content-length: ${len}`, `content-length: ${len + 1}`]],
        ['content-length and chunked', ['content-type: application/json', `content-length: ${len}`, 'transfer-encoding: chunked']],
        ['a negative content-length', ['content-type: application/json', 'content-length: -1']],
        ['a content-length that is not a number', ['content-type: application/json', 'content-length: abc']],
      ] as const) {
        expectError(await raw(svc, [rawHead(svc, post.path, [...headers]), body]), 400, 'BAD_REQUEST', `${svc} ${post.name}: ${what}`);
      }
      expectError(await raw(svc, [rawHead(svc, post.path, ['content-type: application/json', 'transfer-encoding: chunked']), 'zz\r\nbad\r\n0\r\n\r\n']),
        400, 'BAD_REQUEST', `${svc} ${post.name}: bad chunk size`);
      // fewer bytes than declared, then silence: the request times out rather than waiting forever (see the slow-client test)
      // no Host header, HTTP/1.0, an absolute URL and 500 headers are all fine
      for (const req of ['GET /health HTTP/1.1\r\nconnection: close\r\n\r\n', 'GET /health HTTP/1.0\r\n\r\n', 'GET https://elsewhere.example/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n']) {
        const r = await raw(svc, [req]);
        assert.equal(r.status, 200, `${svc}: ${JSON.stringify(req)} -> ${r.text.slice(0, 200)}`);
      }
      const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x-h${i}`, '1']));
      assert.equal((await call(svc, '/health', { headers: many })).status, 200, `${svc}: 500 headers`);
    }
    // credentials that are wrong in odd ways (a few, each from its own address: failures are rate limited per address)
    const op = await call('cp', '/api/agents', { headers: { authorization: `Bearer ${'x'.repeat(8000)}` }, from: '127.0.0.21' });
    expectError(op, 401, 'OPERATOR_TOKEN_INVALID', 'an 8 kB operator token');
    expectError(await call('cp', '/api/agents', { headers: { authorization: `Basic ${operatorToken}` }, from: '127.0.0.22' }), 401, 'OPERATOR_TOKEN_MISSING', 'Basic instead of Bearer');
    const twice = await raw('cp', [`GET /api/agents/poll?wait=0 HTTP/1.1\r\nhost: x\r\nx-agent-token: ${dummyToken}\r\nx-agent-token: ${dummyToken}\r\nconnection: close\r\n\r\n`], { from: '127.0.0.23' });
    expectError(twice, 401, 'AGENT_TOKEN_INVALID', 'X-Agent-Token twice');
    const latin1 = await raw('agent', [Buffer.from(`GET /api/status HTTP/1.1\r\nhost: x\r\nx-agent-token: caf\xe9\xff\r\nconnection: close\r\n\r\n`, 'latin1')], { from: '127.0.0.24' });
    expectError(latin1, 401, 'AGENT_TOKEN_INVALID', 'a token with bytes above 0x7f');
    expectError(await call('cp', '/api/agents/register', { json: endpoints[0]!.body, from: '127.0.0.25' }), 401, 'ENROLLMENT_TOKEN_UNKNOWN', 'register with a made-up token');
    t.diagnostic(`${cases - before} abusive header cases answered`);
    await assertAlive();
  });

  test('plain HTTP sent to the HTTPS port gets a JSON 400 that says to use https://', async (t) => {
    const before = cases;
    for (const svc of ['cp', 'agent'] as const) {
      for (const req of ['GET /health HTTP/1.1\r\nhost: x\r\n\r\n', `POST /api/runs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`, 'hello\r\n']) {
        const r = await raw(svc, [req], { tls: false, timeoutMs: 10_000 });
        expectError(r, 400, 'PLAIN_HTTP', `${svc}: ${JSON.stringify(req.slice(0, 20))}`);
        assert.match(r.body.error.message, /https:\/\//);
        assert.ok(r.closedByServer, 'the server closes the connection');
      }
    }
    t.diagnostic(`${cases - before} plain HTTP requests answered and closed`);
    await assertAlive();
  });

  test('slow clients (slowloris) are cut off within bounds while long polls, event streams and other clients go on', async (t) => {
    const started = Date.now();
    const held: Promise<RawReply & { kind: string }>[] = [];
    const hold = (svc: Svc, kind: string, parts: Parameters<typeof rawExchange>[1], tls = true) =>
      held.push(raw(svc, parts, { tls, timeoutMs: 60_000 }).then((r) => ({ ...r, kind: `${svc} ${kind}` })));
    const dribble = (text: string, everyMs: number) => async (s: import('node:net').Socket) => {
      for (const ch of text) {
        if (s.destroyed) return;
        s.write(ch);
        await sleep(everyMs);
      }
    };
    for (const svc of ['cp', 'agent'] as const) {
      for (let i = 0; i < 10; i++) {
        hold(svc, 'TCP, nothing sent', [], false);
        hold(svc, 'TCP, half a TLS record', [Buffer.from([0x16, 0x03])], false);
        hold(svc, 'TLS, nothing sent', []);
        hold(svc, 'TLS, headers a byte every 300 ms', [dribble(`GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ${'a'.repeat(200)}\r\n\r\n`, 300)]);
        hold(svc, 'TLS, headers sent, never finished', [`GET /health HTTP/1.1\r\nhost: x\r\n`]);
      }
    }
    // meanwhile: a long poll longer than the header timeout, an event stream, and ordinary traffic all work
    const pollStarted = Date.now();
    const longPoll = send(`${server.url}/api/agents/poll?wait=14`, { headers: { 'x-agent-token': dummyToken }, timeoutMs: 40_000 });
    const [streamed] = await client.createCommands({ targets: { agents: ['bad-web'] }, command: 'sh', args: ['-c', 'echo one; sleep 13; echo two'] }) as [CommandRecord];
    const events: string[] = [];
    const stream = (async () => {
      for await (const ev of client.events([streamed.id])) events.push(ev.event === 'output' ? JSON.parse(ev.data).data : ev.event);
    })();
    for (let i = 0; i < 5; i++) {
      await sleep(1000);
      assert.equal((await send(`${server.url}/health`)).status, 200);
      assert.equal((await send(`https://127.0.0.1:${web.port}/health`)).status, 200);
      assert.equal((await send(`${server.url}/api/agents`, authFor('cp', '/api/agents'))).status, 200);
    }
    const r = await server.myx(['run', '--agent', 'bad-web', '--agent', 'bad-poll', '--json', '--', 'echo', 'served meanwhile'], 30_000);
    assert.equal(r.code, 0, r.stderr);
    const results = await Promise.all(held);
    const slowest = Math.max(...results.map((x) => x.ms));
    for (const x of results) {
      assert.ok(x.closedByServer, `${x.kind}: still open after ${x.ms} ms`);
      assert.ok(x.ms < 30_000, `${x.kind}: held ${x.ms} ms`);
      if (x.kind.includes('TLS,') && x.status !== null) expectError(x, 408, 'REQUEST_TIMEOUT', x.kind);
    }
    const timedOut = results.filter((x) => x.status === 408).length;
    assert.ok(timedOut >= 40, `408 answers: ${timedOut} of 60 TLS connections`);
    const polled = await longPoll;
    assert.equal(polled.status, 200, polled.text);
    const pollMs = Date.now() - pollStarted;
    assert.ok(pollMs >= 13_000, `the long poll was answered after ${pollMs} ms`);
    await stream;
    assert.deepEqual(events, ['one\n', 'two\n', 'final', 'end']);
    t.diagnostic(`${results.length} slow connections, all closed by the servers; slowest after ${slowest} ms; ${timedOut} TLS ones answered 408; `
      + `a 14 s long poll and a 13 s event stream completed meanwhile; total ${Date.now() - started} ms`);
    await assertAlive();
  });

  test('after the barrage: both processes alive, nothing failed in their logs, queued commands run to completion', async (t) => {
    await assertAlive();
    const during = await eventually(async () => {
      const c = await client.command(runningDuring.id);
      return isFinal(c.status) ? c : undefined;
    }, 30_000, 'the command that ran through the barrage');
    assert.deepEqual([during.status, during.stdout], ['succeeded', 'survived\n']);
    assert.equal((await client.command(queuedForLate.id)).status, 'queued');
    late = await startAgent(lateConfig, []);
    const done = await client.wait([queuedForLate.id], 30);
    assert.deepEqual([done.commands[0]!.status, done.commands[0]!.stdout], ['succeeded', 'queued before\n']);
    for (const [name, p] of [['control plane', server.proc], ['web agent', web.proc], ['poll agent', poll.proc]] as const) {
      const failures = p.output().split('\n').filter((l) => /"level":(50|60)/.test(l));
      assert.deepEqual(failures, [], `${name} logged failures`);
    }
    t.diagnostic(`${cases} bad requests and connections in all; no 5xx, no crash, nothing failed in the logs, the queued commands ran`);
  });
});

/** A JSON string of `bytes` characters in chunked encoding. */
function chunkedJson(bytes: number): Buffer {
  const piece = `${(64 * 1024).toString(16)}\r\n${'a'.repeat(64 * 1024)}\r\n`;
  return Buffer.from(`6\r\n{"x":"\r\n${piece.repeat(Math.ceil(bytes / (64 * 1024)))}2\r\n"}\r\n0\r\n\r\n`);
}

function wrongType(v: unknown): unknown {
  if (typeof v === 'string') return 42;
  if (typeof v === 'number') return '1';
  if (typeof v === 'boolean') return 'true';
  if (v === null) return { not: 'null' };
  if (Array.isArray(v)) return { not: 'an array' };
  return ['not', 'an', 'object'];
}

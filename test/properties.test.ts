// Issue 5, property-based: fast-check generates request bodies for every POST endpoint of the
// control plane and of the agent (any JSON value, objects with random keys, raw bytes, and valid
// bodies with one part mutated), path segments for every `:id` route and query strings for the
// routes that take one. For every input: no 5xx, a well-formed error on refusal, and on refusal
// the state of both processes (their SQLite files, read directly) is exactly what it was before.
// Fixed seed, bounded runs; the number of generated inputs is reported.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { createToken, enrollAgent, eventually, pidRunning, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';
import { closePool, errorProblem, send, type Reply, type SendOptions } from './raw-http.ts';

const SEED = 20_260_529;
const BODY_RUNS = 150;
const PATH_RUNS = 150;

type Svc = 'cp' | 'agent';

describe('generated requests: no 5xx, no crash, nothing changes when a request is refused', () => {
  const dir = tempDir();
  let server: TestServer;
  let web: TestAgent;
  let client: OperatorClient;
  let operatorToken: string;
  let dummyToken: string;
  /** The token agent-facing routes are called with: the dummy's, then (once it is removed) the web agent's. */
  let agentToken: () => string;
  let cert: { cert: string; key: string };
  let serverDb: DatabaseSync;
  let journalDb: DatabaseSync;
  /** A command of the dummy agent (which never runs), and one the web agent ran. */
  let dummyCommand: string;
  let webCommand: string;
  const totals = { inputs: 0, accepted: 0, refused: 0 };
  const perEndpoint: string[] = [];

  const NOW = new Date().toISOString();
  const facts = { name: 'prop-dummy', hostname: 'h', os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null, labels: {} };
  const result = {
    status: 'succeeded', exit_code: 0, signal: null, stdout: 'x', stderr: '', stdout_bytes: 1, stderr_bytes: 0,
    stdout_truncated: false, stderr_truncated: false, error: null, started_at: NOW, finished_at: NOW,
  };

  const urlOf = (svc: Svc, path: string) => (svc === 'cp' ? server.url : `https://127.0.0.1:${web.port}`) + path;
  const authFor = (svc: Svc, path: string): SendOptions => {
    if (svc === 'agent') return { headers: { 'x-agent-token': web.token() }, ...cert };
    if (path.startsWith('/api/agents/register')) return {};
    if (/^\/api\/agents\/(heartbeat|poll|commands\/)/.test(path)) return { headers: { 'x-agent-token': agentToken() } };
    return { headers: { authorization: `Bearer ${operatorToken}` } };
  };

  /** Everything both processes keep, less what changes on its own (heartbeat times). */
  const state = () => {
    const h = createHash('sha256');
    for (const table of ['operator_tokens', 'enrollment_tokens', 'agents', 'runs', 'commands', 'output_chunks']) {
      for (const row of serverDb.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all()) {
        const { last_heartbeat_at: _, ...rest } = row as Record<string, unknown>;
        h.update(JSON.stringify([table, rest]));
      }
    }
    for (const row of journalDb.prepare('SELECT * FROM commands ORDER BY rowid').all()) h.update(JSON.stringify(row));
    return h.digest('hex');
  };
  /** After an accepted request (which may start work), waits until nothing has changed for a while. */
  const settle = async () => {
    let last = state();
    let stableSince = Date.now();
    const end = Date.now() + 20_000;
    while (Date.now() - stableSince < 700 && Date.now() < end) {
      await sleep(100);
      const now = state();
      if (now !== last) [last, stableSince] = [now, Date.now()];
    }
  };
  const counts = async () => {
    const [agents, runs, commands] = await Promise.all([client.agents(), client.runs(1000), client.commands({ limit: 1000 })]);
    return { agents: agents.length, runs: runs.length, commands: commands.length };
  };

  /** Sends one generated request and checks what the property says about it. */
  const check = async (
    name: string, svc: Svc, method: string, path: string, body: { json?: unknown; raw?: string | Buffer } | undefined,
    stats: { accepted: number; refused: number }, startsWork = false,
  ) => {
    const auth = authFor(svc, path);
    const before = state();
    let r: Reply;
    try {
      r = await send(urlOf(svc, path), {
        ...auth, method, ...(body?.json !== undefined ? { json: body.json } : {}),
        ...(body?.raw !== undefined ? { raw: body.raw, headers: { ...auth.headers, 'content-type': 'application/json' } } : {}),
      });
    } catch (err) {
      throw new Error(`${name}: ${method} ${path} got no answer: ${(err as Error).message}`);
    }
    totals.inputs++;
    assert.ok(r.status < 500, `${name}: ${method} ${path} -> ${r.status} ${r.text.slice(0, 300)}`);
    if (r.status >= 400) {
      const problem = errorProblem(r);
      assert.equal(problem, null, `${name}: ${method} ${path}: ${problem}`);
      stats.refused++;
      totals.refused++;
      assert.equal(state(), before, `${name}: a refused request (${r.status} ${r.body.error.code}) changed the state`);
    } else {
      stats.accepted++;
      totals.accepted++;
      if (startsWork) await settle();
    }
  };

  /** Runs one property with the fixed seed and reports how many inputs it generated. */
  const run = async <T>(name: string, arb: fc.Arbitrary<T>, send1: (v: T, stats: { accepted: number; refused: number }) => Promise<void>, numRuns: number) => {
    const stats = { accepted: 0, refused: 0 };
    const before = await counts();
    const t0 = Date.now();
    await fc.assert(fc.asyncProperty(arb, (v) => send1(v, stats)), { seed: SEED, numRuns, endOnFailure: true });
    if (stats.accepted === 0) assert.deepEqual(await counts(), before, `${name}: the operator API counts changed`);
    assert.ok(pidRunning(server.proc.child.pid!) && pidRunning(web.proc.child.pid!), `a process died during ${name}`);
    assert.equal((await send(`${server.url}/health`)).status, 200);
    assert.equal((await send(`https://127.0.0.1:${web.port}/health`)).status, 200);
    perEndpoint.push(`${name}: ${stats.accepted + stats.refused} (${stats.refused} refused, ${stats.accepted} accepted) in ${Date.now() - t0} ms`);
  };

  before(async () => {
    server = await startServer(dir, ['--heartbeat-interval', '0.5']);
    const configPath = await enrollAgent(server, dir, 'prop-web');
    web = await startAgent(configPath);
    operatorToken = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    cert = { cert: readFileSync(join(server.dataDir, 'tls', 'server.crt'), 'utf8'), key: readFileSync(join(server.dataDir, 'tls', 'server.key'), 'utf8') };
    const reg = await send(`${server.url}/api/agents/register`, { json: { enrollment_token: await createToken(server), ...facts } });
    assert.equal(reg.status, 201, reg.text);
    dummyToken = reg.body.agent_token;
    agentToken = () => dummyToken;
    client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
    [{ id: dummyCommand }] = await client.createCommands({ targets: { agents: ['prop-dummy'] }, command: 'true' }) as [CommandRecord];
    const [w] = await client.createCommands({ targets: { agents: ['prop-web'] }, command: 'true' }) as [CommandRecord];
    webCommand = w.id;
    await eventually(async () => (await client.command(webCommand)).status === 'succeeded', 20_000, 'the web agent ran its command');
    serverDb = new DatabaseSync(join(server.dataDir, 'myx.db'), { readOnly: true });
    journalDb = new DatabaseSync(join(dirname(configPath), 'state', 'journal.db'), { readOnly: true });
    await settle();
  });

  after(async () => {
    serverDb?.close();
    journalDb?.close();
    await client?.close();
    closePool();
    await web?.proc.kill();
    await server?.proc.kill();
  });

  // Bodies: one valid body per endpoint (with ids that make a valid request change nothing, or
  // little), mutated or replaced by the generators below.
  // In this order: the dummy's command is started and finished before its heartbeats (which would
  // lease a queued one), and the dummy is removed before runs are created (a run for it would wait
  // in the queue, then expire on its own in the middle of another property).
  const endpoints = () => [
    { name: 'POST /api/agents/register', svc: 'cp' as Svc, path: '/api/agents/register', body: { enrollment_token: `myx1.${'a'.repeat(43)}.${'0'.repeat(64)}`, ...facts } },
    { name: 'POST /api/agents/commands/:id/progress', svc: 'cp' as Svc, path: `/api/agents/commands/${dummyCommand}/progress`,
      body: { started_at: NOW, chunks: [{ offset: 0, stream: 'stdout', data: 'hello' }, { offset: 5, stream: 'stderr', data: '!' }] } },
    { name: 'POST /api/agents/commands/:id/result', svc: 'cp' as Svc, path: `/api/agents/commands/${dummyCommand}/result`, body: result },
    { name: 'POST /api/agents/heartbeat', svc: 'cp' as Svc, path: '/api/agents/heartbeat', body: { ...facts, uptime_seconds: 5, running: 0 } },
    { name: 'POST /api/enrollment-tokens', svc: 'cp' as Svc, path: '/api/enrollment-tokens', body: { ttl_seconds: 60 } },
    { name: 'POST /api/agents/:id/labels', svc: 'cp' as Svc, path: '/api/agents/prop-dummy/labels', body: { set: { role: 'x' }, remove: ['old'] } },
    { name: 'POST /api/commands/wait', svc: 'cp' as Svc, path: '/api/commands/wait', body: { ids: [dummyCommand], timeout: 0 } },
    { name: 'POST /api/commands/:id/cancel', svc: 'cp' as Svc, path: `/api/commands/${dummyCommand}/cancel`, body: {} },
    { name: 'POST /api/runs', svc: 'cp' as Svc, path: '/api/runs', startsWork: true,
      body: { targets: { agents: ['no-such-agent'] }, command: 'true', args: ['a'], timeout: 5, ttl: 60, env: { A: 'b' }, cwd: '/', max_concurrency: '1', max_errors: '1' } },
    { name: 'POST /api/execute (agent)', svc: 'agent' as Svc, path: '/api/execute', startsWork: true,
      body: { command_id: 'cmd_prop_exec', command: 'true', args: ['a'], timeout: 5, env: { A: 'b' }, cwd: '/' } },
    { name: 'POST /api/commands/:id/cancel (agent)', svc: 'agent' as Svc, path: `/api/commands/${webCommand}/cancel`, body: {} },
    { name: 'POST /api/commands/:id/result (agent)', svc: 'agent' as Svc, path: `/api/commands/${webCommand}/result`, body: result },
  ];

  test('generated bodies for every POST endpoint', async (t) => {
    const t0 = Date.now();
    for (const e of endpoints()) {
      if (e.name === 'POST /api/runs') {
        assert.ok(await client.removeAgent('prop-dummy'));
        agentToken = () => web.token();
      }
      await run(e.name, bodies(e.body), (b, stats) => check(e.name, e.svc, 'POST', e.path, b, stats, e.startsWork), BODY_RUNS);
      if (e.name.endsWith('/progress')) {
        // the dummy's command ends here, so that nothing it holds can move on its own later
        const r = await send(urlOf('cp', `/api/agents/commands/${dummyCommand}/result`), { ...authFor('cp', '/api/agents/commands/'), json: result });
        assert.equal(r.status, 200, r.text);
      }
    }
    t.diagnostic(perEndpoint.splice(0).join('\n'));
    t.diagnostic(`bodies: ${totals.inputs} generated requests in ${Date.now() - t0} ms`);
  });

  test('generated ids and path segments for every :id route', async (t) => {
    const t0 = Date.now();
    const before = totals.inputs;
    const routes: [Svc, string, (id: string) => string, unknown][] = [
      ['cp', 'GET', (id) => `/api/commands/${id}`, undefined],
      ['cp', 'POST', (id) => `/api/commands/${id}/cancel`, undefined],
      ['cp', 'GET', (id) => `/api/runs/${id}`, undefined],
      ['cp', 'DELETE', (id) => `/api/agents/${id}`, undefined],
      ['cp', 'POST', (id) => `/api/agents/${id}/labels`, { set: { a: 'b' } }],
      ['cp', 'POST', (id) => `/api/agents/commands/${id}/progress`, { started_at: NOW, chunks: [] }],
      ['cp', 'POST', (id) => `/api/agents/commands/${id}/result`, result],
      ['agent', 'GET', (id) => `/api/commands/${id}`, undefined],
      ['agent', 'POST', (id) => `/api/commands/${id}/cancel`, undefined],
      ['agent', 'POST', (id) => `/api/commands/${id}/result`, result],
    ];
    for (const [svc, method, path, body] of routes) {
      const name = `${method} ${path(':id')}${svc === 'agent' ? ' (agent)' : ''}`;
      await run(name, segments(), (seg, stats) => check(name, svc, method, path(seg), body === undefined ? undefined : { json: body }, stats), PATH_RUNS);
    }
    t.diagnostic(perEndpoint.splice(0).join('\n'));
    t.diagnostic(`ids: ${totals.inputs - before} generated requests in ${Date.now() - t0} ms`);
  });

  test('generated query strings for the routes that take one', async (t) => {
    const t0 = Date.now();
    const before = totals.inputs;
    const validWait = /^[0-9]{1,2}(\.[0-9]{1,3})?$/;
    const routes: [string, fc.Arbitrary<Record<string, string | string[]>>][] = [
      // a valid wait is made 0, so that a long poll answers at once
      ['/api/agents/poll', queries(['wait']).map((q) => ({ ...q, wait: Array.isArray(q.wait) || (typeof q.wait === 'string' && !validWait.test(q.wait)) ? q.wait : '0' }))],
      ['/api/commands', queries(['agent', 'status', 'limit'])],
      ['/api/runs', queries(['limit'])],
      ['/api/commands/stream', queries(['ids'])],
    ];
    for (const [path, arb] of routes) {
      const name = `GET ${path}?…`;
      await run(name, arb, (q, stats) => check(name, 'cp', 'GET', `${path}?${new URLSearchParams(Object.entries(q).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x): [string, string] => [k, x])))}`, undefined, stats), PATH_RUNS);
    }
    t.diagnostic(perEndpoint.splice(0).join('\n'));
    t.diagnostic(`queries: ${totals.inputs - before} generated requests in ${Date.now() - t0} ms`);
  });

  test('in all', async (t) => {
    assert.ok(totals.inputs >= 12 * BODY_RUNS + 14 * PATH_RUNS);
    // commands sent straight to the agent are unknown to the control plane, which refuses their results: expected
    const lines = server.proc.output().split('\n').concat(web.proc.output().split('\n'))
      .filter((l) => /"level":(50|60)/.test(l) && !/"code":"COMMAND_NOT_FOUND","msg":"control plane refused the result/.test(l));
    assert.deepEqual(lines, [], 'failures in the logs');
    t.diagnostic(`${totals.inputs} generated requests (seed ${SEED}): ${totals.refused} refused with the state unchanged, ${totals.accepted} accepted; no 5xx, no crash`);
  });
});

// ---- generators ----

const nasty = fc.constantFrom<unknown>(
  -1, 0, 1.5, -0.5, 1e308, -1e308, 2 ** 53 + 1, 65536, 604801, '', ' ', '0', '-1', 'x'.repeat(5000), '\u0000', 'a\u0000b', '../../etc/passwd',
  '%00', '\ud800', 'é', '<script>', 'null', [], [[]], {}, { a: {} }, null, true, false, ['\u0000'], ['x', 1], { '': '' }, { 'a b': 'c' },
);
const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' });

/** A plain program name (`sh`, `reboot`): a mutated `command` never becomes one, so nothing generated runs a real program. */
const PLAIN_NAME = /^[\w.+-]*$/;

/** Every path to a value inside `v` (not the root). */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return v.flatMap((x, i) => [[...prefix, i], ...paths(x, [...prefix, i])]);
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [[...prefix, k], ...paths(x, [...prefix, k])]);
  return [];
}

function setAt(root: unknown, path: (string | number)[], value: unknown, remove = false): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (remove) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else {
    node[last] = path.length === 1 && last === 'command' && typeof value === 'string' && PLAIN_NAME.test(value) ? `${value} \u0001` : value;
  }
  return copy;
}

/** Bodies for one endpoint: anything, random objects, raw bytes, and the valid body with one thing changed. */
function bodies(valid: Record<string, unknown>): fc.Arbitrary<{ json?: unknown; raw?: string | Buffer }> {
  const all = paths(valid);
  const objects = [[], ...all].filter((p) => {
    const node = p.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], valid);
    return node !== null && typeof node === 'object' && !Array.isArray(node);
  });
  const json = (v: unknown) => ({ json: v });
  const some: fc.Arbitrary<{ json?: unknown; raw?: string | Buffer }>[] = [
    anyJson.map(json),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 12 }), anyJson, { maxKeys: 6 }).map(json),
    fc.uint8Array({ maxLength: 300 }).map((b) => ({ raw: Buffer.from(b) })),
    fc.string({ unit: 'binary', maxLength: 300 }).map((s) => ({ raw: s })),
  ];
  if (all.length > 0) {
    // one value replaced (by anything, or by something nasty), one removed
    some.push(fc.tuple(fc.constantFrom(...all), fc.oneof(anyJson, nasty)).map(([p, v]) => json(setAt(valid, p, v))));
    some.push(fc.constantFrom(...all).map((p) => json(setAt(valid, p, undefined, true))));
  }
  return fc.oneof(
    ...some,
    // one key added
    fc.tuple(fc.constantFrom(...objects), fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), anyJson)
      .map(([p, k, v]) => json(p.length === 0 ? { ...valid, [k]: v } : setAt(valid, [...p, k], v))),
    // valid JSON cut short, or with a byte flipped
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
      const text = Buffer.from(JSON.stringify(valid));
      const cut = at % text.length;
      return at % 2 === 0 ? { raw: text.subarray(0, cut) } : { raw: Buffer.concat([text.subarray(0, cut), Buffer.from([byte]), text.subarray(cut + 1)]) };
    }),
  );
}

/** Path segments: encoded strings of any kind, id-like strings, raw percent-escapes (valid or not), traversal. */
function segments(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: 'binary', maxLength: 80 }).map(encodeURIComponent),
    fc.stringMatching(/^[A-Za-z0-9_-]{1,70}$/),
    fc.stringMatching(/^(cmd|run|agt)_[a-z0-9]{0,40}$/),
    fc.stringMatching(/^[A-Za-z0-9%._~!$&'()*+,;=:@-]{1,60}$/),
    fc.constantFrom('..', '.', '%2e%2e', '..%2f..%2fetc', '%00', '%', '%zz', '%c0%af', '%ff', 'x'.repeat(101), 'x'.repeat(65), '-rf', '_'),
  );
}

/** Query strings: known keys with any values (sometimes repeated), and unknown keys. */
function queries(keys: string[]): fc.Arbitrary<Record<string, string | string[]>> {
  const value = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.stringMatching(/^[0-9]{1,8}$/),
    fc.stringMatching(/^[A-Za-z0-9_,-]{0,60}$/),
    fc.constantFrom('-1', '1e9', 'NaN', '', ',', 'a,,b', '../x', 'queued', 'running', 'bogus', '0.5'),
  );
  return fc.oneof(
    fc.record(Object.fromEntries(keys.map((k) => [k, value])), { requiredKeys: [] }),
    fc.record(Object.fromEntries(keys.map((k) => [k, fc.array(value, { minLength: 2, maxLength: 3 })])), { requiredKeys: [] }),
    fc.dictionary(fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }), value, { minKeys: 1, maxKeys: 3 }),
  ) as fc.Arbitrary<Record<string, string | string[]>>;
}

// One agent token (and on the agent, the control plane's credentials) used to send many
// maximum-size reports at once: the control plane and the agent parse only a couple at a time per
// caller, refuse the rest with a retryable 429 before reading them, check the command before any
// body is read, and their memory stays bounded. The real agent's own large result, sent meanwhile,
// is retried until it lands: nothing is lost.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { isFinal } from '../src/protocol/command-status.ts';
import { OUTPUT_FIELD_MAX, PROGRESS_BODY_LIMIT, RESULT_BODY_LIMIT } from '../src/protocol/limits.ts';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { createToken, enrollAgent, eventually, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';
import { bodyUntilAnswered, errorProblem, rawExchange } from './raw-http.ts';

const PARALLEL = 30;
const ROUNDS = 4;
const MB = 1024 * 1024;
/** Generous: parsing all of them at once took 1.4 GB; a couple at a time per caller takes far less. */
const MAX_GROWTH_MB = 300;
const NOW = () => new Date().toISOString();

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return kb / 1024;
}

/** Samples a process's resident memory until stopped; returns the highest value seen. */
function watchRss(pid: number): { stop: () => Promise<number> } {
  let max = rssMb(pid);
  let running = true;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, rssMb(pid));
      await sleep(50);
    }
  })();
  return { stop: async () => { running = false; await loop; return max; } };
}

/** POSTs `body` over raw TLS; stops sending as soon as the answer comes (as an attacker would, to open the next one). */
async function post(url: string, headers: Record<string, string>, body: Buffer, tls: { cert?: string; key?: string } = {}): Promise<{ status: number; text: string; retryAfter?: string }> {
  const u = new URL(url);
  const head = `POST ${u.pathname} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n`
    + `${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  const r = await rawExchange(Number(u.port), [head, bodyUntilAnswered(body)], { firstResponse: true, timeoutMs: 120_000, ...tls });
  assert.ok(r.status !== null, `no answer from ${url}: ${r.text.slice(0, 200)}`);
  const retryAfter = /\r\nretry-after: *(\S+)/i.exec(r.text)?.[1];
  return { status: r.status, text: JSON.stringify(r.body), ...(retryAfter ? { retryAfter } : {}) };
}

/** PARALLEL senders, ROUNDS each; returns the count of each status. */
async function flood(send: () => Promise<{ status: number; text: string; retryAfter?: string }>): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const r = await send();
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 429) {
        assert.equal(JSON.parse(r.text).error.code, 'TOO_MANY_LARGE_REQUESTS', r.text);
        assert.equal(r.retryAfter, '1');
      } else assert.equal(r.status, 200, r.text.slice(0, 300));
    }
  }));
  return statuses;
}

describe('a flood of maximum-size reports with one agent\'s credentials', () => {
  const dir = tempDir();
  let server: TestServer;
  let web: TestAgent;
  let client: OperatorClient;
  let done: CommandRecord;
  let cert: { cert: string; key: string };
  /** The largest valid result: every character of both streams a control character, written \u0000 in JSON. */
  const result = Buffer.from(JSON.stringify({
    status: 'succeeded', exit_code: 0, signal: null, stdout: '\u0000'.repeat(OUTPUT_FIELD_MAX), stderr: '\u0000'.repeat(OUTPUT_FIELD_MAX),
    stdout_bytes: 1, stderr_bytes: 1, stdout_truncated: true, stderr_truncated: true, error: null, started_at: NOW(), finished_at: NOW(),
  }));

  before(async () => {
    server = await startServer(dir);
    web = await startAgent(await enrollAgent(server, dir, 'flood-web'));
    client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
    cert = { cert: readFileSync(join(server.dataDir, 'tls', 'server.crt'), 'utf8'), key: readFileSync(join(server.dataDir, 'tls', 'server.key'), 'utf8') };
    const r = await server.myx(['run', '--agent', 'flood-web', '--json', '--', 'true']);
    assert.equal(r.code, 0, r.stderr);
    [done] = JSON.parse(r.stdout) as [CommandRecord];
    assert.ok(result.length > 12 * MB && result.length <= RESULT_BODY_LIMIT, `${result.length} bytes`);
  });
  after(async () => {
    await web?.proc.kill();
    await server?.proc.kill();
  });

  test('nothing of a body is read before the route, the caller and the command are known: no route, unknown command, another agent\'s, no token', async () => {
    const port = Number(new URL(server.url).port);
    const head = (path: string, token: string) => `POST ${path} HTTP/1.1\r\nhost: x\r\nx-agent-token: ${token}\r\ncontent-type: application/json\r\ncontent-length: ${result.length}\r\n\r\n`;
    const other = await client.createCommands({ targets: { agents: ['flood-web'] }, command: 'true' }) as CommandRecord[];
    const facts = { name: 'flood-poser', hostname: 'h', os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null, labels: {} };
    const reg = await post(`${server.url}/api/agents/register`, {}, Buffer.from(JSON.stringify({ enrollment_token: await createToken(server), ...facts })));
    assert.equal(reg.status, 201, reg.text);
    const poser = (JSON.parse(reg.text) as { agent_token: string }).agent_token;
    for (const [path, token, status, code] of [
      ['/api/no-such-route', '', 404, 'NOT_FOUND'],
      ['/api/agents/commands/cmd_nosuch/no-such-report', '', 404, 'NOT_FOUND'],
      ['/api/agents/commands/cmd_nosuch/result', web.token(), 404, 'COMMAND_NOT_FOUND'],
      [`/api/agents/commands/${other[0]!.id}/result`, poser, 403, 'COMMAND_NOT_YOURS'],
      [`/api/agents/commands/${other[0]!.id}/progress`, poser, 403, 'COMMAND_NOT_YOURS'],
      [`/api/agents/commands/${done.id}/result`, 'myxa_nope', 401, 'AGENT_TOKEN_INVALID'],
    ] as const) {
      // only the head is sent: the answer comes without the body
      const r = await rawExchange(port, [head(path, token)], { firstResponse: true, timeoutMs: 10_000 });
      assert.equal(errorProblem(r), null, `${path}: ${r.text}`);
      assert.deepEqual([r.status, r.body.error.code], [status, code], path);
    }
    // the same on the agent's own result route: a command it does not have
    const agentHead = `POST /api/commands/cmd_nosuch/result HTTP/1.1\r\nhost: x\r\nx-agent-token: ${web.token()}\r\ncontent-type: application/json\r\ncontent-length: ${result.length}\r\n\r\n`;
    const r = await rawExchange(web.port, [agentHead], { firstResponse: true, timeoutMs: 10_000, ...cert });
    assert.deepEqual([r.status, r.body?.error?.code], [404, 'COMMAND_NOT_FOUND']);

  });

  test(`${PARALLEL} x ${ROUNDS} maximum-size results and progress reports with one agent token: the control plane grows < ${MAX_GROWTH_MB} MB, the agent's own large result lands`, async (t) => {
    // the real agent finishes a command with a large result (over the large-body threshold) during the flood
    const [big] = await client.createCommands({ targets: { agents: ['flood-web'] }, command: 'sh', args: ['-c', 'sleep 1; head -c 3000000 /dev/zero | tr "\\0" x'] }) as [CommandRecord];
    const pid = server.proc.child.pid!;
    const base = rssMb(pid);
    const watch = watchRss(pid);
    const headers = { 'x-agent-token': web.token() };
    const progress = Buffer.from(JSON.stringify({ started_at: NOW(), chunks: [{ offset: 0, stream: 'stdout', data: '\u0000'.repeat(1024 * 1024) }] }));
    assert.ok(progress.length <= PROGRESS_BODY_LIMIT);
    let peak = base;
    const [results, reports] = await Promise.all([
      flood(() => post(`${server.url}/api/agents/commands/${done.id}/result`, headers, result)),
      flood(() => post(`${server.url}/api/agents/commands/${done.id}/progress`, headers, progress)),
    ]).finally(async () => (peak = await watch.stop()));
    t.diagnostic(`control plane RSS ${base.toFixed(0)} MB before, ${peak.toFixed(0)} MB at most during ${2 * PARALLEL * ROUNDS} requests of `
      + `${(result.length / MB).toFixed(1)} and ${(progress.length / MB).toFixed(1)} MB; results ${[...results].map(([s, n]) => `${s}x${n}`).join(' ')}, `
      + `progress ${[...reports].map(([s, n]) => `${s}x${n}`).join(' ')}`);
    assert.ok((results.get(429) ?? 0) > 0 && (results.get(200) ?? 0) > 0, 'some were taken, the rest refused for now');
    assert.ok(peak - base < MAX_GROWTH_MB, `the control plane grew by ${(peak - base).toFixed(0)} MB`);
    const final = await eventually(async () => {
      const c = await client.command(big.id);
      return isFinal(c.status) ? c : undefined;
    }, 90_000, 'the agent\'s own large result');
    assert.deepEqual([final.status, final.stdout_bytes, final.stdout_truncated], ['succeeded', 3_000_000, true]);
    // and the agent goes on as usual
    const after = await server.myx(['run', '--agent', 'flood-web', '--json', '--', 'echo', 'after']);
    assert.equal((JSON.parse(after.stdout) as CommandRecord[])[0]!.stdout, 'after\n');
  });

  test(`the same flood on the agent's own result route, with the control plane's certificate and token: the agent grows < ${MAX_GROWTH_MB} MB`, async (t) => {
    const pid = web.proc.child.pid!;
    const base = rssMb(pid);
    const watch = watchRss(pid);
    let peak = base;
    const statuses = await flood(() => post(`https://127.0.0.1:${web.port}/api/commands/${done.id}/result`, { 'x-agent-token': web.token() }, result, cert))
      .finally(async () => (peak = await watch.stop()));
    t.diagnostic(`agent RSS ${base.toFixed(0)} MB before, ${peak.toFixed(0)} MB at most; ${[...statuses].map(([s, n]) => `${s}x${n}`).join(' ')}`);
    assert.ok((statuses.get(429) ?? 0) > 0);
    assert.ok(peak - base < MAX_GROWTH_MB, `the agent grew by ${(peak - base).toFixed(0)} MB`);
    const after = await server.myx(['run', '--agent', 'flood-web', '--json', '--', 'echo', 'still here']);
    assert.equal((JSON.parse(after.stdout) as CommandRecord[])[0]!.stdout, 'still here\n');
  });
});

// Agents and the CLI fail over between control-plane replicas without an operator: an agent
// enrolled through one replica learns the others and moves when its replica is killed, `myx run`
// takes several URLs and goes past a dead one, a run being followed finishes through another
// replica, and a call that creates something is never sent twice (fake servers show that part).

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { OperatorClient } from '../src/cli/operator-client.ts';
import { RequestFailedError } from '../src/common/json-client.ts';
import { ensureSelfSigned } from '../src/common/tls-cert.ts';
import { createToken, eventually, MYX, runBin, startAgent, startProc, tempDir, type TestServer } from './helpers.ts';
import { postgresSkip } from './postgres-server.ts';
import { operator, twoReplicas, type T } from './replica-helpers.ts';

const skip = postgresSkip();
const FAST = ['--heartbeat-interval', '0.5'];

/** `myx` flags for a control plane at `urls` (the operator token and certificate are the cluster's). */
function serverFlags(r: TestServer, urls: string[]): string[] {
  const token = readFileSync(join(r.dataDir, 'operator.token'), 'utf8').trim();
  return ['--server', urls.join(','), '--token', token, '--fingerprint', r.fingerprint];
}

/** `myx-agent enroll --server URLS` into DIR/NAME/config.json with a token from `via`. */
async function enrollWith(via: TestServer, urls: string[], dir: string, name: string, extra: string[] = []): Promise<string> {
  const configPath = join(dir, name, 'config.json');
  const r = await runBin('myx-agent', ['enroll', '--server', urls.join(','), '--token', await createToken(via), '--config', configPath, '--name', name, '--bind', '127.0.0.1', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return configPath;
}

const learnedFile = (config: string) => join(config, '..', 'state', 'control-plane-urls.json');
const learned = (config: string): string[] => (existsSync(learnedFile(config)) ? (JSON.parse(readFileSync(learnedFile(config), 'utf8')) as { learned: string[] }).learned : []);
const switches = (out: string) => out.split('\n').filter((l) => /does not answer .*: talking to/.test(l));

describe('failover between control-plane replicas', { skip }, () => {
  test('agents enrolled through one replica learn the others; when it is killed they move to another and run what is sent there', { timeout: 180_000 }, async (t) => {
    const { r1, r2, dir } = await twoReplicas(t, FAST);
    const configs = [
      await enrollWith(r1, [r1.url], dir, 'web-1'),
      await enrollWith(r1, [r1.url], dir, 'poll-1', ['--no-web']),
    ];
    assert.deepEqual(JSON.parse(readFileSync(configs[0]!, 'utf8')).server_url, r1.url, 'enrolled through r1 only');
    const agents = await Promise.all(configs.map((c, i) => startAgent(c, i === 0 ? ['--web-port', '0'] : [])));
    for (const a of agents) t.after(() => a.proc.kill());
    for (const c of configs) await eventually(() => learned(c).includes(r2.url), 30_000, 'the agent to learn r2 from a heartbeat answer');

    await r1.proc.kill('SIGKILL');
    const c2 = await operator(t, r2);
    const cmds = await c2.createCommands({ targets: { all: true }, command: 'echo', args: ['through r2'] });
    const done = await c2.wait(cmds.map((c) => c.id), 60);
    assert.deepEqual(done.commands.map((c) => [c.agent_name, c.status, c.stdout]).sort(), [['poll-1', 'succeeded', 'through r2\n'], ['web-1', 'succeeded', 'through r2\n']]);
    // they heartbeat through r2 now: both online there, heard from after r1 died
    const killedAt = Date.now();
    await eventually(async () => (await c2.agents()).every((a) => a.status === 'online' && Date.parse(a.last_heartbeat_at!) > killedAt), 30_000, 'heartbeats through r2');
    for (const a of agents) {
      const said = switches(a.proc.output());
      assert.equal(said.length, 1, `the move is said once:\n${said.join('\n')}`);
      assert.deepEqual([JSON.parse(said[0]!).from, JSON.parse(said[0]!).to], [r1.url, r2.url]);
    }
    // the config file is the operator's: what was learned lives in the state folder
    assert.deepEqual(JSON.parse(readFileSync(configs[1]!, 'utf8')).server_url, r1.url);
  });

  test('an agent restarted while the replica it was enrolled through is dead starts on the URLs it learned', { timeout: 180_000 }, async (t) => {
    const { r1, r2, dir } = await twoReplicas(t, FAST);
    const config = await enrollWith(r1, [r1.url], dir, 'poll-1', ['--no-web']);
    const first = await startAgent(config, []);
    await eventually(() => learned(config).includes(r2.url), 30_000, 'r2 learned');
    await first.proc.kill();
    await r1.proc.kill('SIGKILL');
    const again = await startAgent(config, []); // its first heartbeat goes to r1 (refused), then to r2
    t.after(() => again.proc.kill());
    const c2 = await operator(t, r2);
    const [cmd] = await c2.createCommands({ targets: { agents: ['poll-1'] }, command: 'echo', args: ['after a restart'] });
    assert.equal((await c2.wait([cmd!.id], 60)).commands[0]!.stdout, 'after a restart\n');
  });

  test('myx-agent enroll --server A,B enrolls through B when A is down and keeps both URLs', { timeout: 120_000 }, async (t) => {
    const { r1, r2, dir } = await twoReplicas(t, FAST);
    const token = await createToken(r2);
    await r1.proc.kill('SIGKILL');
    const config = join(dir, 'a', 'config.json');
    const r = await runBin('myx-agent', ['enroll', '--server', `${r1.url},${r2.url}`, '--token', token, '--config', config, '--name', 'a', '--no-web']);
    assert.equal(r.code, 0, r.stderr);
    const file = JSON.parse(readFileSync(config, 'utf8'));
    assert.deepEqual([file.server_url, file.server_urls], [undefined, [r2.url, r1.url]], 'the one that took it first');
  });

  test('myx run --server A,B works with A dead, and so do reads', { timeout: 120_000 }, async (t) => {
    const { r1, r2, dir } = await twoReplicas(t, FAST);
    const agent = await startAgent(await enrollWith(r2, [r2.url, r1.url], dir, 'w1'));
    t.after(() => agent.proc.kill());
    await r1.proc.kill('SIGKILL');
    const flags = serverFlags(r2, [r1.url, r2.url]);
    const run = await runBin('myx', ['run', ...flags, '--agent', 'w1', '--', 'echo', 'hi']);
    assert.deepEqual([run.code, run.stdout], [0, 'hi\n'], run.stderr);
    const agents = await runBin('myx', ['agents', ...flags]);
    assert.match(agents.stdout, /^w1 +agt_/m, agents.stderr);
    // `myx replicas` prints a line to paste into --server; with "(this one)" marks it works too
    const replicas = await runBin('myx', ['replicas', ...flags]);
    const pasted = /for --server or MYX_SERVER: (\S+)/.exec(replicas.stdout)?.[1] ?? '';
    assert.ok(pasted.split(',').includes(r2.url), replicas.stdout); // r1 is dead: listed until it expires, and skipped
    const table = replicas.stdout.split('\n').filter((l) => l.startsWith('https://')).map((l) => l.split(/ {2,}/)[0]).join('\n');
    const viaTable = await runBin('myx', ['agents', ...serverFlags(r2, [`${r1.url}\n${table}`])]);
    assert.equal(viaTable.code, 0, viaTable.stderr);
  });

  test('myx run following a run while its replica is killed finishes through the other', { timeout: 180_000 }, async (t) => {
    const { r1, r2, dir } = await twoReplicas(t, FAST);
    const agent = await startAgent(await enrollWith(r2, [r2.url, r1.url], dir, 'w1'));
    t.after(() => agent.proc.kill());
    const go = join(dir, 'GO');
    const run = startProc(MYX, ['run', ...serverFlags(r1, [r1.url, r2.url]), '--agent', 'w1', '--',
      'sh', '-c', `echo one; while [ ! -e ${go} ]; do sleep 0.05; done; echo two`]);
    t.after(() => run.kill('SIGKILL'));
    await run.waitFor(/^one$/, 60_000);
    await r1.proc.kill('SIGKILL'); // it created the run and streams it
    writeFileSync(go, '');
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /one\n(.|\n)*two\n/);
    assert.match(run.output(), new RegExp(`reconnected to the control plane, at ${r2.url.replace(/[.]/g, '\\.')}`));
  });
});

describe('what the CLI sends to the next URL', () => {
  /** An HTTPS server with the given certificate; `handle` answers or drops each request. */
  async function fakeServer(t: T, cert: { certPem: string; keyPem: string }, handle: (method: string, path: string, socket: Socket) => string | null): Promise<{ url: string; seen: string[]; server: Server }> {
    const seen: string[] = [];
    const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(`${req.method} ${req.url}`);
        const body = handle(req.method!, req.url!, req.socket);
        if (body === null) req.socket.destroy(); // read, then the replica "died"
        else res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
  }

  test('a run is created on the next URL only when the first surely never got it; reads move on after any failure of a replica', async (t) => {
    const dir = tempDir(t);
    const cert = await ensureSelfSigned({ certPath: join(dir, 'c.crt'), keyPath: join(dir, 'c.key') }, 'cluster');
    const run = JSON.stringify({ run: { id: 'run_x' }, commands: [] });
    const dies = await fakeServer(t, cert, () => null);
    const works = await fakeServer(t, cert, (method) => (method === 'POST' ? run : JSON.stringify({ runs: [] })));
    const closed = await fakeServer(t, cert, () => '{}');
    closed.server.close(); // refuses connections from now on

    const client = (urls: string[]) => {
      const c = new OperatorClient({ urls, token: 'myxo_x', fingerprint: cert.fingerprint });
      t.after(() => c.close());
      return c;
    };
    // reached a replica that died before answering: it may have created the run, so not sent again
    const a = client([dies.url, works.url]);
    await assert.rejects(a.createRun({ targets: { all: true }, command: 'true' }), (e: RequestFailedError) => e.status === 0 && e.reached);
    assert.deepEqual([dies.seen, works.seen], [['POST /api/runs'], []]);
    // a read is sent again
    assert.deepEqual(await a.runs(5), []);
    assert.deepEqual(works.seen, ['GET /api/runs?limit=5']);
    // refused: it reached nobody, so the next URL creates it (once)
    const b = client([closed.url, works.url]);
    assert.equal((await b.createRun({ targets: { all: true }, command: 'true' })).run.id, 'run_x');
    assert.deepEqual(works.seen.filter((s) => s.startsWith('POST')), ['POST /api/runs']);
    assert.equal(b.url, works.url, 'later calls start at the URL that answered');
    // every URL failed: one error saying what each did
    const c = client([closed.url, dies.url]);
    await assert.rejects(c.runs(1), /refused.*; .*(reset|socket hang up)/);
  });

  test('with one URL (one name, several addresses), a read whose connection broke is tried once more on the same URL; a run is not', async (t) => {
    const dir = tempDir(t);
    const cert = await ensureSelfSigned({ certPath: join(dir, 'c.crt'), keyPath: join(dir, 'c.key') }, 'cluster');
    let n = 0;
    // the first request of each kind dies with its connection, as when the address behind the name went away
    const flaky = await fakeServer(t, cert, (method) => (n++ % 2 === 0 ? null : method === 'POST' ? JSON.stringify({ run: { id: 'run_x' }, commands: [] }) : JSON.stringify({ runs: [] })));
    const c = new OperatorClient({ urls: [flaky.url], token: 'myxo_x', fingerprint: cert.fingerprint });
    t.after(() => c.close());
    assert.deepEqual(await c.runs(1), []);
    assert.deepEqual(flaky.seen, ['GET /api/runs?limit=1', 'GET /api/runs?limit=1']);
    await assert.rejects(c.createRun({ targets: { all: true }, command: 'true' }), (e: RequestFailedError) => e.reached);
    assert.equal(flaky.seen.filter((x) => x.startsWith('POST')).length, 1, 'sent once');
  });

  test('--server takes several URLs, separated by commas or blanks; anything else is a clear error', async () => {
    const { parseServerList } = await import('../src/cli/operator-client.ts');
    assert.deepEqual(parseServerList('https://a:1, https://b:2/\nhttps://a:1 (this one)'), ['https://a:1', 'https://b:2']);
    assert.throws(() => parseServerList('https://a:1,http://b:2'), /takes URLs like https:\/\/HOST:PORT.*got "http:\/\/b:2"/);
    const r = await runBin('myx', ['agents', '--server', 'a:1', '--token', 't', '--fingerprint', 'ab'.repeat(32)]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /takes URLs like https:\/\/HOST:PORT/);
  });
});

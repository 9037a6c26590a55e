// Control-plane replicas on one PostgreSQL, as real processes: what one replica's writes do reaches
// waits held on another (long polls, /api/commands/wait, the SSE stream), push health is the same
// on every replica, one replica sweeps and another takes over when it dies (and pushes what the dead
// one never pushed), all present one certificate, and each knows the others' URLs.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { ensureSelfSigned } from '../src/common/tls-cert.ts';
import type { CommandRecord, HeartbeatResponse, PollResponse } from '../src/protocol/wire.ts';
import { PostgresStore } from '../src/server/store/postgres-store.ts';
import { createToken, enrollAgent, eventually, MYX, startAgent, startProc, startServer, tempDir, type TestServer } from './helpers.ts';
import { postgresServer, postgresSkip } from './postgres-server.ts';
import { operator, startReplica, twoReplicas } from './replica-helpers.ts';
import { closePool, send } from './raw-http.ts';

const skip = postgresSkip();

/** An agent enrolled through `server` by its API (no daemon: the test speaks for it). */
async function fakeAgent(server: TestServer, name: string): Promise<string> {
  const facts = { name, hostname: 'h', os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null, labels: {} };
  const reg = await send(`${server.url}/api/agents/register`, { json: { enrollment_token: await createToken(server), ...facts } });
  assert.equal(reg.status, 201, reg.text);
  return reg.body.agent_token as string;
}

describe('control-plane replicas on one PostgreSQL', { skip }, () => {
  test('a long poll held on one replica is answered at once by a run created on another', async (t) => {
    t.after(closePool);
    const { r1, r2 } = await twoReplicas(t, ['--log-level', 'debug']);
    const token = await fakeAgent(r1, 'poller');
    const held = send(`${r1.url}/api/agents/poll?wait=30`, { headers: { 'x-agent-token': token }, timeoutMs: 60_000 });
    await r1.proc.waitFor(/long poll held.*poller|poller.*long poll held/);
    // A delivery TTL far shorter than the poll: unless r2's write wakes the poll, the command has
    // expired by the time the poll looks again at its end, and the answer is empty.
    const [command] = await (await operator(t, r2)).createCommands({ targets: { agents: ['poller'] }, command: 'true', ttl: 10 }) as [CommandRecord];
    const answer = (await held).body as PollResponse;
    assert.deepEqual(answer.commands.map((c) => c.command_id), [command.id]);
  });

  test('/api/commands/wait and the SSE stream on one replica follow a command that runs through another', async (t) => {
    const { r1, r2, dir } = await twoReplicas(t, ['--log-level', 'debug']);
    const agent = await startAgent(await enrollAgent(r2, dir, 'through-r2', ['--no-web']), []);
    t.after(() => agent.proc.kill());
    const go = join(dir, 'GO');
    const [command] = await (await operator(t, r2)).createCommands({
      targets: { agents: ['through-r2'] }, command: 'sh', args: ['-c', `echo one; while [ ! -e ${go} ]; do sleep 0.05; done; echo two`],
    }) as [CommandRecord];
    const c1 = await operator(t, r1);
    const seen: string[] = [];
    const stream = (async () => {
      for await (const e of c1.events([command.id])) {
        if (e.event === 'output') seen.push((JSON.parse(e.data) as { data: string }).data);
        if (e.event === 'final') seen.push(`final:${(JSON.parse(e.data) as CommandRecord).status}`);
      }
    })();
    // 'one' came from the store (replayed or heard); the rest can only come from r2's writes
    await eventually(() => seen.join('').includes('one'), 30_000, 'the first line on the stream');
    const waited = c1.wait([command.id], 60);
    await r1.proc.waitFor(/wait held/);
    writeFileSync(go, '');
    const done = await waited;
    assert.deepEqual([done.done, done.commands[0]!.status, done.commands[0]!.stdout], [true, 'succeeded', 'one\ntwo\n']);
    await stream;
    assert.deepEqual([seen.join(''), seen.at(-1)], ['one\ntwo\nfinal:succeeded', 'final:succeeded']);
  });

  test('push health is kept in the database: a push that failed on one replica shows failing on the other', async (t) => {
    const { r1, r2, dir } = await twoReplicas(t);
    const agent = await startAgent(await enrollAgent(r1, dir, 'gone-web'));
    await agent.proc.kill('SIGKILL'); // its web service is gone; the control plane still has its address
    await (await operator(t, r1)).createCommands({ targets: { agents: ['gone-web'] }, command: 'true' });
    const view = await eventually(async () => {
      const [a] = await (await operator(t, r2)).agents();
      return a?.push.state === 'failing' ? a : undefined;
    }, 30_000, 'r2 to show the failing push');
    assert.match(view.push.error ?? '', /ECONNREFUSED|refused/i);
    assert.ok(view.push.retry_at, 'with the next try');
  });

  test('one replica sweeps; when it is killed, the other takes over and pushes what a dead replica queued and never pushed', async (t) => {
    // agents heartbeat every 60 s: the command can only reach the agent by push (the heartbeat fallback would say delivery=poll)
    const { r1, r2, db, dir } = await twoReplicas(t, ['--heartbeat-interval', '60']);
    const sweeps = /this replica sweeps now/;
    const sweeper = await Promise.race([r1.proc.waitFor(sweeps, 60_000).then(() => r1), r2.proc.waitFor(sweeps, 60_000).then(() => r2)]);
    const survivor = sweeper === r1 ? r2 : r1;
    const agent = await startAgent(await enrollAgent(survivor, dir, 'web-1'));
    t.after(() => agent.proc.kill());
    await sweeper.proc.kill('SIGKILL');
    await survivor.proc.waitFor(sweeps, 60_000); // its session-level lock went with the dead replica's connection

    // A replica that queues a run and dies before pushing it: the run is in the database, nobody pushes it.
    const dead = await PostgresStore.open(db);
    const [target] = await dead.listAgents();
    const now = new Date().toISOString();
    await dead.createRun({ id: 'run_orphan', command: 'echo', args: [], target: 'agents web-1', max_concurrency: null, max_errors: null, requested_by: 'admin' }, [{
      id: 'cmd_orphan', status: 'queued', agent_id: target!.id, command: 'echo', args: ['pushed by the sweeper'], timeout: 30, env: null, cwd: null,
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    }], now);
    await dead.close();

    const done = (await (await operator(t, survivor)).wait(['cmd_orphan'], 60)).commands[0]!;
    assert.deepEqual([done.status, done.delivery, done.stdout], ['succeeded', 'push', 'pushed by the sweeper\n']);
  });

  test('a replica with another certificate refuses to start and says which files to copy; with them it starts', async (t) => {
    const dir = tempDir(t);
    const db = await (await postgresServer()).createDatabase();
    const r1 = await startServer(join(dir, 'r1'), ['--store', db]);
    t.after(() => r1.proc.kill());
    const bare = startProc(MYX, ['server', '--data-dir', join(dir, 'r2'), '--listen', '127.0.0.1:0', '--store', db]);
    assert.equal(await bare.exited, 2);
    assert.match(bare.output(), /this replica has no certificate yet.*Copy tls\/server\.crt and tls\/server\.key from the data dir of a running replica.*--tls-cert and --tls-key/);
    const otherTls = join(dir, 'r3', 'tls');
    await ensureSelfSigned({ certPath: join(otherTls, 'server.crt'), keyPath: join(otherTls, 'server.key') }, 'another');
    const other = startProc(MYX, ['server', '--data-dir', join(dir, 'r3'), '--listen', '127.0.0.1:0', '--store', db]);
    assert.equal(await other.exited, 2);
    assert.match(other.output(), new RegExp(`is another one; the replicas on this database present the certificate with fingerprint ${r1.fingerprint}`));
    const r2 = await startReplica(t, r1, join(dir, 'r2'), db);
    assert.equal(r2.fingerprint, r1.fingerprint);
  });

  test('every replica lists the live replicas, and so does every heartbeat answer; one that stops or dies drops out', async (t) => {
    t.after(closePool);
    const { r1, r2, db, dir } = await twoReplicas(t, ['--heartbeat-interval', '0.5']);
    const r3 = await startReplica(t, r1, join(dir, 'r3'), db, ['--heartbeat-interval', '0.5']);
    // each replica's public URL is https://<host name>:<its port> here: compared by port
    const port = (url: string) => new URL(url).port;
    const urls = (...rs: TestServer[]) => rs.map((r) => port(r.url)).sort();
    const c2 = await operator(t, r2);
    const listed = async () => (await c2.replicas()).map((r) => port(r.public_url)).sort();
    await eventually(async () => (JSON.stringify(await listed()) === JSON.stringify(urls(r1, r2, r3)) ? true : undefined), 30_000, 'all three listed');
    const mine = (await c2.replicas()).filter((r) => r.self);
    assert.deepEqual(mine.map((r) => port(r.public_url)), [port(r2.url)]);

    const token = await fakeAgent(r1, 'listener');
    const facts = { name: 'listener', hostname: 'h', os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null, labels: {} };
    const beat = async () => ((await send(`${r1.url}/api/agents/heartbeat`, { headers: { 'x-agent-token': token }, json: { ...facts, uptime_seconds: 1, running: 0 } })).body as HeartbeatResponse)
      .control_plane_urls?.map(port).sort();
    // eventually: a replica's row lapses after 3 missed intervals (1.5 s here), which a loaded machine can cause for a moment
    await eventually(async () => (JSON.stringify(await beat()) === JSON.stringify(urls(r1, r2, r3)) ? true : undefined), 30_000, 'all three in heartbeat answers');

    await r3.proc.kill('SIGTERM'); // leaves the registry as it stops
    await eventually(async () => (JSON.stringify(await listed()) === JSON.stringify(urls(r1, r2)) ? true : undefined), 30_000, 'r3 gone');
    await r2.proc.kill('SIGKILL'); // expires: not heard from for 3 intervals
    await eventually(async () => (JSON.stringify(await beat()) === JSON.stringify(urls(r1)) ? true : undefined), 30_000, 'r2 expired');
  });

  // bounded: without the re-read, the stream would wait forever
  test('a replica that lost its listening session reads again what it streams once it is back: a result it could not hear still ends the stream', { timeout: 120_000 }, async (t) => {
    t.after(closePool);
    const dir = tempDir(t);
    const db = await (await postgresServer()).createDatabase();
    const server = await startServer(dir, ['--store', db]);
    t.after(() => server.proc.kill());
    const token = await fakeAgent(server, 'quiet');
    const c = await operator(t, server);
    const [command] = await c.createCommands({ targets: { agents: ['quiet'] }, command: 'true' }) as [CommandRecord];
    const agentApi = (path: string, json?: unknown) => send(`${server.url}/api/agents${path}`, { headers: { 'x-agent-token': token }, ...(json ? { method: 'POST', json } : {}) });
    assert.deepEqual(((await agentApi('/poll?wait=0')).body as PollResponse).commands.map((x) => x.command_id), [command.id]);
    const started = new Date().toISOString();
    assert.equal((await agentApi(`/commands/${command.id}/progress`, { started_at: started, chunks: [{ offset: 0, stream: 'stdout', data: 'x' }] })).status, 200);

    const seen: string[] = [];
    const stream = (async () => {
      for await (const e of c.events([command.id])) seen.push(e.event);
    })();
    await eventually(() => seen.includes('output'), 30_000, 'the stream to replay the output (it is subscribed)');

    const other = await PostgresStore.open(db); // another replica, connected before the database closes its doors
    t.after(() => other.close());
    const admin = new pg.Client({ connectionString: db.replace(/\/[^/]+$/, '/postgres') });
    await admin.connect();
    const name = new URL(db).pathname.slice(1);
    t.after(async () => {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await admin.end();
    });
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`); // the session cannot come back yet
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'myx server (events, sweeper)'`, [name]);
    await server.proc.waitFor(/lost the PostgreSQL session/);
    const result = await other.recordResult(command.id, command.agent_id, {
      status: 'succeeded', exit_code: 0, signal: null, stdout: 'x', stderr: '', stdout_bytes: 1, stderr_bytes: 0, stdout_truncated: false,
      stderr_truncated: false, error: null, started_at: started, finished_at: new Date().toISOString(),
    }, new Date().toISOString());
    assert.equal(result.kind, 'recorded'); // its event reaches nobody on the server
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    await server.proc.waitFor(/the PostgreSQL session is back/);
    await stream; // a stream has no deadline of its own
    assert.deepEqual(seen, ['output', 'final', 'end']);
  });

  test('a store error in a fan-out is logged, not a crash; once the store works again the sweeper pushes the command', async (t) => {
    const dir = tempDir(t);
    const db = await (await postgresServer()).createDatabase();
    // agents heartbeat every 60 s: the command can only reach the agent by push
    const server = await startServer(dir, ['--store', db, '--heartbeat-interval', '60']);
    t.after(() => server.proc.kill());
    const agent = await startAgent(await enrollAgent(server, dir, 'web-1'));
    t.after(() => agent.proc.kill());
    // The database refuses the push's claim (any store error would do): the fan-out fails after the run was created.
    const admin = new pg.Client({ connectionString: db });
    await admin.connect();
    t.after(() => admin.end());
    await admin.query(`ALTER TABLE commands ADD CONSTRAINT injected_fault CHECK (status <> 'dispatched') NOT VALID`);
    const c = await operator(t, server);
    const [command] = await c.createCommands({ targets: { all: true }, command: 'echo', args: ['late'] }) as [CommandRecord];
    await server.proc.waitFor(/could not push the command \(store error\)/);
    assert.equal((await c.command(command.id)).status, 'queued', 'still queued, the server still answers');
    await admin.query('ALTER TABLE commands DROP CONSTRAINT injected_fault');
    const done = (await c.wait([command.id], 60)).commands[0]!;
    assert.deepEqual([done.status, done.delivery, done.stdout], ['succeeded', 'push', 'late\n']);
    assert.equal(server.proc.child.exitCode, null);
  });
});

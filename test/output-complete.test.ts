// Complete output (issue 12): a command's whole output kept by the control plane up to its cap per
// stream (64 MiB by default; past it, the head and the last MiB with the total size), read back
// byte for byte through the paged API, the raw download and `myx logs` (checksums), its last lines,
// followed live across a control-plane restart, dropped by retention (age, total size) while the
// records stay, with the memory of agent and control plane bounded while 100 MB go through.
// MYX_TEST_STORE=postgres runs the same on PostgreSQL.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OUTPUT_CAP_DEFAULT, outputKeep } from '../src/protocol/limits.ts';
import type { CommandRecord, OutputPage, RunResponse } from '../src/protocol/wire.ts';
import { enrollAgent, eventually, freePort, MYX, startAgent, startProc, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';
import { closePool, send } from './raw-http.ts';

const MB = 1024 * 1024;
/** `seq -f %09.0f 0 9999999`: ten million lines of ten bytes, 100,000,000 bytes; byte k is in line k / 10. */
const LINES = 10_000_000;
const TOTAL = LINES * 10;

/** Bytes [from, to) of that output, made here the same way, a piece at a time. */
function* expectedPieces(from: number, to: number): Generator<Buffer> {
  const step = 100_000;
  for (let line = Math.floor(from / 10); line * 10 < to; line += step) {
    const last = Math.min(Math.ceil(to / 10), line + step);
    let text = '';
    for (let i = line; i < last; i++) text += `${String(i).padStart(9, '0')}\n`;
    const bytes = Buffer.from(text);
    yield bytes.subarray(Math.max(0, from - line * 10), Math.min(bytes.length, to - line * 10));
  }
}

/** Bytes [from, to) of that output (for a few megabytes). */
const expectedBytes = (from: number, to: number): Buffer => Buffer.concat([...expectedPieces(from, to)]);

/** SHA-256 of these byte ranges of that output, one after the other. */
function expectedSha(...ranges: [number, number][]): string {
  const hash = createHash('sha256');
  for (const [from, to] of ranges) for (const piece of expectedPieces(from, to)) hash.update(piece);
  return hash.digest('hex');
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** What /proc/PID/wchan says of a process asleep in a write to a full pipe or socket. */
const WRITE_BLOCKED = /pipe_write|sock_alloc_send|sk_stream_wait_memory|unix_stream_sendmsg/;

/** The resident memory of a process now, in MiB. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

describe('complete output: 100 MB kept up to the default cap', () => {
  const dir = tempDir();
  let server: TestServer;
  let agent: TestAgent;
  let token: string;
  const op = (path: string) => send(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` }, timeoutMs: 60_000 });
  const run = async (agentName: string, args: string[]) => {
    const r = await send(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${token}` }, json: { targets: { agents: [agentName] }, command: args[0], args: args.slice(1), timeout: 600 } });
    assert.equal(r.status, 201, r.text);
    return (r.body as RunResponse).commands[0]!.id;
  };
  const finished = (id: string, ms = 300_000) => eventually(async () => {
    const c = (await op(`/api/commands/${id}`)).body as CommandRecord;
    return ['succeeded', 'failed', 'timed_out', 'cancelled', 'lost'].includes(c.status) ? c : null;
  }, ms, `${id} ended`);

  /** Runs `myx` with `args`; its stdout hashed as it comes (64 MiB need not sit in this process). */
  const myxHashed = (args: string[]) => new Promise<{ code: number | null; sha: string; bytes: number; head: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [MYX, ...args], { env: { ...process.env, MYX_DATA_DIR: server.dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const hash = createHash('sha256');
    let bytes = 0;
    let head = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
      if (head.length < 200) head += d.toString('utf8', 0, 200);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, sha: hash.digest('hex'), bytes, head, stderr });
    });
  });

  before(async () => {
    server = await startServer(dir, ['--heartbeat-interval', '0.5']);
    agent = await startAgent(await enrollAgent(server, dir, 'big-1'));
    token = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
  });
  after(async () => {
    await agent?.proc.kill();
    await server?.proc.kill();
    closePool();
  });

  test('100 MB printed fast: the first 63 MiB and the last MiB kept with the total size, the same bytes through the API, the raw download and myx logs; memory stays bounded', async (t) => {
    const keep = outputKeep(OUTPUT_CAP_DEFAULT);
    const pids = { 'control plane': server.proc.child.pid!, agent: agent.proc.child.pid! };
    const rss = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, { before: rssMiB(pid), max: 0 }]));
    const sampler = setInterval(() => {
      for (const [k, pid] of Object.entries(pids)) rss[k]!.max = Math.max(rss[k]!.max, rssMiB(pid));
    }, 100);
    const t0 = Date.now();
    const id = await run('big-1', ['seq', '-f', '%09.0f', '0', String(LINES - 1)]);
    const c = await finished(id);
    const took = Date.now() - t0;
    clearInterval(sampler);
    assert.deepEqual([c.status, c.stdout_bytes, c.stdout_truncated], ['succeeded', TOTAL, true]);
    assert.ok(c.stdout.startsWith('000000000\n000000001\n') && c.stdout.endsWith('009999998\n009999999\n'), 'myx show keeps its summary');

    // the API, page by page (a megabyte each): the head, a jump over what was not kept, the tail
    const pages: OutputPage[] = [];
    const head = createHash('sha256');
    const tail = createHash('sha256');
    for (let offset = 0; ;) {
      const p = (await op(`/api/commands/${id}/output?stream=stdout&offset=${offset}&limit=${MB}`)).body as OutputPage;
      assert.ok(pages.length < 200, 'pages end');
      pages.push({ ...p, data: '' });
      (p.offset < keep.head_bytes ? head : tail).update(p.data);
      offset = p.next_offset;
      if (p.eof) break;
    }
    const first = pages[0]!;
    assert.deepEqual([first.total_bytes, first.kept, first.source, first.dropped_at], [TOTAL, keep, 'full', null]);
    const jump = pages.findIndex((p, i) => i > 0 && p.offset !== pages[i - 1]!.next_offset);
    assert.deepEqual([pages[jump - 1]!.next_offset, pages[jump]!.offset], [keep.head_bytes, TOTAL - keep.tail_bytes], 'one jump, from the head to the tail');
    assert.equal(pages.at(-1)!.next_offset, TOTAL);
    const headRange: [number, number] = [0, keep.head_bytes];
    const tailRange: [number, number] = [TOTAL - keep.tail_bytes, TOTAL];
    assert.equal(head.digest('hex'), expectedSha(headRange), 'the head is the first bytes, exactly');
    assert.equal(tail.digest('hex'), expectedSha(tailRange), 'the tail is the last bytes, exactly');
    const both = expectedSha(headRange, tailRange);

    // the raw download: head then tail
    const raw = await download(`${server.url}/api/commands/${id}/output/raw?stream=stdout`, token);
    assert.deepEqual([raw.sha, raw.bytes, raw.headers['x-myx-total-bytes']], [both, keep.head_bytes + keep.tail_bytes, String(TOTAL)]);

    // myx logs: the same bytes on stdout, and a word on stderr about what was not kept
    const printed = await myxHashed(['logs', id, '--stream', 'stdout']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.deepEqual([printed.sha, printed.bytes], [both, keep.head_bytes + keep.tail_bytes]);
    assert.match(printed.stderr, new RegExp(`\\[\\.\\.\\. ${TOTAL - keep.head_bytes - keep.tail_bytes} bytes not kept`));
    const last = await myxHashed(['logs', id, '--tail', '3']);
    assert.deepEqual([last.code, last.head], [0, '009999997\n009999998\n009999999\n']);

    for (const [k, r] of Object.entries(rss)) {
      t.diagnostic(`${k}: RSS ${r.before.toFixed(0)} MiB before, ${r.max.toFixed(0)} MiB at most while 100 MB went through`);
      assert.ok(r.max < 400, `${k} RSS stays bounded (${r.max.toFixed(0)} MiB)`);
      assert.ok(r.max - r.before < 250, `${k} grows by less than 250 MiB (${(r.max - r.before).toFixed(0)} MiB)`);
    }
    t.diagnostic(`100 MB: ended ${took} ms after the run was created; ${pages.length} API pages; kept ${keep.head_bytes + keep.tail_bytes} bytes`);
  });

  test('myx run streams what the control plane keeps as it comes: the head, a note where bytes were not kept, the tail', async (t) => {
    const keep = outputKeep(OUTPUT_CAP_DEFAULT);
    const t0 = Date.now();
    const r = await myxHashed(['run', '--agent', 'big-1', '--timeout', '10m', '--', 'seq', '-f', '%09.0f', '0', String(LINES - 1)]);
    assert.equal(r.code, 0, r.stderr);
    const gap = TOTAL - keep.head_bytes - keep.tail_bytes;
    const note = Buffer.from(`\n[... ${gap} bytes of stdout not kept (over the control plane's --output-cap): what follows is the end ...]\n`);
    const hash = createHash('sha256');
    // the head and the tail as expectedSha makes them, with the note between
    for (const piece of expectedPieces(0, keep.head_bytes)) hash.update(piece);
    hash.update(note);
    hash.update(expectedBytes(TOTAL - keep.tail_bytes, TOTAL));
    assert.deepEqual([r.sha, r.bytes], [hash.digest('hex'), keep.head_bytes + note.length + keep.tail_bytes]);
    t.diagnostic(`myx run of 100 MB printed ${r.bytes} bytes in ${Date.now() - t0} ms`);
  });
});

/** GET a download, hashing its body as it comes. */
function download(url: string, token: string): Promise<{ sha: string; bytes: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        hash.update(d);
        bytes += d.length;
      });
      res.on('end', () => resolve({ sha: hash.digest('hex'), bytes, headers: res.headers }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('complete output: back-pressure', () => {
  const dir = tempDir();
  let server: TestServer;
  let agent: TestAgent;
  let token: string;
  before(async () => {
    server = await startServer(dir, ['--heartbeat-interval', '0.5']);
    agent = await startAgent(await enrollAgent(server, dir, 'slow-1'));
    token = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
  });
  after(async () => {
    await agent?.proc.kill();
    server?.proc.child.kill('SIGCONT');
    await server?.proc.kill();
    closePool();
  });

  test('a control plane that takes nothing for a while makes a fast command wait (its write blocks), and then every byte is kept and the result reported', async (t) => {
    const lines = 3_000_000; // 30 MB: far more than the agent holds unacknowledged
    const op = (path: string, json?: unknown) => send(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` }, ...(json ? { json } : {}), timeoutMs: 60_000 });
    const gate = join(dir, 'go');
    // the command waits for the gate, so that the control plane can be stopped before it prints
    const created = await op('/api/runs', { targets: { agents: ['slow-1'] }, command: 'sh', args: ['-c', `while [ ! -e ${gate} ]; do sleep 0.05; done; exec seq -f %09.0f 0 ${lines - 1}`], timeout: 300 });
    const id = (created.body as RunResponse).commands[0]!.id;
    await eventually(async () => ((await op(`/api/commands/${id}`)).body as CommandRecord).status === 'running', 30_000, 'running');
    const agentRss = rssMiB(agent.proc.child.pid!);
    server.proc.child.kill('SIGSTOP');
    let blocked = '';
    try {
      writeFileSync(gate, '');
      // the command's process, a child of the agent, ends up asleep in a write to its full pipe
      // (Node's stdio pipes are socket pairs: the kernel waits in sock_alloc_send_pskb)
      blocked = await eventually(() => {
        for (const pid of readFileSync(`/proc/${agent.proc.child.pid}/task/${agent.proc.child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
          try {
            if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'seq' && WRITE_BLOCKED.test(readFileSync(`/proc/${pid}/wchan`, 'utf8'))) return pid;
          } catch { /* it ended meanwhile */ }
        }
        return null;
      }, 20_000, 'the command blocked in a write to its pipe');
      t.diagnostic(`seq (pid ${blocked}) blocked in a write while the control plane was stopped; agent RSS ${agentRss.toFixed(0)} -> ${rssMiB(agent.proc.child.pid!).toFixed(0)} MiB`);
    } finally {
      server.proc.child.kill('SIGCONT');
    }
    const c = await eventually(async () => {
      const r = (await op(`/api/commands/${id}`)).body as CommandRecord;
      return r.status === 'succeeded' ? r : null;
    }, 120_000, 'the result');
    assert.equal(c.stdout_bytes, lines * 10);
    const raw = await download(`${server.url}/api/commands/${id}/output/raw?stream=stdout`, token);
    assert.deepEqual([raw.bytes, raw.sha], [lines * 10, expectedSha([0, lines * 10])], 'every byte kept, in order');
    const page = (await op(`/api/commands/${id}/output?stream=stdout&tail=1`)).body as OutputPage;
    assert.deepEqual([page.data, page.kept, page.eof], [`${String(lines - 1).padStart(9, '0')}\n`, null, true]);
  });

  test('a control plane that takes nothing for 30 s does not hold the command any longer: it runs to its end, its last MiB is kept, and the result comes', async (t) => {
    const lines = 3_000_000;
    const op = (path: string, json?: unknown) => send(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` }, ...(json ? { json } : {}), timeoutMs: 60_000 });
    const gate = join(dir, 'go-stall');
    const created = await op('/api/runs', { targets: { agents: ['slow-1'] }, command: 'sh', args: ['-c', `while [ ! -e ${gate} ]; do sleep 0.05; done; exec seq -f %09.0f 0 ${lines - 1}`], timeout: 300 });
    const id = (created.body as RunResponse).commands[0]!.id;
    await eventually(async () => ((await op(`/api/commands/${id}`)).body as CommandRecord).status === 'running', 30_000, 'running');
    const seqRunning = () => readFileSync(`/proc/${agent.proc.child.pid}/task/${agent.proc.child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
      .some((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'seq';
        } catch {
          return false;
        }
      });
    const t0 = Date.now();
    server.proc.child.kill('SIGSTOP');
    try {
      writeFileSync(gate, '');
      await eventually(() => seqRunning(), 10_000, 'the command printing');
      await eventually(() => !seqRunning(), 90_000, 'the command ran to its end while the control plane was stopped');
      t.diagnostic(`the command ended ${Date.now() - t0} ms after the control plane stopped taking output`);
    } finally {
      server.proc.child.kill('SIGCONT');
    }
    await agent.proc.waitFor(/the control plane took no output for 30 s: the command runs on/, 10_000);
    const c = await eventually(async () => {
      const r = (await op(`/api/commands/${id}`)).body as CommandRecord;
      return r.status === 'succeeded' ? r : null;
    }, 120_000, 'the result');
    const total = lines * 10;
    assert.equal(c.stdout_bytes, total);
    const first = (await op(`/api/commands/${id}/output?stream=stdout&limit=16`)).body as OutputPage;
    const { head_bytes: head, tail_bytes: tail } = first.kept!;
    assert.ok(head > 0 && head <= 5 * MB, `the head kept is what waited to be sent (${head} bytes)`);
    assert.equal(tail, MB, 'the last MiB');
    const raw = await download(`${server.url}/api/commands/${id}/output/raw?stream=stdout`, token);
    assert.equal(raw.sha, expectedSha([0, head], [total - MB, total]), 'the head and the last MiB, exactly');
  });
});

describe('myx logs: --follow, --tail, --stream, --strip-control', () => {
  const dir = tempDir();
  let port: number;
  let server: TestServer;
  let agent: TestAgent;
  const listen = () => ['--heartbeat-interval', '0.5', '--listen', `127.0.0.1:${port}`];
  const runOn = async (script: string) => {
    const token = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    const res = await send(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${token}` }, json: { targets: { agents: ['logs-1'] }, command: 'sh', args: ['-c', script], timeout: 120 } });
    assert.equal(res.status, 201, res.text);
    return (res.body as RunResponse).commands[0]!.id;
  };
  const logsProc = (args: string[]) => startProc(MYX, ['logs', ...args], { MYX_DATA_DIR: server.dataDir });

  before(async () => {
    port = await freePort();
    server = await startServer(dir, listen());
    agent = await startAgent(await enrollAgent(server, dir, 'logs-1'));
  });
  after(async () => {
    await agent?.proc.kill();
    await server?.proc.kill();
    closePool();
  });

  test('--follow prints the output as the command prints it, goes on across a control-plane restart, and ends with the command', async () => {
    const gate = join(dir, 'gate');
    const id = await runOn(`echo first; while [ ! -e ${gate}1 ]; do sleep 0.05; done; echo second >&2; while [ ! -e ${gate}2 ]; do sleep 0.05; done; echo third`);
    const follower = logsProc([id, '--follow']);
    await follower.waitFor(/^first$/, 30_000); // while the command waits for the first gate: live
    writeFileSync(`${gate}1`, '');
    await follower.waitFor(/^second$/, 30_000);
    await server.proc.kill();
    server = await startServer(dir, listen());
    writeFileSync(`${gate}2`, '');
    await follower.waitFor(/^third$/, 60_000);
    assert.equal(await follower.exited, 0);
    const out = follower.output();
    assert.deepEqual(out.split('\n').filter((l) => /^(first|second|third)$/.test(l)), ['first', 'second', 'third'], 'each line once, in order');
    assert.match(out, /lost contact with the control plane .*reconnecting/);
    assert.match(out, /reconnected to the control plane/);
  });

  test('--tail N starts with the last N lines; without --follow it stops at what there is, with it goes on to the end', async () => {
    const gate = join(dir, 'tail-gate');
    const id = await runOn(`seq 1 50; while [ ! -e ${gate} ]; do sleep 0.05; done; echo after`);
    await eventually(async () => (await server.myx(['logs', id])).stdout.endsWith('\n50\n'), 30_000, 'the first 50 lines');
    const now = await server.myx(['logs', id, '--tail', '2']);
    assert.deepEqual([now.code, now.stdout], [0, '49\n50\n'], now.stderr);
    const follower = logsProc([id, '--tail', '2', '--follow']);
    await follower.waitFor(/^50$/, 30_000);
    writeFileSync(gate, '');
    await follower.waitFor(/^after$/, 30_000);
    assert.equal(await follower.exited, 0);
    assert.deepEqual(follower.output().split('\n').filter((l) => /^(\d+|after)$/.test(l)), ['49', '50', 'after']);
  });

  test('--stream picks one stream; output passes through raw, or with --strip-control without its control sequences', async () => {
    const id = await runOn(`printf 'a \\033[31mred\\033[0m \\033]0;title\\007word\\n'; echo 'to stderr' >&2`);
    await eventually(async () => (await server.myx(['show', '--json', id])).stdout.includes('"succeeded"'), 30_000, 'the command ended');
    const raw = await server.myx(['logs', id, '--stream', 'stdout']);
    assert.deepEqual([raw.code, raw.stdout], [0, 'a \x1b[31mred\x1b[0m \x1b]0;title\x07word\n'], 'as the command printed it');
    const stripped = await server.myx(['logs', id, '--stream', 'stdout', '--strip-control']);
    assert.equal(stripped.stdout, 'a red word\n');
    assert.equal((await server.myx(['logs', id, '--stream', 'stderr'])).stdout, 'to stderr\n');
    assert.equal((await server.myx(['logs', id])).stdout, 'a \x1b[31mred\x1b[0m \x1b]0;title\x07word\nto stderr\n', 'both, as printed');
    const missing = await server.myx(['logs', 'cmd_nope']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no command with id cmd_nope/);
  });
});

describe('output retention: by age and by total size, the oldest finished first; records and summaries stay', () => {
  const dir = tempDir();
  const servers: TestServer[] = [];
  const agents: TestAgent[] = [];
  after(async () => {
    await Promise.all(agents.map((a) => a.proc.kill()));
    await Promise.all(servers.map((s) => s.proc.kill()));
    closePool();
  });

  /** A control plane with these retention flags, an agent, and a way to run and read. */
  async function setUp(name: string, flags: string[]) {
    const server = await startServer(join(dir, name), ['--heartbeat-interval', '0.5', ...flags]);
    servers.push(server);
    agents.push(await startAgent(await enrollAgent(server, join(dir, name), name)));
    const token = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    const op = (path: string) => send(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const runDone = async (script: string) => {
      const r = await send(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${token}` }, json: { targets: { agents: [name] }, command: 'sh', args: ['-c', script] } });
      const id = (r.body as RunResponse).commands[0]!.id;
      await eventually(async () => ((await op(`/api/commands/${id}`)).body as CommandRecord).status === 'succeeded', 30_000, `${id} succeeded`);
      return id;
    };
    const page = async (id: string) => (await op(`/api/commands/${id}/output?stream=stdout`)).body as OutputPage;
    return { server, op, runDone, page };
  }

  test('past --output-retention the full output is dropped: the API says so and serves the summary, myx logs tells it, myx show is unchanged', async () => {
    const { server, runDone, page, op } = await setUp('age', ['--output-retention', '2s']);
    const id = await runDone('echo hello; echo oops >&2');
    const dropped = await eventually(async () => {
      const p = await page(id);
      return p.source === 'summary' ? p : null;
    }, 30_000, 'the output dropped by retention');
    assert.deepEqual([dropped.data, dropped.total_bytes, dropped.eof], ['hello\n', 6, true]);
    assert.match(dropped.dropped_at ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.match(dropped.notice ?? '', /dropped by retention at .*this is the summary the result keeps/);
    const c = (await op(`/api/commands/${id}`)).body as CommandRecord;
    assert.deepEqual([c.status, c.stdout, c.stderr], ['succeeded', 'hello\n', 'oops\n'], 'the record stays');
    const logs = await server.myx(['logs', id]);
    assert.deepEqual([logs.code, logs.stdout], [0, 'hello\noops\n']);
    assert.match(logs.stderr, /full output was dropped by retention/);
    assert.match((await server.myx(['show', id])).stdout, /--- stdout \(6 bytes\) ---\nhello\n/);
    assert.match(server.proc.output(), /output retention: dropped the kept output of commands finished more than 2 s ago/);
  });

  test('past --output-retention-size the oldest finished commands lose their full output first, until the rest fits', async () => {
    const { server, runDone, page } = await setUp('size', ['--output-retention-size', '1MiB']);
    const print = (ch: string) => `yes ${ch} | head -c 600000`;
    const older = await runDone(print('a'));
    assert.equal((await page(older)).source, 'full');
    const newer = await runDone(print('b'));
    await eventually(async () => (await page(older)).source === 'summary', 30_000, 'the older output dropped');
    const kept = await page(newer);
    assert.deepEqual([kept.source, kept.total_bytes, kept.kept, kept.data.slice(0, 4)], ['full', 600000, null, 'b\nb\n'], 'the newer one stays whole');
    assert.match(server.proc.output(), /output retention: dropped the kept output of the oldest finished commands, all kept output being over 1048576 bytes/);
  });
});

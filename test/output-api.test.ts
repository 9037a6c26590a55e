// The paged output API's contract (GET /api/commands/:id/output and /output/raw), which the web
// console and `myx logs` read: byte offsets that never split a character, pages that put the whole
// text back together, the last lines, follow until eof, the raw download, and bad input refused.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CommandRecord, OutputPage, RunResponse } from '../src/protocol/wire.ts';
import { enrollAgent, eventually, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';
import { closePool, send } from './raw-http.ts';

describe('the paged output API', () => {
  const dir = tempDir();
  let server: TestServer;
  let agent: TestAgent;
  let token: string;
  const get = (path: string) => send(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const run = async (args: string[]) => {
    const r = await send(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${token}` }, json: { targets: { agents: ['out-1'] }, command: 'sh', args: ['-c', ...args] } });
    assert.equal(r.status, 201, r.text);
    return (r.body as RunResponse).commands[0]!.id;
  };
  const finished = (id: string) => eventually(async () => {
    const c = (await get(`/api/commands/${id}`)).body as CommandRecord;
    return c.status === 'succeeded' ? c : null;
  }, 20_000, `${id} ended`);

  const rawBytes = (path: string) => new Promise<Buffer>((resolve, reject) => {
    httpsGet(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve(Buffer.concat(parts)));
    }).on('error', reject);
  });

  before(async () => {
    server = await startServer(dir);
    agent = await startAgent(await enrollAgent(server, dir, 'out-1'));
    token = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
  });
  after(async () => {
    await agent?.proc.kill();
    await server?.proc.kill();
    closePool();
  });

  test('pages of a few bytes never split a character and put the exact text back together; tail gives the last lines', async () => {
    const id = await run(['for i in 1 2 3 4 5; do echo "line $i: aé€😀"; done; echo "to stderr é" >&2']);
    await finished(id);
    const whole = (await get(`/api/commands/${id}/output?stream=stdout`)).body as OutputPage;
    const expected = Array.from({ length: 5 }, (_, i) => `line ${i + 1}: aé€😀\n`).join('');
    assert.deepEqual([whole.data, whole.offset, whole.next_offset, whole.total_bytes, whole.kept, whole.eof],
      [expected, 0, Buffer.byteLength(expected), Buffer.byteLength(expected), null, true]);
    for (const limit of [1, 2, 3, 5, 7]) {
      let offset = 0;
      let text = '';
      for (let pages = 0; ; pages++) {
        assert.ok(pages < 500);
        const p = (await get(`/api/commands/${id}/output?stream=stdout&offset=${offset}&limit=${limit}`)).body as OutputPage;
        assert.equal(p.offset, offset);
        assert.ok(!p.data.includes('\ufffd'), `limit ${limit}: a split character at ${offset}`);
        text += p.data;
        offset = p.next_offset;
        if (p.eof) break;
      }
      assert.equal(text, expected, `limit ${limit}`);
    }
    const tail = (await get(`/api/commands/${id}/output?stream=stdout&tail=2`)).body as OutputPage;
    assert.equal(tail.data, 'line 4: aé€😀\nline 5: aé€😀\n');
    assert.equal(tail.next_offset, Buffer.byteLength(expected));
    const stderr = (await get(`/api/commands/${id}/output?stream=stderr`)).body as OutputPage;
    assert.equal(stderr.data, 'to stderr é\n');
    const all = (await get(`/api/commands/${id}/output`)).body as OutputPage;
    assert.equal(all.stream, 'all');
    assert.equal(all.total_bytes, Buffer.byteLength(expected) + Buffer.byteLength('to stderr é\n'));
    const raw = await get(`/api/commands/${id}/output/raw?stream=stdout`);
    assert.equal(raw.text, expected);
    assert.match(String(raw.headers['content-type']), /^text\/plain/);
    assert.equal(raw.headers['content-disposition'], `attachment; filename="${id}-stdout.txt"`);
  });

  test('following a running command from next_offset gets every byte once, then eof', async () => {
    const id = await run(['for i in $(seq 1 12); do echo "n$i"; sleep 0.1; done']);
    let offset = 0;
    let text = '';
    for (let i = 0; i < 400; i++) {
      const p = (await get(`/api/commands/${id}/output?stream=stdout&offset=${offset}`)).body as OutputPage;
      text += p.data;
      offset = p.next_offset;
      if (p.eof) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(text, Array.from({ length: 12 }, (_, i) => `n${i + 1}\n`).join(''));
  });

  test('the page before an offset, and a follower\'s page that waits for output', async () => {
    const id = await run(['printf "one\\ntwo\\nthree\\n"; sleep 1; echo four']);
    const before = (await eventually(async () => {
      const p = (await get(`/api/commands/${id}/output?stream=stdout&before=14&limit=8`)).body as OutputPage;
      return p.data.length > 0 ? p : null;
    }, 20_000, 'the first lines')) as OutputPage;
    assert.deepEqual([before.offset, before.next_offset, before.data], [6, 14, 'o\nthree\n']);
    // a follower at the end waits (up to `wait` seconds) for what comes next instead of asking again and again
    const next = (await get(`/api/commands/${id}/output?stream=stdout&offset=14&wait=20`)).body as OutputPage;
    assert.equal(next.data, 'four\n');
    await finished(id);
    const end = (await get(`/api/commands/${id}/output?stream=stdout&offset=19&wait=20`)).body as OutputPage;
    assert.deepEqual([end.data, end.eof, end.source], ['', true, 'full'], 'at the end of a final command: eof at once');
  });

  test('bytes that are not UTF-8 are kept as they are: the raw download gives them back, pages show U+FFFD and never cut a character', async () => {
    // an invalid byte, NUL, a bad sequence, text, a 3-byte character, and a 3-byte character cut short at the end
    const id = await run([String.raw`printf '\377\000\303\050abc\342\202\254\342\202'`]);
    await finished(id);
    const raw = await rawBytes(`/api/commands/${id}/output/raw?stream=stdout`);
    assert.deepEqual([...raw], [0xff, 0x00, 0xc3, 0x28, 0x61, 0x62, 0x63, 0xe2, 0x82, 0xac, 0xe2, 0x82]);
    const page = (await get(`/api/commands/${id}/output?stream=stdout`)).body as OutputPage;
    assert.deepEqual([page.data, page.total_bytes, page.next_offset], ['\ufffd\u0000\ufffd(abc€\ufffd', 12, 12]);
    const inside = (await get(`/api/commands/${id}/output?stream=stdout&offset=8&limit=1`)).body as OutputPage;
    assert.deepEqual([inside.offset, inside.next_offset, inside.data], [7, 10, '€'], 'an offset inside a character starts the page at its start');
  });

  test('bad input gets a stable error code', async () => {
    const id = await run(['echo hi']);
    await finished(id);
    for (const [query, code] of [['tail=2&offset=0', 'BAD_REQUEST'], ['stream=both', 'BAD_REQUEST'], ['offset=-1', 'BAD_REQUEST'], ['limit=x', 'BAD_REQUEST'], ['x=1', 'BAD_REQUEST'],
      ['before=3&offset=0', 'BAD_REQUEST'], ['tail=1&limit=5', 'BAD_REQUEST'], ['wait=100', 'BAD_REQUEST'], ['wait=-1', 'BAD_REQUEST']] as const) {
      const r = await get(`/api/commands/${id}/output?${query}`);
      assert.deepEqual([r.status, r.body.error.code], [400, code], query);
    }
    assert.equal((await get(`/api/commands/${id}/output/raw?stream=all`)).status, 400);
    assert.equal((await get('/api/commands/cmd_nope/output')).body.error.code, 'COMMAND_NOT_FOUND');
    const far = (await get(`/api/commands/${id}/output?offset=999999`)).body as OutputPage;
    assert.deepEqual([far.data, far.next_offset, far.eof], ['', 999999, true]);
  });
});

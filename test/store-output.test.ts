// The store's complete output, on every backend: bytes kept per stream by offset (idempotent,
// capped: head, then a tail past a gap), reads of only the chunks a page needs, a final command
// taking nothing more, and retention dropping the output of the oldest finished commands.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandResult, OutputKeep } from '../src/protocol/wire.ts';
import type { Store } from '../src/server/store/store.ts';
import type { OutputBytes } from '../src/server/store/output-store.ts';
import { BACKENDS, freshStore } from './store-backends.ts';

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T02:00:00.000Z';
const KEEP: OutputKeep = { head_bytes: 10, tail_bytes: 4 };

const result = (stdout_bytes: number, finished_at = NOW): CommandResult => ({
  status: 'succeeded', exit_code: 0, signal: null, stdout: 'summary', stderr: '', stdout_bytes, stderr_bytes: 0,
  stdout_truncated: false, stderr_truncated: false, error: null, started_at: NOW, finished_at,
});

async function setUp(s: Store, ids: string[]): Promise<void> {
  await s.createEnrollmentToken({ id: 'enr_e', tokenHash: 'e', expiresAt: LATER }, NOW, 10);
  await s.enrollAgent('e', {
    id: 'a1', name: 'a1', token: 't', tokenHash: 'h', hostname: 'h', os: 'linux', version: '0', mode: 'web', web_port: 1,
    fingerprint: null, advertise_address: null, labels: {}, remote_address: null,
  }, NOW);
  await s.createRun({ id: 'r1', command: 'x', args: [], target: 't', max_concurrency: null, max_errors: null, requested_by: null },
    ids.map((id) => ({ id, status: 'queued', agent_id: 'a1', command: 'x', args: [], timeout: 5, env: null, cwd: null, expires_at: LATER })), NOW);
}

const piece = (stream: 'stdout' | 'stderr', offset: number, at: number, text: string, tail = false): OutputBytes =>
  ({ stream, offset, at, data: Buffer.from(text), ...(tail ? { tail: true } : {}) });

const append = (s: Store, id: string, pieces: OutputBytes[], keep = KEEP, totals?: { stdout: number; stderr: number }) =>
  s.appendOutput(id, 'a1', { chunks: [], pieces, ...(totals ? { totals } : {}) }, keep);

/** The kept bytes of a view as "position:text" per chunk. */
async function kept(s: Store, id: string, view: 'stdout' | 'stderr' | 'all'): Promise<string> {
  return (await s.readOutput(id, view, 0, 1 << 20)).map((c) => `${view === 'all' ? c.at : c.offset}:${Buffer.from(c.data).toString()}`).join(' ');
}

for (const backend of BACKENDS) {
  describe(`Store output: ${backend.name}`, { skip: backend.skip }, () => {
    test('pieces are kept by byte offset per stream: resends and overlaps add nothing, a gap is ignored, the head stops at the cap and a tail piece starts the tail', async (t) => {
      const s = await freshStore(backend, t);
      await setUp(s, ['c1']);
      const first = await append(s, 'c1', [piece('stdout', 0, 0, 'abcd'), piece('stderr', 0, 6, 'E')]);
      assert.deepEqual(first.kind === 'ok' && [first.next, first.keep, first.accepted, first.final], [{ stdout: 4, stderr: 1 }, KEEP, 5, false]);
      const overlap = await append(s, 'c1', [piece('stdout', 2, 2, 'cdef'), piece('stdout', 9, 9, 'zz')]);
      assert.deepEqual(overlap.kind === 'ok' && [overlap.next.stdout, overlap.accepted], [6, 2], 'the new part of an overlap; a piece past a gap is ignored');
      const full = await append(s, 'c1', [piece('stdout', 6, 7, 'ghijklmn')]);
      assert.deepEqual(full.kind === 'ok' && [full.next.stdout, full.accepted], [10, 4], 'the head stops at head_bytes');
      assert.deepEqual((await append(s, 'c1', [piece('stdout', 10, 11, 'more')])).kind === 'ok', true);
      assert.equal(await kept(s, 'c1', 'stdout'), '0:abcd 4:ef 6:ghij', 'nothing past the head without a tail piece');
      const tail = await append(s, 'c1', [piece('stdout', 100, 101, 'TAIL', true), piece('stdout', 104, 105, 'XY', true)], KEEP, { stdout: 106, stderr: 1 });
      assert.deepEqual(tail.kind === 'ok' && [tail.next.stdout, tail.accepted], [104, 4], 'the tail starts past the gap and takes tail_bytes at most');
      assert.equal(await kept(s, 'c1', 'stdout'), '0:abcd 4:ef 6:ghij 100:TAIL');
      assert.equal(await kept(s, 'c1', 'all'), '0:abcd 4:ef 6:E 7:ghij 101:TAIL');
      const state = (await s.outputState('c1'))!;
      assert.deepEqual([state.stdout, state.stderr, state.bytes, state.allEnd, state.dropped_at],
        [{ head: 10, tail_from: 100, end: 104, seen: 106 }, { head: 1, tail_from: null, end: 1, seen: 1 }, 15, 105, null]);
      assert.equal(await s.outputState('nope'), undefined);
    });

    test('a command keeps the limits of its first report, and a final command takes nothing more', async (t) => {
      const s = await freshStore(backend, t);
      await setUp(s, ['c1']);
      await append(s, 'c1', [piece('stdout', 0, 0, 'ab')], { head_bytes: 3, tail_bytes: 2 });
      const later = await append(s, 'c1', [piece('stdout', 2, 2, 'cdefgh')], { head_bytes: 100, tail_bytes: 50 });
      assert.deepEqual(later.kind === 'ok' && [later.keep, later.next.stdout], [{ head_bytes: 3, tail_bytes: 2 }, 3], 'a new cap does not change a running command');
      await s.recordResult('c1', 'a1', result(8), NOW);
      const after = await append(s, 'c1', [piece('stdout', 3, 3, 'x', true)]);
      assert.deepEqual(after.kind === 'ok' && [after.final, after.accepted], [true, 0]);
      assert.equal(await kept(s, 'c1', 'stdout'), '0:ab 2:c');
    });

    test('reads return only the chunks a page needs: from an offset, past a gap, before an offset, in a stream or as printed', async (t) => {
      const s = await freshStore(backend, t);
      await setUp(s, ['c1']);
      const keep = { head_bytes: 30, tail_bytes: 10 };
      // stdout in chunks of 5: 0-29 kept, then a tail at 95-104; stderr interleaved in `all`
      const pieces = Array.from({ length: 6 }, (_, i) => piece('stdout', i * 5, i * 6, String(i).repeat(5)));
      pieces.push(...[0, 1].map((i) => piece('stderr', i, i * 6 + 5, 'e')));
      await append(s, 'c1', pieces, keep);
      await append(s, 'c1', [piece('stdout', 95, 200, 'TTTTT', true), piece('stdout', 100, 205, 'UUUUU', true)], keep);
      const at = async (view: 'stdout' | 'all', from: number, max: number) => (await s.readOutput('c1', view, from, max)).map((c) => (view === 'all' ? c.at : c.offset));
      assert.deepEqual(await at('stdout', 7, 6), [5, 10], 'the chunk holding `from`, and those up to from + max');
      assert.deepEqual(await at('stdout', 30, 100), [95, 100], 'from inside the gap: where the kept bytes go on');
      assert.deepEqual(await at('stdout', 105, 10), [], 'nothing past the end');
      assert.deepEqual(await at('all', 5, 7), [5, 6, 11], 'as printed: both streams in order');
      const before = async (view: 'stdout' | 'all', b: number, max: number) => (await s.readOutputBefore('c1', view, b, max)).map((c) => (view === 'all' ? c.at : c.offset));
      assert.deepEqual(await before('stdout', 12, 6), [5, 10], 'the chunks holding [b - max, b)');
      assert.deepEqual(await before('stdout', 95, 8), [20, 25], 'before the tail: where the head ends');
      assert.deepEqual(await before('stdout', 0, 8), []);
      assert.deepEqual(await before('all', 210, 7), [200, 205]);
    });

    test('retention drops the output of finished commands past its age, then of the oldest while all of it is over the size; records stay, running ones keep theirs', async (t) => {
      const s = await freshStore(backend, t);
      await setUp(s, ['old', 'mid', 'new', 'running']);
      for (const id of ['old', 'mid', 'new', 'running']) await append(s, id, [piece('stdout', 0, 0, '0123456789')], { head_bytes: 1000, tail_bytes: 10 });
      const at = (h: number) => `2026-01-0${h}T00:00:00.000Z`;
      await s.recordResult('old', 'a1', result(10, at(1)), NOW);
      await s.recordResult('mid', 'a1', result(10, at(2)), NOW);
      await s.recordResult('new', 'a1', result(10, at(3)), NOW);
      const none = await s.pruneOutput({ finishedBefore: at(1), maxTotalBytes: 100 }, at(4), 10);
      assert.deepEqual(none, [], 'nothing is old or over the size');
      const byAge = await s.pruneOutput({ finishedBefore: at(2), maxTotalBytes: 100 }, at(4), 10);
      assert.deepEqual(byAge, [{ command_id: 'old', bytes: 10, reason: 'age' }]);
      const bySize = await s.pruneOutput({ finishedBefore: at(1), maxTotalBytes: 15 }, at(5), 10);
      assert.deepEqual(bySize, [{ command_id: 'mid', bytes: 10, reason: 'size' }, { command_id: 'new', bytes: 10, reason: 'size' }],
        'the oldest finished first, until the rest fits; a running command keeps its output even over the size');
      assert.deepEqual(await s.pruneOutput({ finishedBefore: at(9), maxTotalBytes: 0 }, at(6), 10), [], 'dropped once');
      for (const id of ['old', 'mid', 'new']) {
        const state = (await s.outputState(id))!;
        assert.deepEqual([state.bytes, state.dropped_at !== null, await kept(s, id, 'stdout')], [0, true, ''], id);
        assert.equal((await s.getCommands([id]))[0]!.stdout, 'summary', 'the record and its summary stay');
      }
      assert.equal((await s.outputState('old'))!.dropped_at, at(4));
      assert.equal(await kept(s, 'running', 'stdout'), '0:0123456789');
    });
  });
}

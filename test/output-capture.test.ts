// The executor's output cap: head and tail kept, the middle counted, bytes never mangled in
// the kept parts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputCapture } from '../src/agent/output-capture.ts';
import { startExecution } from '../src/agent/executor.ts';

test('under the limit everything is kept', () => {
  const c = new OutputCapture(100);
  c.push(Buffer.from('hello '));
  c.push(Buffer.from('world'));
  assert.deepEqual(c.result(), { text: 'hello world', total_bytes: 11, truncated: false });
});

test('over the limit the head and the tail are kept and the total recorded', () => {
  const c = new OutputCapture(10);
  for (const ch of 'abcdefghijklmnopqrstuvwxyz') c.push(Buffer.from(ch.repeat(3)));
  const r = c.result();
  assert.equal(r.total_bytes, 78);
  assert.equal(r.truncated, true);
  assert.equal(r.text, 'aaabb\n[... 68 bytes omitted ...]\nyyzzz');
});

test('a command printing 3 MB with a 64 KiB cap: capped, counted, nothing hangs', async () => {
  const r = await startExecution({
    command: 'sh', args: ['-c', 'head -c 3000000 /dev/zero | tr "\\0" x; echo END'], timeoutSeconds: 30, outputLimitBytes: 65536,
  }).done;
  assert.equal(r.status, 'succeeded');
  assert.equal(r.stdout.total_bytes, 3_000_004);
  assert.equal(r.stdout.truncated, true);
  assert.ok(r.stdout.text.startsWith('xxxx'));
  assert.ok(r.stdout.text.endsWith('xEND\n'));
  assert.ok(r.stdout.text.length < 70_000);
});

test('a background process holding stdout open does not keep the result waiting', async () => {
  const r = await startExecution({ command: 'sh', args: ['-c', 'sleep 30 & echo $!; echo started'], timeoutSeconds: 30 }).done;
  assert.equal(r.status, 'succeeded');
  assert.match(r.stdout.text, /started/);
  process.kill(Number(r.stdout.text.split('\n')[0]), 'SIGKILL');
});

test('cancel kills the group and reports cancelled', async () => {
  const run = startExecution({ command: 'sleep', args: ['60'], timeoutSeconds: 120, killGraceMs: 200 });
  setTimeout(() => run.cancel(), 100);
  const r = await run.done;
  assert.equal(r.status, 'cancelled');
  assert.equal(r.exit_code, null);
});

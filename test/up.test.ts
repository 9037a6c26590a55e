// `myx up` (npm start): a control plane and a local agent come up, and the printed `myx run`
// example works as printed from another process in the same folder.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MYX, runBin, startProc, tempDir } from './helpers.ts';
import { closePool, send } from './raw-http.ts';

test('myx up prints a myx run example that works as printed', async (t) => {
  const dir = tempDir(t);
  const up = startProc(MYX, ['up', '--port', '0', '--agent-port', '0'], {}, dir);
  t.after(() => up.kill());
  await up.waitFor(/Ctrl-C stops both/);
  const example = /^\s+npx myx (run .*)$/m.exec(up.output());
  assert.ok(example, `a run example is printed:\n${up.output()}`);
  const args = example[1]!.split(' ');
  const r = await runBin('myx', args, {}, 30_000, dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Linux/);
  const agents = /^\s+npx myx (agents .*)$/m.exec(up.output());
  const list = await runBin('myx', agents![1]!.split(' '), {}, 30_000, dir);
  assert.match(list.stdout, /^local\s+agt_\S+\s+online\s+web/m);
  // the web console is served where it says, and its token file is where it says
  const console = /^\s+web console\s+(https:\S+)\s+sign in with the token in (\S+)$/m.exec(up.output());
  assert.ok(console, up.output());
  t.after(closePool);
  const page = await send(console[1]!);
  assert.equal(page.status, 200);
  assert.match(page.text, /<title>myx console<\/title>/);
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(page.text)![1]!;
  assert.equal((await send(new URL(script, console[1]!).href)).status, 200);
  assert.equal((await send(`${console[1]!.replace(/\/$/, '')}/api/session`, { json: { token: readFileSync(join(dir, console[2]!), 'utf8').trim() } })).status, 201);
});

test('myx up again in the same folder reuses the enrolled agent', async (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 2; i++) {
    const up = startProc(MYX, ['up', '--port', '0', '--agent-port', '0'], {}, dir);
    await up.waitFor(/Ctrl-C stops both/);
    await up.kill('SIGINT');
    assert.equal(await up.exited, 0);
  }
});

// What agents report is shown to people on terminals and in logs: escape sequences (OSC 52 writes
// the clipboard), fake newlines and bidi overrides in any field must arrive escaped, in every view
// of the real CLI and in the control plane's log. Command output passes through raw, as with ssh,
// unless --strip-control asks for it without control sequences.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { createLogger } from '../src/common/logger.ts';
import { displayBlock, displayJson, displayText, stripControl } from '../src/protocol/display-text.ts';
import type { AgentView, CommandRecord } from '../src/protocol/wire.ts';
import { HOSTILE, HOSTILE_SHORT, HostileAgent, UNSAFE } from './hostile-agent.ts';
import { closePool } from './raw-http.ts';
import { createToken, enrollAgent, eventually, MYX, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';

/** Hostile output a real agent's command prints: OSC 52, colour, a title, a C1 CSI. */
const PRINTF_HOSTILE = String.raw`printf '\033]52;c;ZXZpbA==\007\033[31mred\033[0m \033]0;title\007\302\2332Jdone\n'`;
/** An argument of the operator's command with an escape sequence in it (shown by `myx commands`, `runs`, `show`). */
const HOSTILE_ARG = '\x1b]52;c;YXJn\x07arg';

/** No character of `text` is a terminal instruction. */
function assertSafe(text: string, where: string): void {
  const bad = UNSAFE.exec(text);
  assert.equal(bad, null, `${where}: a raw control character U+${bad?.[0].charCodeAt(0).toString(16).padStart(4, '0')} reaches the terminal in:\n${JSON.stringify(text)}`);
}

/** Safe, and no line of `text` was started by an agent (for views of fields; output has lines of its own). */
function assertFields(text: string, where: string): void {
  assertSafe(text, where);
  assert.ok(!text.split('\n').some((l) => l.startsWith('FORGED-LINE')), `${where}: an agent forged a line in:\n${text}`);
}

/** A `myx` process whose stdout and stderr are kept apart, with a way to wait for a stderr line. */
function myxProcess(server: TestServer, args: string[]) {
  const child = spawn(process.execPath, [MYX, ...args], { env: { ...process.env, MYX_DATA_DIR: server.dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return {
    exited, stdout: () => stdout, stderr: () => stderr,
    waitForStderr: (re: RegExp) => eventually(() => re.test(stderr), 20_000, `${re} on stderr of myx ${args[0]}; stderr so far: ${stderr}`),
    kill: () => child.kill('SIGKILL'),
  };
}

describe('terminal safety: agent-supplied text in every view', () => {
  let dir: string;
  let server: TestServer;
  let good: TestAgent;
  let evil: HostileAgent;
  let client: OperatorClient;
  /** The single-target run of the hostile agent: its command id. */
  let evilCommand: CommandRecord;

  before(async () => {
    dir = tempDir();
    // the log as a person reads it on a terminal
    server = await startServer(dir, ['--heartbeat-interval', '0.5'], { env: { MYX_LOG_FORMAT: 'pretty' } });
    good = await startAgent(await enrollAgent(server, dir, 'good'));
    evil = await HostileAgent.start(server.url, await createToken(server), dir, 'evil');
    await evil.heartbeat();
    client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
  });
  after(async () => {
    await client?.close();
    await evil?.close();
    closePool();
    await good?.proc.kill();
    await server?.proc.kill();
  });

  test('myx run: the "not delivered yet" notice and the status line show the agent\'s text escaped; output is raw', async () => {
    const run = myxProcess(server, ['run', '--agent', 'evil', '--', 'true', HOSTILE_ARG]);
    // the push fails with the agent's hostile error message; after a few seconds myx run says why it waits
    await run.waitForStderr(/not delivered yet/);
    [evilCommand] = await client.commands({ agent: 'evil' }) as [CommandRecord];
    assert.equal(evilCommand.last_push_error, HOSTILE, 'stored as the agent sent it');
    await evil.pickUp(evilCommand.id);
    await evil.report(evilCommand.id, { stdout: HOSTILE, stderr: '' });
    assert.equal(await run.exited, 1);
    assertFields(run.stderr(), 'myx run stderr');
    assert.match(run.stderr(), /evil: not delivered yet \(ok\\x1b\]52;c;ZXZpbA==\\x07\\x1b\[2J/, 'the attempt is visible, escaped');
    assert.match(run.stderr(), /evil: failed, exit 1, \\x1b\]52;c;eA==\\x07\\x0aFORGED-LINE\\u202e, .*ok\\x1b\]52;c;/);
    assert.equal(run.stdout(), HOSTILE, 'command output passes through raw, as ssh does (README: Security)');

    const stripped = myxProcess(server, ['run', '--agent', 'evil', '--strip-control', '--', 'true']);
    const second = await eventually(async () => {
      const list = await client.commands({ agent: 'evil' });
      return list.length === 2 ? list[0] : undefined;
    }, 20_000, 'the second command');
    await evil.pickUp(second.id);
    await evil.report(second.id, { stdout: HOSTILE, stderr: HOSTILE });
    assert.equal(await stripped.exited, 1);
    assertSafe(stripped.stdout(), 'myx run --strip-control stdout');
    assertSafe(stripped.stderr(), 'myx run --strip-control stderr'); // a single target's stderr output is there too
    assert.ok(!stripped.stdout().includes(']52;'), 'the clipboard write is gone, not just escaped');
    assert.match(stripped.stdout(), /^okred\nFORGED-LINE evil: \[succeeded\]\\u202eevil/, 'the rest escaped (only a run of several agents prefixes lines)');
  });

  test('myx run on several agents with --strip-control: prefixed lines, real and fake output alike, nothing raw', async () => {
    const run = myxProcess(server, ['run', '--all', '--strip-control', '--', 'sh', '-c', PRINTF_HOSTILE]);
    const id = await eventually(async () => {
      const [latest] = await client.commands({ agent: 'evil', limit: 1 });
      return latest?.args[1] === PRINTF_HOSTILE ? latest.id : undefined;
    }, 20_000, 'the run\'s command for evil');
    await evil.pickUp(id);
    await evil.report(id, { stdout: HOSTILE, stderr: HOSTILE });
    assert.equal(await run.exited, 1);
    assertFields(run.stdout(), 'stdout'); // with several agents, every output line starts with its agent's name
    assertFields(run.stderr(), 'stderr');
    assert.match(run.stdout(), /^good: red done$/m, 'a real agent\'s escape sequences are removed');
    assert.match(run.stdout(), /^evil: okred$/m);
    assert.match(run.stderr(), /^evil: \[failed, exit 1, /m);
  });

  test('myx agents, agents label, show, commands, runs: every field an agent reported is escaped, none forges a line', async () => {
    const views: [string, string[]][] = [
      ['agents', ['agents']],
      ['agents label', ['agents', 'label', 'evil', 'role=web']],
      ['show command', ['show', evilCommand.id]],
      ['show command --strip-control', ['show', '--strip-control', evilCommand.id]],
      ['show run', ['show', evilCommand.run_id!]],
      ['commands', ['commands']],
      ['runs', ['runs']],
    ];
    for (const [name, args] of views) {
      const r = await server.myx(args);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assertSafe(r.stdout, `myx ${name}`);
      assertSafe(r.stderr, `myx ${name} (stderr)`);
      // the fields, up to where the command's output is shown
      assertFields(r.stdout.split(/^--- std|^── /m)[0]!, `myx ${name}: fields`);
    }
    const agents = (await server.myx(['agents'])).stdout;
    assert.match(agents, /^evil .* ok\\x1b\]52;c;ZXZpbA==\\x07\\x1b\[2J\\x1b\[31mred/m, 'hostname, escaped, in the table');
    assert.match(agents, /^evil: push failing \(ok\\x1b\]52;c;/m, 'the push error, escaped, in the footer');
    assert.match((await server.myx(['agents', 'label', 'evil', 'role=web'])).stdout, /^evil: note=ok\\x1b\]52;c;ZXZpbA==\\x07.* role=web\n$/);

    const shown = (await server.myx(['show', evilCommand.id])).stdout;
    assert.equal(shown.split('\n').filter((l) => l.startsWith('status:')).length, 1);
    assert.match(shown, /^status: +failed, exit 1, \\x1b\]52;c;eA==\\x07\\x0aFORGED-LINE\\u202e, /m, 'signal and error on one line');
    assert.match(shown, /^push error: +ok\\x1b\]52;c;/m);
    assert.match(shown, /^command: +\["true","\\u001b\]52;c;YXJn\\u0007arg"\]$/m, 'argv as JSON');
    assert.match(shown, /--- stdout \(\d+ bytes\) ---\nok\\x1b\]52;c;ZXZpbA==\\x07/, 'output escaped by default in myx show');
    const strippedShow = (await server.myx(['show', '--strip-control', evilCommand.id])).stdout;
    assert.match(strippedShow, /--- stdout \(\d+ bytes\) ---\nokred\n/, '--strip-control removes the sequences instead');
    assert.match((await server.myx(['commands'])).stdout, /true \\x1b\]52;c;YXJn\\x07arg/);

    // JSON keeps the data exactly, with nothing raw a terminal would act on
    for (const args of [['agents', '--json'], ['show', '--json', evilCommand.id], ['commands', '--json'], ['show', '--json', evilCommand.run_id!]]) {
      const r = await server.myx(args);
      assertSafe(r.stdout, `myx ${args.join(' ')}`);
    }
    const list = JSON.parse((await server.myx(['agents', '--json'])).stdout) as AgentView[];
    const e = list.find((a) => a.name === 'evil')!;
    assert.deepEqual([e.hostname, e.os, e.version, e.labels.note, e.push.error], [HOSTILE, HOSTILE, HOSTILE_SHORT, HOSTILE, HOSTILE]);
    const record = JSON.parse((await server.myx(['show', '--json', evilCommand.id])).stdout) as CommandRecord;
    assert.deepEqual([record.error, record.signal, record.stdout], [HOSTILE, HOSTILE_SHORT, HOSTILE]);
  });

  test('the control plane\'s log on a terminal shows what agents sent escaped', async () => {
    const log = server.proc.output();
    assertSafe(log, 'control plane log');
    assert.match(log, /push failed, the command waits for the agent's heartbeat: ok\\x1b\]52;c;ZXZpbA==\\x07/, 'the push error went through the log, escaped');
  });
});

describe('display-text: the one sanitizer', () => {
  test('displayText escapes C0, DEL, C1, bidi controls and separators, newlines included; displayBlock keeps newlines and tabs', () => {
    assert.equal(displayText('a\x1b[31mb\nc\td\x7f\x85\u202e\u2066\u2028\u200fe'), 'a\\x1b[31mb\\x0ac\\x09d\\x7f\\x85\\u202e\\u2066\\u2028\\u200fe');
    assert.equal(displayBlock('line 1\n\tline 2\r\x1b]52;c;x\x07'), 'line 1\n\tline 2\\x0d\\x1b]52;c;x\\x07');
    assert.equal(displayText('plain, ünïcödé, 日本, emoji 🙂, back\\slash'), 'plain, ünïcödé, 日本, emoji 🙂, back\\slash');
    assertFields(displayText(HOSTILE), 'displayText');
  });

  test('stripControl removes whole sequences (CSI, OSC, DCS, C1 forms, unterminated ones) and escapes what is left', () => {
    assert.equal(stripControl('\x1b[1;31mred\x1b[0m \x1b]0;title\x07\x1b]52;c;ZXZpbA==\x1b\\ok\r\n'), 'red ok\n');
    assert.equal(stripControl('\x9b2Ja\x9d8;;http://x\x9cb\x1bPq#0;2;0\x1b\\c\x1b(Bd\x1b7e'), 'abcde');
    assert.equal(stripControl('cut \x1b]52;c;never ends'), 'cut ');
    assert.equal(stripControl('progress 10%\rprogress 20%\x08\x00'), 'progress 10%\\x0dprogress 20%\\x08\\x00');
    assertSafe(stripControl(HOSTILE), 'stripControl');
  });

  test('displayJson is the same JSON value, with nothing raw that a terminal acts on', () => {
    const value = { s: HOSTILE, n: [1, HOSTILE_SHORT], '\u202ekey': 'x' };
    const text = displayJson(value, 2);
    assertSafe(text, 'displayJson');
    assert.deepEqual(JSON.parse(text), value);
  });

  test('the JSON log escapes the same characters and keeps the values', () => {
    let out = '';
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { out += chunk.toString(); done(); } });
    createLogger({ name: 't', format: 'json', destination: sink }).warn({ hostname: HOSTILE }, `push failed: ${HOSTILE}`);
    assertSafe(out.trimEnd(), 'JSON log line');
    const rec = JSON.parse(out) as { hostname: string; msg: string };
    assert.deepEqual([rec.hostname, rec.msg], [HOSTILE, `push failed: ${HOSTILE}`]);
    out = '';
    createLogger({ name: 't', format: 'pretty', destination: sink }).warn({ hostname: HOSTILE }, `push failed: ${HOSTILE}`);
    assertSafe(out.trimEnd(), 'pretty log line');
    assert.equal(out.split('\n').length, 2, 'one line');
  });
});

// Every `myx` command that talks to a control plane takes the connection flags (--data-dir, or
// --server/--token/--fingerprint) wherever they are written: after the command, before its
// arguments, and between a group and its sub-command (`myx agents --data-dir D remove X`). The
// list of commands is read from `myx --help`, so a new command cannot be left out of this test.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { MYX_VERSION } from '../src/protocol/version.ts';
import { closePool, send } from './raw-http.ts';
import { createToken, enrollAgent, runBin, startAgent, startServer, tempDir, type CliResult, type TestAgent, type TestServer } from './helpers.ts';

/** Commands that do not talk to a control plane (they start one, or work on its database). */
const NOT_CLIENTS = new Set(['server', 'up', 'help', 'store']);

/** The command paths `myx --help` lists, sub-commands of groups included (`agents remove`). */
async function commandPaths(cwd: string): Promise<string[][]> {
  const listed = async (path: string[]) => {
    const help = (await runBin('myx', [...path, '--help'], {}, 30_000, cwd)).stdout;
    const section = help.split(/^Commands:\n/m)[1] ?? '';
    return [...section.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!);
  };
  const paths: string[][] = [];
  for (const name of (await listed([])).filter((n) => !NOT_CLIENTS.has(n))) {
    const subs = await listed([name]);
    // commander lists `help` in a group that does nothing by itself (`myx token`); `myx agents` lists agents
    if (!subs.includes('help')) paths.push([name]);
    for (const sub of subs.filter((n) => !NOT_CLIENTS.has(n))) paths.push([name, sub]);
  }
  return paths;
}

describe('connection flags on every command', () => {
  let dir: string;
  let cwd: string;
  let server: TestServer;
  let agent: TestAgent;
  let client: OperatorClient;
  let styles: Record<string, string[]>;
  let dummies = 0;

  before(async () => {
    dir = tempDir();
    cwd = join(dir, 'elsewhere'); // no ./myx-data or ./.myx here: without flags, nothing is found
    await import('node:fs/promises').then((fs) => fs.mkdir(cwd));
    // a release of the version the agent runs: `agents upgrade` has nothing to do but say so
    const release = join(dir, 'release');
    mkdirSync(release);
    const script = `#!/bin/sh\necho ${MYX_VERSION}\n`;
    writeFileSync(join(release, 'myx-agent'), script, { mode: 0o755 });
    writeFileSync(join(release, 'SHA256SUMS'), `${createHash('sha256').update(script).digest('hex')}  myx-agent\n`);
    server = await startServer(dir, ['--release-dir', release]);
    agent = await startAgent(await enrollAgent(server, dir, 'conn'));
    client = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
    const operatorToken = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    styles = {
      'data dir': ['--data-dir', server.dataDir],
      'server, token, fingerprint': ['--server', server.url, '--token', operatorToken, '--fingerprint', server.fingerprint],
    };
  });
  after(async () => {
    await client?.close();
    closePool();
    await agent?.proc.kill();
    await server?.proc.kill();
  });

  /** An enrolled agent that never runs: something to remove, or a command that stays queued. */
  async function dummyAgent(): Promise<string> {
    const name = `dummy-${++dummies}`;
    const facts = { name, hostname: 'h', os: 'linux', version: '0', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null, labels: {} };
    const r = await send(`${server.url}/api/agents/register`, { json: { enrollment_token: await createToken(server), ...facts } });
    assert.equal(r.status, 201, r.text);
    return name;
  }

  /**
   * Each command as [path, arguments, expected exit code, what stdout shows]; `fresh` makes what a
   * command uses up (an agent to remove, a command to cancel, a token to revoke).
   */
  const invocations: Record<string, () => Promise<{ args: string[]; code?: number; out: RegExp }>> = {
    'token create': async () => ({ args: ['--ttl', '5m'], out: /^Enrollment token enr_/ }),
    'token list': async () => ({ args: [], out: /^ID +STATE/ }),
    'token revoke': async () => ({ args: [(await client.createEnrollmentToken(60)).id], out: /revoked: it can no longer enroll an agent/ }),
    agents: async () => ({ args: [], out: /^conn +agt_/m }),
    'agents remove': async () => ({ args: [await dummyAgent()], out: /^removed agent dummy-\d+/ }),
    'agents label': async () => ({ args: ['conn', 'role=web'], out: /^conn: role=web\n$/ }),
    'agents upgrade': async () => ({ args: ['--agent', 'conn'], out: /^already on \d/ }),
    run: async () => ({ args: ['--agent', 'conn', '--', 'echo', 'hi'], out: /^hi\n$/ }),
    runs: async () => ({ args: [], out: /^ID +CREATED/ }),
    replicas: async () => ({ args: [], out: /^URL +ID +SWEEPER.*\n.*\(this one\) +rpl_/ }),
    show: async () => ({ args: [(await client.createCommands({ targets: { agents: ['conn'] }, command: 'true' }))[0]!.id], out: /^id: +cmd_/ }),
    commands: async () => ({ args: [], out: /^ID +AGENT/ }),
    logs: async () => {
      const [c] = await client.createCommands({ targets: { agents: ['conn'] }, command: 'echo', args: ['logged'] });
      await client.wait([c!.id], 30);
      return { args: [c!.id], out: /^logged\n$/ };
    },
    cancel: async () => {
      const [c] = await client.createCommands({ targets: { agents: [await dummyAgent()] }, command: 'true' });
      return { args: [c!.id], out: /cancelled before it was delivered/ };
    },
    'operators add': async () => ({ args: [`person-${++dummies}`, '--role', 'viewer'], out: /^Operator person-\d+ added \(viewer/ }),
    'operators list': async () => ({ args: [], out: /^NAME +ROLE +SCOPE/ }),
    'operators remove': async () => ({ args: [(await client.addOperator({ name: `person-${++dummies}`, role: 'viewer' })).operator.name], out: /^removed operator person-/ }),
    'operators rotate': async () => ({ args: [(await client.addOperator({ name: `person-${++dummies}`, role: 'viewer' })).operator.name], out: /has a new token/ }),
    audit: async () => ({ args: ['--since', '1h'], out: /^SEQ +TIME +ACTOR/ }),
    'audit verify': async () => ({ args: [], out: /^audit log intact: \d+ entries/ }),
    'webhooks add': async () => ({ args: [`http://127.0.0.1:9/conn-${++dummies}`, '--events', 'run.finished'], out: /^Webhook whk_\S+ added: run\.finished to http/ }),
    'webhooks list': async () => ({ args: [], out: /^(ID +URL +EVENTS|No webhooks)/ }),
    'webhooks remove': async () => ({ args: [(await client.addWebhook({ url: 'http://127.0.0.1:9/gone', events: ['run.finished'] })).webhook.id], out: /^removed webhook whk_/ }),
    'webhooks deliveries': async () => ({ args: [(await client.addWebhook({ url: 'http://127.0.0.1:9/seen', events: ['run.finished'] })).webhook.id], out: /^No deliveries yet/ }),
  };

  test('the list of commands is the one myx --help shows', async () => {
    assert.deepEqual((await commandPaths(cwd)).map((p) => p.join(' ')).sort(), Object.keys(invocations).sort());
  });

  test('without flags, a command says where the control plane could not be found', async () => {
    const r = await runBin('myx', ['agents'], {}, 30_000, cwd);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot find the control plane/);
  });

  test('every command works with --data-dir and with --server/--token/--fingerprint, wherever they are written', async (t) => {
    let runs = 0;
    for (const path of await commandPaths(cwd)) {
      for (const [style, flags] of Object.entries(styles)) {
        const make = invocations[path.join(' ')]!;
        const run = (args: string[]) => runBin('myx', args, {}, 60_000, cwd);
        const placements: [string, (a: string[]) => string[]][] = [
          ['after the command', (a) => [...path, ...flags, ...a]],
          ['at the end', (a) => (a.includes('--') ? [...path, ...a.slice(0, a.indexOf('--')), ...flags, ...a.slice(a.indexOf('--'))] : [...path, ...a, ...flags])],
          ...(path.length > 1 ? [['between the group and its command', (a: string[]) => [path[0]!, ...flags, ...path.slice(1), ...a]] as [string, (a: string[]) => string[]]] : []),
        ];
        for (const [where, place] of placements) {
          const { args, code = 0, out } = await make();
          const r: CliResult = await run(place(args));
          const what = `myx ${path.join(' ')} with ${style} ${where}`;
          assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stderr}`);
          assert.match(r.stdout, out, `${what}: stdout\n${r.stdout}`);
          runs++;
        }
      }
    }
    t.diagnostic(`${runs} CLI runs`);
  });
});

// Named operators through the real CLI: `myx operators add | list | remove | rotate` (a token
// printed once, working at once; never listed; removed or rotated, it and its console sessions
// stop working at once), the first start's token is an admin's, a data dir from before operators
// keeps working, and who asked for a run shows in `myx runs`, `myx commands` and `myx show`.

import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openSqlite } from '../src/common/sqlite.ts';
import type { CommandRecord, OperatorTokenResponse, OperatorView, RunRecord } from '../src/protocol/wire.ts';
import { hashToken } from '../src/server/secrets.ts';
import { SERVER_MIGRATIONS } from '../src/server/store/sqlite-migrations.ts';
import { runBin, startServer, tempDir, type CliResult, type TestServer } from './helpers.ts';
import { closePool, send } from './raw-http.ts';

describe('myx operators', () => {
  const dir = tempDir();
  let server: TestServer;
  /** `myx` as the operator holding `token`, told where the control plane is through the environment (never in arguments). */
  const as = (token: string, args: string[]): Promise<CliResult> =>
    runBin('myx', args, { MYX_SERVER: server.url, MYX_TOKEN: token, MYX_SERVER_FINGERPRINT: server.fingerprint });

  before(async () => {
    server = await startServer(dir);
  });
  after(async () => {
    closePool();
    await server?.proc.kill();
  });

  test('the first start\'s token (operator.token in the data dir) is an admin\'s, named admin', async () => {
    const list = await server.myx(['operators', 'list', '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as OperatorView[]).map((o) => [o.name, o.role, o.scope]), [['admin', 'admin', {}]]);
    const who = await send(`${server.url}/api/session`, { headers: { authorization: `Bearer ${readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim()}` } });
    assert.deepEqual(who.body, { via: 'token', operator: { name: 'admin', role: 'admin', scope: {} } });
  });

  test('add prints the token once; it works at once with its role and scope; list shows name, role, scope, created, last used, never a token', async () => {
    const added = await server.myx(['operators', 'add', 'alice', '--role', 'viewer', '--scope', 'env=staging', '--scope', 'team=web']);
    assert.equal(added.code, 0, added.stderr);
    const token = /^\s+(myxo_\S+)$/m.exec(added.stdout)![1]!;
    assert.match(added.stdout, /Operator alice added \(viewer, scope: env=staging,team=web\)\. Its token, shown this once/);
    const agents = await as(token, ['agents', '--json']);
    assert.equal(agents.code, 0, agents.stderr);
    const refused = await as(token, ['run', '--all', '--', 'true']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /this needs the operator role or higher; operator alice is a viewer/);
    const table = await server.myx(['operators', 'list']);
    assert.match(table.stdout, /^NAME +ROLE +SCOPE +CREATED +LAST USED$/m);
    assert.match(table.stdout, /^alice +viewer +env=staging,team=web +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/m, 'used just now');
    const json = await server.myx(['operators', 'list', '--json']);
    assert.ok(!json.stdout.includes(token) && !table.stdout.includes(token), 'no token listed');
    assert.ok(!server.proc.output().includes(token), 'nor logged');

    const again = await server.myx(['operators', 'add', 'alice', '--role', 'admin']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /an operator named "alice" exists already/);
    const scopedAdmin = await server.myx(['operators', 'add', 'carol', '--role', 'admin', '--scope', 'env=prod']);
    assert.match(scopedAdmin.stderr, /give a scope to viewers and operators only/);
    const noRole = await server.myx(['operators', 'add', 'dave']);
    assert.match(noRole.stderr, /--role/);
  });

  test('remove: its token and its console sessions stop working at once', async () => {
    const bob = JSON.parse((await server.myx(['operators', 'add', 'bob', '--role', 'operator', '--json'])).stdout) as OperatorTokenResponse;
    const signIn = await send(`${server.url}/api/session`, { json: { token: bob.token } });
    assert.equal(signIn.status, 201);
    assert.deepEqual(signIn.body.operator, { name: 'bob', role: 'operator', scope: {} }, 'the session carries who signed in');
    const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
    assert.equal((await send(`${server.url}/api/agents`, { headers: { cookie } })).status, 200);
    const removed = await server.myx(['operators', 'remove', 'bob']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /removed operator bob: its token and its 1 console session no longer work/);
    assert.equal((await send(`${server.url}/api/agents`, { headers: { cookie } })).body.error.code, 'SESSION_INVALID');
    const r = await as(bob.token, ['agents']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /operator token is not valid/);
    assert.match((await server.myx(['operators', 'remove', 'bob'])).stderr, /no operator named "bob"/);
    assert.match((await server.myx(['operators', 'remove', 'admin'])).stderr, /admin is the last admin: add another admin first/);
  });

  test('rotate: a new token printed once, the old one (and its sessions) invalid at once; rotating oneself says so', async () => {
    const carol = JSON.parse((await server.myx(['operators', 'add', 'carol', '--role', 'admin', '--json'])).stdout) as OperatorTokenResponse;
    const rotated = await server.myx(['operators', 'rotate', 'carol']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const fresh = /^\s+(myxo_\S+)$/m.exec(rotated.stdout)![1]!;
    assert.notEqual(fresh, carol.token);
    assert.match((await as(carol.token, ['agents'])).stderr, /operator token is not valid/);
    assert.equal((await as(fresh, ['agents'])).code, 0);
    const self = await as(fresh, ['operators', 'rotate', 'carol']);
    assert.match(self.stdout, /That was your own token: use this one from now on/);
    assert.match((await as(fresh, ['agents'])).stderr, /operator token is not valid/);
  });

  test('runs and commands say who asked for them: myx runs, myx commands, myx show, and their JSON', async () => {
    const erin = JSON.parse((await server.myx(['operators', 'add', 'erin', '--role', 'operator', '--json'])).stdout) as OperatorTokenResponse;
    const token = JSON.parse((await server.myx(['token', 'create', '--json'])).stdout).token as string;
    const reg = await send(`${server.url}/api/agents/register`, {
      json: { enrollment_token: token, name: 'idle-1', hostname: 'h', os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null, labels: {} },
    });
    assert.equal(reg.status, 201);
    const run = await send(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${erin.token}` }, json: { targets: { all: true }, command: 'true' } });
    assert.equal(run.status, 201, run.text);
    const runs = await server.myx(['runs']);
    assert.match(runs.stdout, /^ID +CREATED +BY +STATE/m);
    assert.match(runs.stdout, new RegExp(`^${run.body.run.id} +\\S+ \\S+ +erin +running`, 'm'));
    assert.match((await server.myx(['commands'])).stdout, new RegExp(`^${run.body.commands[0].id} +idle-1 +queued +- +\\S+ \\S+ +erin +true$`, 'm'));
    assert.match((await server.myx(['show', run.body.run.id])).stdout, /^requested by: erin$/m);
    assert.match((await server.myx(['show', run.body.commands[0].id])).stdout, /^requested by: erin$/m);
    assert.equal((JSON.parse((await server.myx(['runs', '--json'])).stdout) as RunRecord[])[0]!.requested_by, 'erin');
    assert.equal((JSON.parse((await server.myx(['commands', '--json'])).stdout) as CommandRecord[])[0]!.requested_by, 'erin');
  });
});

test('a data dir from before operators keeps working: its token is the admin\'s; a token rotated away stays invalid after a restart', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'server');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = 'myxo_from-an-older-version-0000000000000000000000';
  writeFileSync(join(dataDir, 'operator.token'), `${token}\n`, { mode: 0o600 });
  closeSync(openSync(join(dataDir, 'myx.db'), 'a', 0o600));
  const old = openSqlite(join(dataDir, 'myx.db'), SERVER_MIGRATIONS.filter((m) => m.version <= 7));
  const then = '2025-06-01T00:00:00.000Z';
  old.exec(`INSERT INTO operator_tokens (token_hash, name, created_at) VALUES ('${hashToken(token)}', 'initial', '${then}');
    INSERT INTO agents (id, name, token_hash, token, hostname, os, version, mode, enrolled_at) VALUES ('agt_old', 'old-1', 'h1', 't1', 'h', 'l', '0', 'poll', '${then}');
    INSERT INTO runs (id, command, args, target, created_at) VALUES ('run_old', 'true', '[]', 'all', '${then}');
    INSERT INTO commands (id, run_id, agent_id, command, args, timeout, status, created_at) VALUES ('cmd_old', 'run_old', 'agt_old', 'true', '[]', 5, 'succeeded', '${then}');`);
  old.close();
  let server = await startServer(dir);
  t.after(() => server.proc.kill());
  assert.equal(readFileSync(join(dataDir, 'operator.token'), 'utf8').trim(), token, 'the token file is kept');
  assert.deepEqual((JSON.parse((await server.myx(['operators', 'list', '--json'])).stdout) as OperatorView[]).map((o) => [o.name, o.role]), [['admin', 'admin']]);
  assert.match((await server.myx(['agents'])).stdout, /old-1/);
  assert.match((await server.myx(['runs'])).stdout, /^run_old +\S+ \S+ +- +done/m, 'no requester before operators had names');
  assert.match((await server.myx(['show', 'run_old'])).stdout, /^requested by: unknown \(before operators had names\)$/m);

  // rotated away, the file's token stays invalid across a restart (it is not brought back)
  const rotated = await server.myx(['operators', 'rotate', 'admin']);
  const fresh = /^\s+(myxo_\S+)$/m.exec(rotated.stdout)![1]!;
  await server.proc.kill();
  server = await startServer(dir);
  assert.match(server.proc.output(), /the operator token in .*operator\.token is no longer valid/);
  assert.match((await server.myx(['agents'])).stderr, /operator token is not valid/);
  writeFileSync(join(dataDir, 'operator.token'), `${fresh}\n`, { mode: 0o600 });
  assert.equal((await server.myx(['agents'])).code, 0, 'the rotated token, written there, works');
});

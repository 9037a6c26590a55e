// A real `myx server --store postgres://…` process with real agents (one pushed to, one polling)
// runs a command end to end; the database password never reaches the log.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { CommandRecord } from '../src/protocol/wire.ts';
import { enrollAgent, MYX, startAgent, startProc, startServer, tempDir } from './helpers.ts';
import { postgresServer, postgresSkip } from './postgres-server.ts';

const skip = postgresSkip();

describe('a control plane on PostgreSQL', { skip }, () => {
  test('myx run --all -- echo hi through a server on PostgreSQL reaches a web and a poll agent', async (t) => {
    const dir = tempDir(t);
    const db = await (await postgresServer()).createDatabase({ empty: true }); // the server migrates it
    const server = await startServer(dir, ['--store', db]);
    t.after(() => server.proc.kill());
    const line = JSON.parse(await server.proc.waitFor(/control plane listening/)) as { store: string; database: string };
    assert.deepEqual([line.store, line.database], ['postgres', db]);

    const [webConfig, pollConfig] = await Promise.all([enrollAgent(server, dir, 'web1'), enrollAgent(server, dir, 'poll1')]);
    const [web, poll] = await Promise.all([startAgent(webConfig), startAgent(pollConfig, ['--no-web'])]);
    t.after(() => Promise.all([web.proc.kill(), poll.proc.kill()]));

    const r = await server.myx(['run', '--all', '--json', '--', 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    const records = JSON.parse(r.stdout) as CommandRecord[];
    assert.deepEqual(
      records.map((c) => [c.agent_name, c.status, c.stdout, c.delivery]).sort(),
      [['poll1', 'succeeded', 'hi\n', 'poll'], ['web1', 'succeeded', 'hi\n', 'push']],
    );
  });

  test('the database password stays out of the log, from MYX_DATABASE_URL or --store', async (t) => {
    const dir = tempDir(t);
    // two control planes, each with a database of its own (one database is one control plane's, whose certificate it records)
    const [db, db2] = await Promise.all([0, 1].map(async () => new URL(await (await postgresServer()).createDatabase())));
    for (const u of [db!, db2!]) u.password = 'pw-s3cret-do-not-log'; // the test server trusts loopback, so any password connects
    const fromEnv = startProc(MYX, ['server', '--data-dir', join(dir, 'a'), '--listen', '127.0.0.1:0'], { MYX_DATABASE_URL: db!.href });
    t.after(() => fromEnv.kill());
    const line = JSON.parse(await fromEnv.waitFor(/control plane listening/)) as { database: string };
    assert.match(line.database, /^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/myx_test_/);

    const fromArg = startProc(MYX, ['server', '--data-dir', join(dir, 'b'), '--listen', '127.0.0.1:0', '--store', db2!.href]);
    t.after(() => fromArg.kill());
    await fromArg.waitFor(/control plane listening/);
    assert.match(fromArg.output(), /the --store URL carries a password/);
    await Promise.all([fromEnv.kill(), fromArg.kill()]);
    for (const out of [fromEnv.output(), fromArg.output()]) assert.doesNotMatch(out, /pw-s3cret-do-not-log/);
  });

  test('an unreachable database stops the server at start with a clear message and no password', async (t) => {
    const dir = tempDir(t);
    const server = startProc(MYX, ['server', '--data-dir', dir, '--listen', '127.0.0.1:0'],
      { MYX_DATABASE_URL: 'postgres://myx:pw-s3cret-do-not-log@127.0.0.1:1/myx' });
    t.after(() => server.kill());
    assert.equal(await server.exited, 2);
    assert.match(server.output(), /cannot open the PostgreSQL store at postgres:\/\/myx:\*\*\*@127\.0\.0\.1:1\/myx: .*ECONNREFUSED/);
    assert.doesNotMatch(server.output(), /pw-s3cret-do-not-log/);
  });
});

// Enrollment tokens can be listed (never their secret) and revoked, live 7 days at most, and at
// most 1000 can be outstanding (unused, unexpired, unrevoked) at once.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EnrollmentTokenResponse, EnrollmentTokenView } from '../src/protocol/wire.ts';
import { MAX_OUTSTANDING_ENROLLMENT_TOKENS } from '../src/protocol/enrollment-token.ts';
import { closePool, send } from './raw-http.ts';
import { runBin, startServer, tempDir, type TestServer } from './helpers.ts';

describe('enrollment tokens', () => {
  let dir: string;
  let server: TestServer;
  let auth: { authorization: string };

  before(async () => {
    dir = tempDir();
    server = await startServer(dir);
    auth = { authorization: `Bearer ${readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim()}` };
  });
  after(async () => {
    closePool();
    await server?.proc.kill();
  });

  const create = async (ttl?: string) => {
    const r = await server.myx(['token', 'create', '--json', ...(ttl ? ['--ttl', ttl] : [])]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as EnrollmentTokenResponse;
  };
  const list = async () => JSON.parse((await server.myx(['token', 'list', '--json'])).stdout) as EnrollmentTokenView[];
  const enroll = (token: string, name: string) => runBin('myx-agent', ['enroll', '--server', server.url, '--config', join(dir, name, 'config.json'), '--name', name, '--no-web'], { MYX_ENROLL_TOKEN: token });

  test('a token lives 7 days at most: longer is refused with its own code', async () => {
    const long = await server.myx(['token', 'create', '--ttl', '8d']);
    assert.equal(long.code, 2);
    assert.match(long.stderr, /7 days at most/);
    const api = await send(`${server.url}/api/enrollment-tokens`, { headers: auth, json: { ttl_seconds: 7 * 86400 + 1 } });
    assert.deepEqual([api.status, api.body.error?.code], [400, 'ENROLLMENT_TOKEN_TTL_TOO_LONG']);
    const week = await create('7d');
    const lives = Date.parse(week.expires_at) - Date.now();
    assert.ok(lives > 6.9 * 86400_000 && lives <= 7 * 86400_000, `expires in ${lives} ms`);
  });

  test('myx token list shows id, state and times, never the secret', async () => {
    const t = await create('15m');
    const secret = t.token.split('.')[1]!;
    const text = await server.myx(['token', 'list']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${t.id} +usable +`, 'm'));
    const json = await server.myx(['token', 'list', '--json']);
    for (const out of [text.stdout, json.stdout]) assert.ok(!out.includes(secret), 'the secret is shown');
    const row = (JSON.parse(json.stdout) as EnrollmentTokenView[]).find((r) => r.id === t.id)!;
    assert.deepEqual(Object.keys(row).sort(), ['created_at', 'expires_at', 'id', 'revoked_at', 'state', 'used_at', 'used_by_agent']);
    assert.equal(row.expires_at, t.expires_at);
  });

  test('a revoked token cannot enroll; a used one cannot be revoked (remove the agent instead)', async () => {
    const t = await create();
    const revoked = await server.myx(['token', 'revoke', t.id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, `${t.id} revoked: it can no longer enroll an agent\n`);
    assert.equal((await server.myx(['token', 'revoke', t.id])).stdout, `${t.id} was revoked already\n`);
    const refused = await enroll(t.token, 'tok-revoked');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /the enrollment token was revoked/);
    assert.equal((await list()).find((r) => r.id === t.id)!.state, 'revoked');

    const u = await create();
    const enrolled = await enroll(u.token, 'tok-used');
    assert.equal(enrolled.code, 0, enrolled.stderr);
    const used = (await list()).find((r) => r.id === u.id)!;
    assert.equal(used.state, 'used');
    assert.match(used.used_by_agent!, /^agt_/);
    const late = await server.myx(['token', 'revoke', u.id]);
    assert.equal(late.code, 1);
    assert.match(late.stdout, new RegExp(`was used already, by agent ${used.used_by_agent}: remove the agent instead`));

    const unknown = await server.myx(['token', 'revoke', 'enr_nosuch']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no enrollment token with id enr_nosuch/);
  });

  test(`at most ${MAX_OUTSTANDING_ENROLLMENT_TOKENS} tokens are outstanding; revoking one makes room`, async (t) => {
    const outstanding = (await list()).filter((r) => r.state === 'usable').length;
    const t0 = Date.now();
    for (let left = MAX_OUTSTANDING_ENROLLMENT_TOKENS - outstanding; left > 0; left -= 25) {
      const batch = await Promise.all(Array.from({ length: Math.min(25, left) }, () =>
        send(`${server.url}/api/enrollment-tokens`, { headers: auth, json: { ttl_seconds: 600 } })));
      assert.ok(batch.every((r) => r.status === 201), batch.find((r) => r.status !== 201)?.text);
    }
    const over = await send(`${server.url}/api/enrollment-tokens`, { headers: auth, json: { ttl_seconds: 600 } });
    assert.deepEqual([over.status, over.body.error?.code], [409, 'ENROLLMENT_TOKENS_TOO_MANY']);
    const cli = await server.myx(['token', 'create']);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /1000 enrollment tokens are outstanding .*myx token revoke ID/);
    const [newest] = await list();
    assert.equal((await server.myx(['token', 'revoke', newest!.id])).code, 0);
    await create();
    t.diagnostic(`${MAX_OUTSTANDING_ENROLLMENT_TOKENS - outstanding} tokens created in ${Date.now() - t0} ms`);
  });
});

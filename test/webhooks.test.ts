// Webhooks end to end, on SQLite and on PostgreSQL: receivers on loopback get each run's and each
// command's end as a signed POST; the signature (checked here by hand, from the documented scheme,
// and with the SDK's helper) holds over the raw body and fails for a tampered body or a stale time;
// a receiver that answers 500 gets the same event again after the back-off, and the delivery record
// shows both attempts; a receiver that never answers holds up no run; an https receiver is reached
// through its pinned certificate and refused when the pin is wrong; bad input is refused.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

import { createServer as createHttpServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureSelfSigned } from '../src/common/tls-cert.ts';
import type { AddWebhookRequest, AddWebhookResponse, CommandRecord, WebhookDeliveryView, WebhookEvent } from '../src/protocol/wire.ts';
import { connect, MyxError, verifyWebhookSignature } from '../src/sdk/index.ts';
import { enrollAgent, eventually, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';
import { postgresServer, postgresSkip } from './postgres-server.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver on loopback: records every request; `answer` says what to do with the n-th (0-based): a status, or 'hang' (never answer). */
async function receiver(t: { after: (fn: () => void) => void }, answer: (n: number, r: Received) => number | 'hang' = () => 200, tls?: { certPem: string; keyPem: string }) {
  const got: Received[] = [];
  const hanging: ServerResponse[] = [];
  const sockets = new Set<Socket>();
  const handle = (req: import('node:http').IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const what = answer(got.length, r);
      got.push(r);
      if (what === 'hang') hanging.push(res);
      else res.writeHead(what, { 'content-type': 'text/plain' }).end('ok');
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, handle) : createHttpServer(handle);
  server.on('connection', (s: Socket) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/myx?key=in-the-query`;
  return { url, got, hanging };
}

/** The scheme of docs/webhooks.md, computed here by hand: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>, t within 5 minutes. */
function verifiedByHand(secret: string, header: string | undefined, body: string, now = Math.floor(Date.now() / 1000)): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest('hex');
  return expected === m[2] && Math.abs(now - Number(m[1])) <= 300;
}

const BACKENDS = [
  { name: 'SQLite', skip: false as string | false, store: async (): Promise<string[]> => [] },
  { name: 'PostgreSQL', skip: postgresSkip(), store: async () => ['--store', await (await postgresServer()).createDatabase()] },
];

for (const backend of BACKENDS) {
  describe(`webhooks on ${backend.name}`, { skip: backend.skip }, () => {
    let dir: string;
    let server: TestServer;
    let agents: TestAgent[] = [];

    const add = async (url: string, events: string, extra: string[] = []): Promise<AddWebhookResponse> => {
      const r = await server.myx(['webhooks', 'add', url, '--events', events, '--json', ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as AddWebhookResponse;
    };
    const deliveries = async (id: string): Promise<WebhookDeliveryView[]> => {
      const r = await server.myx(['webhooks', 'deliveries', id, '--json']);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as WebhookDeliveryView[];
    };
    const remove = async (id: string) => assert.equal((await server.myx(['webhooks', 'remove', id])).code, 0);
    const run = async (...argv: string[]): Promise<CommandRecord[]> => {
      const r = await server.myx(['run', '--json', ...argv]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as CommandRecord[];
    };

    before(async () => {
      dir = tempDir();
      server = await startServer(dir, ['--heartbeat-interval', '0.5', '--webhook-retries', '1s,1s,1s', '--webhook-timeout', '2s', ...await backend.store()]);
      agents = await Promise.all([
        enrollAgent(server, dir, 'hook-web').then((c) => startAgent(c)),
        enrollAgent(server, dir, 'hook-poll', ['--no-web']).then((c) => startAgent(c, [])),
      ]);
    });
    after(async () => {
      await Promise.all(agents.map((a) => a.proc.kill()));
      await server?.proc.kill();
    });

    test('each command\'s end and the run\'s end are POSTed, signed: the signature holds over the raw body, and fails for a tampered body or a stale time', async (t) => {
      const rx = await receiver(t);
      const { webhook, secret } = await add(rx.url, 'run.finished,command.finished');
      assert.match(secret!, /^whsec_/);
      assert.deepEqual([webhook.events, webhook.fingerprint, webhook.created_by], [['run.finished', 'command.finished'], null, 'admin']);
      const commands = await run('--all', '--', 'sh', '-c', 'echo hi');
      await eventually(() => rx.got.length >= 3, 20_000, 'three events');
      await new Promise((r) => setTimeout(r, 300)); // and no more
      assert.equal(rx.got.length, 3);
      const events = rx.got.map((r) => JSON.parse(r.body) as WebhookEvent);
      assert.deepEqual(events.map((e) => e.type).sort(), ['command.finished', 'command.finished', 'run.finished']);
      for (const [i, r] of rx.got.entries()) {
        const e = events[i]!;
        assert.equal(r.headers['content-type'], 'application/json');
        assert.deepEqual([r.headers['x-myx-event'], r.headers['x-myx-event-id'], r.headers['x-myx-attempt']], [e.type, e.id, '1']);
        assert.match(String(r.headers['x-myx-delivery']), /^whd_/);
        assert.ok(verifiedByHand(secret!, r.headers['x-myx-signature'] as string, r.body), 'the documented scheme verifies it');
        assert.ok(verifyWebhookSignature({ secret: secret!, signature: r.headers['x-myx-signature'] as string, body: r.body }), 'so does the SDK\'s helper');
        const tampered = r.body.replace('succeeded', 'failed');
        assert.notEqual(tampered, r.body);
        assert.ok(!verifiedByHand(secret!, r.headers['x-myx-signature'] as string, tampered), 'a tampered body fails');
        assert.ok(!verifyWebhookSignature({ secret: secret!, signature: r.headers['x-myx-signature'] as string, body: tampered }));
        const t0 = Number(/t=(\d+)/.exec(r.headers['x-myx-signature'] as string)![1]);
        assert.ok(!verifiedByHand(secret!, r.headers['x-myx-signature'] as string, r.body, t0 + 301), 'a stale time fails');
        assert.ok(!verifyWebhookSignature({ secret: secret!, signature: r.headers['x-myx-signature'] as string, body: r.body, now: t0 + 301 }));
        assert.ok(!verifyWebhookSignature({ secret: 'whsec_another', signature: r.headers['x-myx-signature'] as string, body: r.body }), 'another secret fails');
      }
      const finished = events.filter((e) => e.type === 'command.finished').map((e) => e.type === 'command.finished' && e.data.command);
      assert.deepEqual(finished.map((c) => c && [c.agent_name, c.status, c.stdout, c.env_keys]).sort(), [['hook-poll', 'succeeded', 'hi\n', []], ['hook-web', 'succeeded', 'hi\n', []]]);
      const runEvent = events.find((e) => e.type === 'run.finished')!;
      assert.ok(runEvent.type === 'run.finished');
      assert.deepEqual([runEvent.data.run.id, runEvent.data.run.done, runEvent.data.commands.map((c) => c.status)], [commands[0]!.run_id, true, ['succeeded', 'succeeded']]);
      assert.equal(runEvent.id, `run.finished/${commands[0]!.run_id}`);
      const recorded = await deliveries(webhook.id);
      assert.deepEqual(recorded.map((d) => [d.state, d.attempts, d.last_status, d.history.length]), Array(3).fill(['delivered', 1, 200, 1]));
      // the secret is shown once: not in the list, the log or the audit log
      const list = await server.myx(['webhooks', 'list']);
      assert.match(list.stdout, new RegExp(`^${webhook.id} +http://127\\.0\\.0\\.1:\\d+/hooks/myx\\?key=in-the-query +run\\.finished,command\\.finished`, 'm'));
      const audit = await server.myx(['audit', '--json', '--action', 'webhook.add']);
      for (const text of [list.stdout, audit.stdout, server.proc.output()]) assert.ok(!text.includes(secret!), 'the secret stays secret');
      assert.ok(!server.proc.output().includes('in-the-query'), 'logs name the receiver by its origin only');
      assert.match(audit.stdout, new RegExp(`"action":"webhook.add".*"targets":\\["${webhook.id}"\\]`));
      await remove(webhook.id);
    });

    test('a receiver that answers 500 gets the same event again after the back-off; the delivery record shows both attempts', async (t) => {
      const rx = await receiver(t, (n) => (n === 0 ? 500 : 200));
      const secret = 'a-secret-of-our-own-1234';
      const { webhook, secret: shown } = await add(rx.url, 'command.finished', ['--secret', secret]);
      assert.equal(shown, null, 'a secret given is not echoed');
      const [c] = await run('--agent', 'hook-web', '--', 'true');
      await eventually(async () => (await deliveries(webhook.id))[0]?.state === 'delivered', 20_000, 'the retry delivered');
      assert.equal(rx.got.length, 2);
      assert.deepEqual(rx.got.map((r) => [r.headers['x-myx-event-id'], r.headers['x-myx-attempt']]), [[`command.finished/${c!.id}`, '1'], [`command.finished/${c!.id}`, '2']]);
      assert.equal(rx.got[0]!.body, rx.got[1]!.body, 'the same event');
      for (const r of rx.got) assert.ok(verifiedByHand(secret, r.headers['x-myx-signature'] as string, r.body));
      const [d] = await deliveries(webhook.id);
      assert.deepEqual([d!.state, d!.attempts, d!.last_status, d!.last_error], ['delivered', 2, 200, null]);
      assert.deepEqual(d!.history.map((h) => [h.status, h.error]), [[500, 'HTTP 500'], [200, null]]);
      assert.ok(Date.parse(d!.history[1]!.at) - Date.parse(d!.history[0]!.at) >= 900, 'after the back-off (1 s here)');
      const table = (await server.myx(['webhooks', 'deliveries', webhook.id])).stdout;
      assert.match(table, new RegExp(`${d!.id} +command\\.finished +${c!.id} +delivered +2 +HTTP 200`));
      await remove(webhook.id);
    });

    test('a receiver that never answers holds up no run: runs finish while its request hangs, and the attempt times out to be tried again', async (t) => {
      const rx = await receiver(t, () => 'hang');
      const { webhook } = await add(rx.url, 'command.finished,run.finished');
      await run('--agent', 'hook-web', '--', 'true');
      await eventually(() => rx.hanging.length >= 1, 20_000, 'a delivery hanging at the receiver');
      // while it hangs (and its retries will), runs come and go as ever
      const started = rx.hanging.length;
      const later = await run('--all', '--', 'echo', 'still going');
      assert.deepEqual(later.map((c) => c.status), ['succeeded', 'succeeded']);
      assert.ok(rx.hanging.length >= started && rx.hanging.every((res) => !res.writableEnded), 'the receiver has still answered nothing');
      await eventually(async () => (await deliveries(webhook.id)).some((d) => d.last_error === 'no answer within 2 s' && d.attempts >= 1), 20_000, 'the attempt timed out');
      const timedOut = (await deliveries(webhook.id)).find((d) => d.last_error === 'no answer within 2 s')!;
      assert.ok(['pending', 'sending'].includes(timedOut.state), `tried again: ${timedOut.state}`);
      await remove(webhook.id);
    });

    test('bad input to the webhook routes gets a 4xx with a stable code, never a 5xx; past 100 webhooks, WEBHOOKS_TOO_MANY', async (t) => {
      const myx = await connect({ dataDir: server.dataDir });
      t.after(() => myx.close());
      const refused = async (body: unknown, code: string, what: string) => {
        await assert.rejects(myx.api.addWebhook(body as AddWebhookRequest), (e: MyxError) => e instanceof MyxError && e.code === code && e.status >= 400 && e.status < 500, what);
      };
      const url = 'http://127.0.0.1:9/bad';
      for (const [body, what] of [
        [{ url: 'ftp://127.0.0.1/x', events: ['run.finished'] }, 'another scheme'], [{ url: 'http://user:pw@127.0.0.1/x', events: ['run.finished'] }, 'credentials in the URL'],
        [{ url: 'http://127.0.0.1/a\u0000b', events: ['run.finished'] }, 'a NUL'], [{ url: 'http:///x', events: ['run.finished'] }, 'no host'],
        [{ url: 'http://[::1/x', events: ['run.finished'] }, 'a broken host'], [{ url: `http://${'a'.repeat(3000)}`, events: ['run.finished'] }, 'too long'],
        [{ url, events: [] }, 'no events'], [{ url, events: ['run.started'] }, 'an unknown event'], [{ url, events: ['run.finished', 'run.finished'] }, 'an event twice'],
        [{ url, events: ['run.finished'], secret: 'short' }, 'a short secret'], [{ url, events: ['run.finished'], secret: 'has a space in it, long enough' }, 'a secret with a space'],
        [{ url: 'https://127.0.0.1:9/x', events: ['run.finished'], fingerprint: 'zz'.repeat(32) }, 'a fingerprint that is not one'],
        [{ url, events: ['run.finished'], extra: true }, 'an extra field'], [{ events: ['run.finished'] }, 'no url'], [[], 'not an object'],
      ] as const) await refused(body, 'BAD_REQUEST', what);
      await assert.rejects(myx.api.removeWebhook('whk_nope'), (e: MyxError) => e.code === 'WEBHOOK_NOT_FOUND' && e.status === 404);
      await assert.rejects(myx.api.webhookDeliveries('../x'), (e: MyxError) => e.code === 'BAD_REQUEST' || e.code === 'NOT_FOUND');
      const before = (await myx.api.webhooks()).length;
      const made: string[] = [];
      for (let i = before; i < 100; i++) made.push((await myx.api.addWebhook({ url: `${url}/${i}`, events: ['run.finished'] })).webhook.id);
      await refused({ url, events: ['run.finished'] }, 'WEBHOOKS_TOO_MANY', 'the 101st');
      for (const id of made) await myx.api.removeWebhook(id);
    });

    test('an https receiver is reached through its pinned certificate, and refused when the pin is another', async (t) => {
      const cert = await ensureSelfSigned({ certPath: join(tempDir(t), 'rx.crt'), keyPath: join(tempDir(t), 'rx.key') }, 'receiver');
      const rx = await receiver(t, () => 204, cert);
      const good = await add(rx.url, 'command.finished', ['--pin', cert.fingerprint]);
      const bad = await add(rx.url, 'command.finished', ['--pin', 'ab'.repeat(32)]);
      assert.equal(good.webhook.fingerprint, cert.fingerprint);
      await run('--agent', 'hook-web', '--', 'true');
      await eventually(async () => (await deliveries(good.webhook.id))[0]?.state === 'delivered', 20_000, 'delivered over the pin');
      await eventually(async () => (await deliveries(bad.webhook.id))[0]?.last_error?.includes('does not match the pinned fingerprint'), 20_000, 'refused by the pin');
      assert.equal(rx.got.length, 1, 'nothing reached the receiver through the wrong pin');
      const refused = await server.myx(['webhooks', 'add', rx.url.replace('https:', 'http:'), '--events', 'run.finished', '--pin', cert.fingerprint]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /pins an https:\/\/ receiver/);
      const unknown = await server.myx(['webhooks', 'add', rx.url, '--events', 'run.started']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /--events takes run\.finished, command\.finished/);
      await remove(good.webhook.id);
      await remove(bad.webhook.id);
      const gone = await server.myx(['webhooks', 'deliveries', good.webhook.id]);
      assert.match(gone.stderr, /no webhook with id/);
    });
  });
}


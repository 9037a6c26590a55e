// The web console in a real browser (Debian's Chromium through playwright-core) against a real
// control plane and real agents on loopback: sign-in, the fleet, a run started from the form with
// its preview, live output, cancel, paged output, sign-out; a hostile agent's markup and escapes
// shown as text and never run; cross-site requests refused; the headers every answer carries.
// MYX_SCREENSHOTS=1 also writes docs/screenshots/*.png (the README shows them).

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { publicKeySha256Of } from '../src/common/tls-cert.ts';
import type { CommandRecord, RunResponse } from '../src/protocol/wire.ts';
import { launchBrowser } from './browser.ts';
import { createToken, enrollAgent, eventually, freePort, ROOT, startAgent, startServer, tempDir, type TestAgent, type TestServer } from './helpers.ts';
import { HOSTILE_OUTPUT, HtmlHostileAgent, MARKUP } from './html-hostile-agent.ts';
import { closePool, send } from './raw-http.ts';

const SCREENSHOTS = process.env.MYX_SCREENSHOTS === '1';
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

describe('the web console', () => {
  const dir = tempDir();
  let port: number;
  let server: TestServer;
  let operatorToken: string;
  const agents: TestAgent[] = [];
  let hostile: HtmlHostileAgent;
  let browser: { context: BrowserContext; close: () => Promise<void> };
  let page: Page;
  /** Calls of `__pwned(n)` from anything a payload managed to run. */
  const pwned: unknown[] = [];
  /** Console messages and page errors: a CSP violation shows up here. */
  const problems: string[] = [];

  const op = (path: string, json?: unknown, method?: string) =>
    send(`${server.url}${path}`, { headers: { authorization: `Bearer ${operatorToken}` }, ...(json !== undefined ? { json } : {}), ...(method ? { method } : {}) });
  const runOn = async (agent: string, command: string, args: string[]) => {
    const r = await op('/api/runs', { targets: { agents: [agent] }, command, args });
    assert.equal(r.status, 201, r.text);
    return r.body as RunResponse;
  };
  const shot = async (name: string) => {
    if (!SCREENSHOTS) return;
    mkdirSync(join(ROOT, 'docs', 'screenshots'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'docs', 'screenshots', `${name}.png`) });
  };
  const sessionCookie = async () => (await browser.context.cookies()).find((c) => c.name === '__Host-myx-session');

  before(async () => {
    port = await freePort();
    server = await startServer(dir, ['--heartbeat-interval', '0.5', '--listen', `127.0.0.1:${port}`]);
    operatorToken = readFileSync(join(server.dataDir, 'operator.token'), 'utf8').trim();
    const configs = await Promise.all([
      enrollAgent(server, dir, 'web-1', ['--label', 'env=prod', '--label', 'role=web']),
      enrollAgent(server, dir, 'web-2', ['--label', 'env=prod']),
      enrollAgent(server, dir, 'batch-1', ['--no-web', '--label', 'env=dev']),
    ]);
    agents.push(...await Promise.all(configs.map((c, i) => startAgent(c, i === 2 ? [] : ['--web-port', '0']))));
    hostile = await HtmlHostileAgent.start(server.url, await createToken(server), 'zz-hostile');
    const spki = publicKeySha256Of(readFileSync(join(server.dataDir, 'tls', 'server.crt'), 'utf8'));
    browser = await launchBrowser(spki);
    page = await browser.context.newPage();
    await page.exposeFunction('__pwned', (n: unknown) => pwned.push(n));
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
  });
  after(async () => {
    await browser?.close();
    await hostile?.stop();
    await Promise.all(agents.map((a) => a.proc.kill()));
    await server?.proc.kill();
    closePool();
  });

  test('every answer carries the strict CSP and hardening headers; the page and its files are public, the API is not', async () => {
    const root = await send(`${server.url}/`);
    assert.equal(root.status, 200);
    assert.match(String(root.headers['content-type']), /^text\/html/);
    for (const r of [root, await send(`${server.url}/api/agents`), await send(`${server.url}/health`)]) {
      assert.equal(r.headers['content-security-policy'], CSP);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['referrer-policy'], 'no-referrer');
      assert.equal(r.headers['x-frame-options'], 'DENY');
    }
    const assets = [...root.text.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.equal(assets.length, 2, root.text);
    for (const a of assets) {
      const r = await send(`${server.url}${a}`);
      assert.equal(r.status, 200, a);
      assert.match(String(r.headers['cache-control']), /immutable/);
    }
    assert.doesNotMatch(root.text, /<script>|style=/, 'no inline script or style');
    assert.equal((await send(`${server.url}/api/agents`)).status, 401);
  });

  test('sign in with the operator token (a wrong one is refused), then the fleet shows every agent, filtered by name, label and status', async () => {
    await page.goto(`${server.url}/`);
    await page.getByLabel('Operator token').fill('myxo_not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That is not an operator token of this control plane.').waitFor();
    await page.getByLabel('Operator token').fill(operatorToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    const cookie = await sessionCookie();
    assert.ok(cookie, 'a session cookie');
    assert.deepEqual([cookie.httpOnly, cookie.secure, cookie.sameSite, cookie.path], [true, true, 'Strict', '/']);
    assert.ok(!page.url().includes(operatorToken) && !page.url().includes(cookie.value), 'no token or session id in the address');
    const names = () => page.locator('.agents .row .name').allInnerTexts();
    await eventually(async () => (await names()).length === 4, 10_000, 'four agents listed');
    assert.deepEqual(await names(), ['batch-1', 'web-1', 'web-2', 'zz-hostile']);
    await eventually(async () => (await page.locator('.agents .row:has-text("web-1") .st-online').count()) === 1, 10_000, 'web-1 online');
    await page.getByLabel('Label').fill('env=prod');
    await eventually(async () => (await names()).join() === 'web-1,web-2', 5000, 'label filter');
    await page.getByLabel('Name').fill('2');
    await eventually(async () => (await names()).join() === 'web-2', 5000, 'name filter');
    await page.getByLabel('Label').fill('');
    await page.getByLabel('Name').fill('');
    await page.getByLabel('Status').selectOption('online');
    await eventually(async () => (await names()).length === 4, 5000, 'all four online');
    await page.getByLabel('Status').selectOption('');
    await shot('fleet');
  });
});

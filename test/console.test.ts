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
  test('new run: targets by label with a preview of the matched agents before launch, the argv shown, live output arriving while it runs', async () => {
    await page.getByRole('link', { name: 'New run' }).click();
    const launch = page.getByRole('button', { name: /^Launch/ });
    await page.getByLabel('Labels (all must match)').fill('env=prod');
    assert.equal(await launch.isDisabled(), true, 'no launch before a preview');
    await page.getByRole('button', { name: 'Preview targets' }).click();
    await page.getByText('2 agents', { exact: true }).waitFor();
    assert.deepEqual(await page.locator('.preview .row .name').allInnerTexts(), ['web-1', 'web-2']);
    await page.getByLabel('Run through sh -c').check();
    const script = 'for i in 1 2 3 4 5 6 7 8; do echo "tick $i"; sleep 0.4; done; printf "\\033[32mgreen-done\\033[0m\\n"';
    await page.getByLabel('Shell script').fill(script);
    assert.equal(await page.getByLabel('argv').innerText(), JSON.stringify(['sh', '-c', script]));
    await page.getByLabel(/At once/).fill('1');
    await page.getByLabel('Timeout, seconds').fill('60');
    await shot('new-run');
    // targets changed after the preview: launch waits for a new one
    await page.getByLabel('Labels (all must match)').fill('env=prod role=web');
    assert.equal(await launch.isDisabled(), true, 'the preview no longer matches the targets');
    await page.getByLabel('Labels (all must match)').fill('env=prod');
    await page.getByRole('button', { name: 'Preview targets' }).click();
    await page.getByRole('button', { name: 'Launch on 2 agents' }).click();
    await page.waitForURL(/#\/runs\/run_/);
    const runId = decodeURIComponent(page.url().split('/').pop()!);
    // one at a time (--max-concurrency 1): web-1 runs first
    await page.locator('.tile', { hasText: 'web-1' }).click();
    const live = page.getByLabel('live output');
    await eventually(async () => (await live.innerText()).includes('tick 2'), 15_000, 'live output');
    const partial = await live.innerText();
    assert.ok(!partial.includes('tick 8'), `output arrived live, not at the end: ${partial}`);
    await eventually(async () => (await live.innerText()).includes('green-done'), 20_000, 'the end of the output');
    assert.equal(await live.locator('span.fg-2', { hasText: 'green-done' }).count(), 1, 'ANSI green as a class');
    const recorded = (await op(`/api/runs/${runId}`)).body as RunResponse;
    assert.equal(recorded.run.max_concurrency, 1);
    assert.deepEqual([recorded.commands[0]!.command, recorded.commands[0]!.args], ['sh', ['-c', script]]);
    await eventually(async () => (await page.locator('.summary', { hasText: 'done' }).count()) === 1, 30_000, 'the run is done');
    assert.match(await page.locator('.groups').innerText(), /2 hosts \(succeeded/, 'identical outputs grouped');
    await shot('run');
  });

  test('a hostile agent\'s hostname, labels, version, error and output are shown as text and run nothing; colours render, other escapes are dropped', async () => {
    const run = await runOn('zz-hostile', 'true', []);
    const id = run.commands[0]!.id;
    await eventually(async () => ((await op(`/api/commands/${id}`)).body as CommandRecord).status === 'failed', 20_000, 'the hostile agent answered');
    await page.goto(`${server.url}/#/fleet`);
    await page.getByRole('link', { name: 'zz-hostile' }).click();
    await page.getByRole('heading', { name: /Agent zz-hostile/ }).waitFor();
    const facts = await page.locator('dl.facts').innerText();
    assert.ok(facts.includes(MARKUP.img) && facts.includes(MARKUP.script) && facts.includes(MARKUP.link), facts);
    await page.goto(`${server.url}/#/runs/${run.run.id}`);
    await page.locator('.tile', { hasText: 'zz-hostile' }).click();
    await eventually(async () => (await page.getByLabel('live output').innerText()).includes('tail-line'), 10_000, 'hostile live output');
    await page.goto(`${server.url}/#/commands/${id}`);
    const output = page.getByLabel('command output');
    await eventually(async () => (await output.innerText()).includes('tail-line'), 10_000, 'hostile output paged');
    const text = await output.innerText();
    for (const payload of Object.values(MARKUP)) assert.ok(text.includes(payload), `shown literally: ${payload}`);
    assert.ok(!text.includes('\x1b') && !text.includes('pwned-title') && !text.includes('ZXZpbA'), 'the title and clipboard sequences are dropped');
    assert.equal(await output.locator('span.fg-1').innerText(), 'RED-WORD', 'SGR red as a class, the word as text');
    assert.ok((await page.locator('dl.facts').innerText()).includes(MARKUP.anchor), 'the error as text');
    // nothing ran, nothing became an element or a link
    assert.deepEqual(pwned, []);
    assert.equal(await page.evaluate('window.__pwned'), undefined);
    assert.equal(await page.locator('main img, main svg, main script, main a[href^="javascript"]').count(), 0);
    assert.notEqual(await page.title(), 'pwned-title');
    assert.equal((await op(`/api/commands/${id}/output?stream=stdout`)).body.data, HOSTILE_OUTPUT, 'the API keeps the exact bytes');
  });

  test('an agent\'s page: its facts, its operator labels edited (set, then removed), its recent commands', async () => {
    await page.goto(`${server.url}/#/fleet`);
    await page.getByRole('link', { name: 'web-2' }).click();
    await page.getByRole('heading', { name: /Agent web-2/ }).waitFor();
    await page.getByLabel('label key').fill('tier');
    await page.getByLabel('label value').fill('gold');
    await page.getByRole('button', { name: 'Set label' }).click();
    await page.getByRole('button', { name: 'remove label tier' }).waitFor();
    const view = async () => ((await op('/api/agents')).body.agents as { name: string; labels: Record<string, string> }[]).find((a) => a.name === 'web-2')!;
    assert.deepEqual((await view()).labels, { env: 'prod', tier: 'gold' });
    await page.getByRole('button', { name: 'remove label tier' }).click();
    await eventually(async () => !('tier' in (await view()).labels), 5000, 'label removed');
    await eventually(async () => (await page.locator('table.list tbody tr').count()) >= 1, 10_000, 'recent commands listed');
  });

  test('follow mode on the command page shows output as a running command prints it, to its end', async () => {
    const run = await runOn('web-2', 'sh', ['-c', 'for i in $(seq 1 15); do echo "follow-$i"; sleep 0.2; done']);
    await page.goto(`${server.url}/#/commands/${run.commands[0]!.id}`);
    await page.getByRole('button', { name: 'Follow' }).click();
    const output = page.getByLabel('command output');
    await eventually(async () => (await output.innerText()).includes('follow-15'), 20_000, 'followed to the end');
    await page.getByRole('button', { name: 'Follow' }).waitFor(); // following stops by itself at the end
    assert.equal((await output.innerText()).split('\n').filter((l) => l.startsWith('follow-')).length, 15, 'every line once');
  });

  test('cancel a running command from its run page', async () => {
    const run = await runOn('web-2', 'sleep', ['60']);
    const id = run.commands[0]!.id;
    await eventually(async () => ((await op(`/api/commands/${id}`)).body as CommandRecord).status === 'running', 15_000, 'running');
    await page.goto(`${server.url}/#/runs/${run.run.id}`);
    await page.getByRole('button', { name: /Cancel run \(1 unfinished\)/ }).click();
    await page.getByText('cancel asked for 1 of 1 commands').waitFor();
    await eventually(async () => (await page.locator('.tile.st-cancelled', { hasText: 'web-2' }).count()) === 1, 15_000, 'shown cancelled');
    assert.equal(((await op(`/api/commands/${id}`)).body as CommandRecord).status, 'cancelled');
  });

  test('a large output is read page by page: one page in the page at a time, next, previous, last lines', async () => {
    const run = await runOn('web-1', 'seq', ['1', '120000']); // 728,895 bytes: three pages of 256 KiB
    const id = run.commands[0]!.id;
    await eventually(async () => ((await op(`/api/commands/${id}`)).body as CommandRecord).status === 'succeeded', 20_000, 'seq ended');
    await page.goto(`${server.url}/#/commands/${id}`);
    const output = page.getByLabel('command output');
    const position = page.locator('#output-position');
    await eventually(async () => (await position.innerText()).startsWith('bytes 0–262,144 of 728,895'), 10_000, 'first page').catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${await position.innerText().catch(() => 'no position')}`);
    });
    assert.ok((await output.innerText()).startsWith('1\n2\n3\n'));
    await shot('command');
    await page.getByRole('button', { name: 'Next page' }).click();
    await eventually(async () => (await position.innerText()).startsWith('bytes 262,144–524,288 of 728,895'), 10_000, 'second page');
    const second = await output.innerText();
    assert.ok(second.length <= 262_144 && !second.includes('\n1\n2\n3\n'), 'only the second page is in the document');
    await page.getByRole('button', { name: 'Next page' }).click();
    await eventually(async () => (await position.innerText()).startsWith('bytes 524,288–728,895 of 728,895 (end)'), 10_000, 'third page');
    assert.ok((await output.innerText()).trimEnd().endsWith('\n119999\n120000'));
    assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await eventually(async () => (await output.innerText()) === second, 10_000, 'back to the second page, exactly');
    await page.getByRole('button', { name: 'Last lines' }).click();
    await eventually(async () => (await output.innerText()).startsWith('119001\n'), 10_000, 'the last 1000 lines');
    // the raw download is the whole kept stream
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download stdout' }).click()]);
    const saved = readFileSync((await download.path())!, 'utf8');
    assert.equal(saved.length, 728_895);
  });

  test('a cross-site request with the session cookie is refused (SameSite keeps it away, and the server checks Origin and the CSRF token); agent routes never take the cookie', async () => {
    const run = await runOn('web-1', 'sleep', ['30']);
    const id = run.commands[0]!.id;
    const cookie = `__Host-myx-session=${(await sessionCookie())!.value}`;
    const csrf = ((await page.evaluate(() => fetch('/api/session').then((r) => r.json()))) as { csrf_token: string }).csrf_token;
    // a page on another site posts to the control plane with credentials: the browser sends no cookie
    const attacker = await browser.context.newPage();
    await attacker.route('https://attacker.test/', (route) => route.fulfill({
      contentType: 'text/html',
      body: `<script>fetch(${JSON.stringify(`${server.url}/api/commands/${id}/cancel`)}, { method: 'POST', mode: 'no-cors', credentials: 'include' })
        .then(() => document.title = 'sent', () => document.title = 'failed');</script>`,
    }));
    await attacker.goto('https://attacker.test/');
    await eventually(async () => ['sent', 'failed'].includes(await attacker.title()), 10_000, 'the forged request');
    await attacker.close();
    // the server's own checks, for a browser that would send the cookie anyway
    const cancel = (headers: Record<string, string>) => send(`${server.url}/api/commands/${id}/cancel`, { method: 'POST', headers: { cookie, ...headers } });
    const host = new URL(server.url).host;
    assert.equal((await cancel({ origin: 'https://attacker.test', 'x-myx-csrf': csrf })).body.error.code, 'CROSS_SITE_REQUEST');
    assert.equal((await cancel({ 'sec-fetch-site': 'cross-site', 'x-myx-csrf': csrf })).body.error.code, 'CROSS_SITE_REQUEST');
    assert.equal((await cancel({ origin: `https://${host}` })).body.error.code, 'CSRF_TOKEN_INVALID');
    assert.equal((await cancel({ origin: `https://${host}`, 'x-myx-csrf': 'A'.repeat(43) })).body.error.code, 'CSRF_TOKEN_INVALID');
    assert.equal(((await op(`/api/commands/${id}`)).body as CommandRecord).cancel_requested_at, null, 'nothing was cancelled');
    // the cookie is no agent credential
    const heartbeat = await send(`${server.url}/api/agents/heartbeat`, { headers: { cookie }, json: {} });
    assert.deepEqual([heartbeat.status, heartbeat.body.error.code], [401, 'AGENT_TOKEN_MISSING']);
    const poll = await send(`${server.url}/api/agents/poll?wait=0`, { headers: { cookie } });
    assert.equal(poll.status, 401);
    // and with the token, from the page's origin, it works
    const ok = await cancel({ origin: `https://${host}`, 'sec-fetch-site': 'same-origin', 'x-myx-csrf': csrf });
    assert.equal(ok.status, 200, ok.text);
  });

  test('live output keeps flowing across a control-plane restart, without repeating what was shown', async () => {
    const run = await runOn('web-1', 'sh', ['-c', 'for i in $(seq 1 30); do echo "line-$i"; sleep 0.2; done']);
    const id = run.commands[0]!.id;
    await page.goto(`${server.url}/#/runs/${run.run.id}`);
    await page.locator('.tile', { hasText: 'web-1' }).click();
    const live = page.getByLabel('live output');
    await eventually(async () => (await live.innerText()).includes('line-3'), 15_000, 'live output before the restart');
    await server.proc.kill();
    server = await startServer(dir, ['--heartbeat-interval', '0.5', '--listen', `127.0.0.1:${port}`]);
    await eventually(async () => (await live.innerText()).includes('line-30'), 40_000, 'live output after the restart');
    const lines = (await live.innerText()).trim().split('\n');
    assert.deepEqual(lines, Array.from({ length: 30 }, (_, i) => `line-${i + 1}`), 'every line once, in order');
    await eventually(async () => ((await op(`/api/commands/${id}`)).body as CommandRecord).status === 'succeeded', 15_000, 'the result');
  });

  test('1,000 agents and a run on all of them: the fleet and the run grid draw only the rows in view, and scrolling brings the rest', async () => {
    const n = 1000;
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        const token = await op('/api/enrollment-tokens', { ttl_seconds: 600 });
        const name = `node-${String(i).padStart(4, '0')}`;
        const facts = { name, hostname: name, os: 'linux', version: '0.1.0', mode: 'poll', web_port: null, fingerprint: null, advertise_address: null, labels: { fleet: 'big' } };
        const r = await send(`${server.url}/api/agents/register`, { json: { enrollment_token: token.body.token, ...facts } });
        assert.equal(r.status, 201, r.text);
      }
    }));
    const run = await op('/api/runs', { targets: { labels: { fleet: 'big' } }, command: 'true', ttl: 60 });
    assert.equal(run.status, 201, run.text);
    await page.goto(`${server.url}/#/fleet`);
    await page.getByText(/^1004 agents:/).waitFor();
    const fleetRows = await page.locator('.agents [role=listitem]').count();
    assert.ok(fleetRows > 5 && fleetRows < 100, `${fleetRows} agent rows in the document`);
    await page.locator('.agents .vlist').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.getByRole('link', { name: 'zz-hostile' }).waitFor();
    await page.goto(`${server.url}/#/runs/${(run.body as RunResponse).run.id}`);
    await page.getByText(/^1000 hosts: 1000 queued/).waitFor();
    const tiles = await page.locator('.tile').count();
    assert.ok(tiles > 10 && tiles < 300, `${tiles} host tiles in the document`);
    await page.locator('.grid-box').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.locator('.tile', { hasText: 'node-0999' }).waitFor();
    await shot('run-1000');
  });

  test('the header says who is signed in; a viewer is shown no New run, Cancel or label editing; removing it ends its session in the page', async () => {
    await page.goto(`${server.url}/#/fleet`);
    await page.locator('header .who', { hasText: 'admin' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'New run' }).count(), 1);
    const added = await op('/api/operators', { name: 'watcher', role: 'viewer', scope: { env: 'prod' } });
    assert.equal(added.status, 201, added.text);
    const running = await runOn('web-1', 'sleep', ['30']);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Operator token').fill(added.body.token as string);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    assert.equal(await page.locator('header .who').innerText(), 'watcher (viewer, scope env=prod)');
    assert.equal(await page.getByRole('link', { name: 'New run' }).count(), 0, 'no New run in the navigation');
    await eventually(async () => (await page.locator('.agents .row .name').allInnerTexts()).join() === 'web-1,web-2', 10_000, 'only the agents in its scope');
    await page.goto(`${server.url}/#/runs/${running.run.id}`);
    await page.getByText('sleep').first().waitFor();
    await page.locator('.tile', { hasText: 'web-1' }).click();
    await page.getByText('Open the command').waitFor();
    assert.equal(await page.getByRole('button', { name: /Cancel/ }).count(), 0, 'no cancel for a viewer');
    await page.goto(`${server.url}/#/agents/${running.commands[0]!.agent_id}`);
    await page.getByRole('heading', { name: /Agent/ }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Operator labels' }).count(), 0, 'no label editing');
    await page.goto(`${server.url}/#/new`);
    await page.getByText('Starting runs needs the operator role').waitFor();
    // removed: its session ends, and the page says so at its next request
    assert.equal((await op('/api/operators/watcher', undefined, 'DELETE')).status, 200);
    await page.goto(`${server.url}/#/fleet`);
    await page.getByText('Your session ended').waitFor();
    await page.getByLabel('Operator token').fill(operatorToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    await op(`/api/commands/${running.commands[0]!.id}/cancel`, {});
  });

  test('sign out: the page asks to sign in again and the old session cookie opens nothing', async () => {
    const cookie = `__Host-myx-session=${(await sessionCookie())!.value}`;
    assert.equal((await send(`${server.url}/api/agents`, { headers: { cookie } })).status, 200);
    await page.goto(`${server.url}/#/fleet`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Operator token').waitFor();
    const after = await send(`${server.url}/api/agents`, { headers: { cookie } });
    assert.deepEqual([after.status, after.body.error.code], [401, 'SESSION_INVALID']);
    assert.equal(await sessionCookie(), undefined, 'the browser dropped the cookie');
    await page.goto(`${server.url}/#/runs`);
    await page.getByLabel('Operator token').waitFor();
    // signing in again with the keyboard alone: the token field has the focus, Enter submits
    await page.keyboard.type(operatorToken);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    assert.deepEqual(pwned, []);
    assert.deepEqual(problems.filter((p) => /Content Security Policy|Refused/i.test(p)), [], 'no CSP violation on any page');
  });
});


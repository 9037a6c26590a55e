// The agent's config file and start-up errors: unknown keys, bad values, unwritable places.

import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileAgentOptions, validateConfig } from '../src/agent/config.ts';
import { runBin, tempDir } from './helpers.ts';

const base = { server_url: 'https://127.0.0.1:8000', agent_token: 'myxa_x', server_fingerprint: 'ab'.repeat(32) };

test('an unknown key is an error naming the key', () => {
  assert.throws(() => validateConfig({ ...base, web_port: 1 }, 'c.json'), /unknown key "web_port"/);
});

test('wrong value types are errors naming the key', () => {
  assert.throws(() => validateConfig({ ...base, web_service_port: '8443' }, 'c.json'), /"web_service_port" must be a port/);
  assert.throws(() => validateConfig({ ...base, web_service_enabled: 'yes' }, 'c.json'), /"web_service_enabled" must be true or false/);
  assert.throws(() => validateConfig({ ...base, labels: { a: 1 } }, 'c.json'), /"labels" must be an object of string values/);
  assert.throws(() => validateConfig([], 'c.json'), /must hold a JSON object/);
});

test('defaults, and flags override the file', () => {
  const o = compileAgentOptions(validateConfig(base, '/x/c.json'), {}, '/x/c.json');
  assert.deepEqual(o.web, { enabled: true, port: 8443, bind: '0.0.0.0' });
  assert.equal(o.tls.certPath, '/x/ssl/agent.crt');
  assert.equal(o.tls.keyPath, '/x/ssl/agent.key');
  assert.equal(o.serverFingerprint, 'AB:'.repeat(31) + 'AB');
  const f = compileAgentOptions(validateConfig({ ...base, web_service_port: 9000 }, '/x/c.json'), { webPort: 9100, noWeb: true }, '/x/c.json');
  assert.deepEqual(f.web, { enabled: false, port: 9100, bind: '0.0.0.0' });
});

test('server_urls lists several control plane URLs, after server_url; each must be an https URL', () => {
  const o = compileAgentOptions(validateConfig({ ...base, server_urls: ['https://cp2:8000/', 'https://127.0.0.1:8000', 'https://[::1]:8000'] }, '/x/c.json'), {}, '/x/c.json');
  assert.deepEqual(o.serverUrls, ['https://127.0.0.1:8000', 'https://cp2:8000', 'https://[::1]:8000']);
  const { server_url: _, ...noUrl } = base;
  assert.deepEqual(compileAgentOptions(validateConfig({ ...noUrl, server_urls: ['https://cp1:8000'] }, 'c.json'), {}, 'c.json').serverUrls, ['https://cp1:8000']);
  assert.throws(() => compileAgentOptions(validateConfig(noUrl, 'c.json'), {}, 'c.json'), /lacks server_url/);
  assert.throws(() => validateConfig({ ...base, server_urls: 'https://cp2:8000' }, 'c.json'), /"server_urls" must be a list of URLs/);
  assert.throws(() => validateConfig({ ...base, server_urls: ['cp2:8000'] }, 'c.json'), /"server_urls" must be a list of URLs/);
  assert.throws(() => validateConfig({ ...base, server_url: 'http://cp1:8000' }, 'c.json'), /"server_url" must look like https:\/\/HOST:PORT/);
});

test('metrics_listen is off by default, a loopback HOST:PORT when set; --metrics-listen overrides it; other addresses are refused', () => {
  assert.equal(compileAgentOptions(validateConfig(base, 'c.json'), {}, 'c.json').metricsListen, null);
  const o = compileAgentOptions(validateConfig({ ...base, metrics_listen: '127.0.0.1:9465' }, 'c.json'), {}, 'c.json');
  assert.deepEqual(o.metricsListen, { host: '127.0.0.1', port: 9465 });
  assert.deepEqual(compileAgentOptions(validateConfig({ ...base, metrics_listen: '[::1]:9465' }, 'c.json'), { metricsListen: 'localhost:9466' }, 'c.json').metricsListen,
    { host: '127.0.0.1', port: 9466 });
  assert.throws(() => validateConfig({ ...base, metrics_listen: '0.0.0.0:9465' }, 'c.json'), /"metrics_listen" must be a loopback address/);
  assert.throws(() => validateConfig({ ...base, metrics_listen: '9465' }, 'c.json'), /"metrics_listen" must be HOST:PORT/);
  assert.throws(() => validateConfig({ ...base, metrics_listen: 9465 }, 'c.json'), /"metrics_listen" must be a string/);
  assert.throws(() => compileAgentOptions(validateConfig(base, 'c.json'), { metricsListen: '10.0.0.1:9465' }, 'c.json'), /--metrics-listen must be a loopback address/);
});

test('certificate_path and private_key_path replace the generated pair; missing files are a clear error', async (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify({ ...base, certificate_path: 'nope.crt', private_key_path: 'nope.key' }));
  const r = await runBin('myx-agent', ['--config', cfg, '--web-port', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /certificate file .*nope\.crt does not exist/);
});

test('a missing config file says how to enroll', async (t) => {
  const dir = tempDir(t);
  const r = await runBin('myx-agent', ['--config', join(dir, 'none.json')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no config file at .*none\.json: enroll this agent first with `myx-agent enroll/);
});

test('an unknown key in the file stops the agent with the key named', async (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify({ ...base, colour: 'blue' }));
  const r = await runBin('myx-agent', ['--config', cfg]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown key "colour"/);
});

test('a config dir the agent cannot write suggests --config', { skip: process.getuid?.() === 0 ? 'root can write anywhere' : false }, async (t) => {
  const dir = tempDir(t);
  const ro = join(dir, 'ro');
  mkdirSync(ro);
  writeFileSync(join(ro, 'config.json'), JSON.stringify(base));
  chmodSync(ro, 0o500);
  const r = await runBin('myx-agent', ['--config', join(ro, 'config.json')]);
  assert.match(r.stderr, /--config/);
});

test('enrolling into a folder that cannot be created suggests --config', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const r = await runBin('myx-agent', ['enroll', '--server', 'https://127.0.0.1:1', '--token', 'myx1.' + 'a'.repeat(43) + '.' + 'ab'.repeat(32), '--config', join(file, 'sub', 'config.json')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /pass --config PATH/);
});

// `myx-agent enroll`: trades a one-time enrollment token for this agent's own token, pinning the
// control plane by the fingerprint inside the token, and writes the config file (0600).

import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileExists, writeFileAtomic } from '../common/files.ts';
import { ensureSelfSigned, loadCertificate } from '../common/tls-cert.ts';
import { parseEnrollmentToken } from '../protocol/enrollment-token.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import type { Labels } from '../protocol/wire.ts';
import { splitServerUrls } from '../protocol/server-urls.ts';
import { assertWritableDir, ConfigError, validateConfig, type AgentConfigFile } from './config.ts';
import { ControlClient } from './control-client.ts';
import { CONTROL_PLANE_URLS_FILE } from './control-plane-urls.ts';
import { defaultAgentName, hostName, osDescription } from './system-info.ts';

export interface EnrollOptions {
  /** The control plane's URL, or several (its replicas), comma-separated. */
  server: string;
  token: string;
  configPath: string;
  name?: string;
  webPort?: number;
  noWeb?: boolean;
  advertiseAddress?: string;
  bind?: string;
  labels?: Labels;
  /** Replace an existing enrollment in this config file. */
  force?: boolean;
}

export interface EnrollResult {
  agentId: string;
  name: string;
  configPath: string;
}

export async function enroll(o: EnrollOptions): Promise<EnrollResult> {
  const configPath = resolve(o.configPath);
  const configDir = dirname(configPath);
  const parsed = parseEnrollmentToken(o.token);
  if (!parsed) throw new ConfigError('the enrollment token is malformed: copy it whole from `myx token create`');
  const serverUrls = parseServerUrls(o.server);

  await mkdir(configDir, { recursive: true, mode: 0o700 }).catch(() => {});
  await assertWritableDir(configDir, configPath);
  const existing = (await fileExists(configPath)) ? validateConfig(JSON.parse(await readFile(configPath, 'utf8')), configPath) : {};
  if (existing.agent_token && !o.force) {
    throw new ConfigError(`${configPath} already holds an enrollment (agent ${existing.name ?? existing.agent_id}); pass --force to replace it`);
  }

  const web = !(o.noWeb ?? existing.web_service_enabled === false);
  const name = o.name ?? existing.name ?? defaultAgentName();
  let fingerprint: string | null = null;
  if (web) {
    const userTls = existing.certificate_path && existing.private_key_path;
    const files = userTls
      ? { certPath: resolve(configDir, existing.certificate_path!), keyPath: resolve(configDir, existing.private_key_path!) }
      : { certPath: join(configDir, 'ssl', 'agent.crt'), keyPath: join(configDir, 'ssl', 'agent.key') };
    fingerprint = (userTls ? await loadCertificate(files) : await ensureSelfSigned(files, `myx-agent ${name}`)).fingerprint;
  }
  const webPort = o.webPort ?? existing.web_service_port ?? 8443;
  const advertise = o.advertiseAddress ?? existing.advertise_address ?? null;
  const labels = { ...existing.labels, ...o.labels };

  const res = await ControlClient.register(serverUrls, parsed.serverFingerprint, {
    enrollment_token: o.token.trim(), name, hostname: hostName(), os: osDescription(), version: MYX_VERSION,
    mode: web ? 'web' : 'poll', web_port: web && webPort > 0 ? webPort : null, fingerprint, advertise_address: advertise, labels,
  });

  // the URL that took the enrollment first; with several, all of them (in that order)
  const urls = [res.url, ...serverUrls.filter((u) => u !== res.url)];
  const { server_url: _url, server_urls: _urls, ...kept } = existing;
  const config: AgentConfigFile = {
    ...kept,
    ...(urls.length === 1 ? { server_url: urls[0]! } : { server_urls: urls }),
    server_fingerprint: parsed.serverFingerprint,
    agent_id: res.agent_id,
    agent_token: res.agent_token,
    name: res.name,
    web_service_enabled: web,
    web_service_port: webPort,
    ...(o.bind ? { web_service_bind: o.bind } : {}),
    ...(advertise ? { advertise_address: advertise } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
  };
  await writeFileAtomic(configPath, JSON.stringify(config, null, 2) + '\n', 0o600);
  // URLs learned from a control plane enrolled with before are not this one's
  await rm(join(configDir, 'state', CONTROL_PLANE_URLS_FILE), { force: true });
  return { agentId: res.agent_id, name: res.name, configPath };
}

/** `--server`: one URL or several, separated by commas or blanks (as `myx replicas` lists them). */
function parseServerUrls(value: string): string[] {
  const split = splitServerUrls(value);
  if ('bad' in split) throw new ConfigError(`--server must look like https://HOST:PORT (several: separated by commas), got "${split.bad}"`);
  if (split.urls.length === 0) throw new ConfigError('--server needs the control plane\'s URL, like https://HOST:PORT');
  return split.urls;
}

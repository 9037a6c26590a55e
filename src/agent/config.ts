// The agent's configuration: the JSON file (snake_case keys, unknown keys are errors), command-line
// flags over it, checked once at start and compiled into one options object passed down.

import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MetricsListenError, parseMetricsListen, type LoopbackAddress } from '../common/loopback-address.ts';
import { normalizeFingerprint } from '../protocol/fingerprint.ts';
import { SERVER_URL } from '../protocol/server-urls.ts';
import type { Labels } from '../protocol/wire.ts';

export const DEFAULT_CONFIG_PATH = '/etc/myx-agent/config.json';

/** The config file as written on disk. */
export interface AgentConfigFile {
  /** The control plane's URL (one replica, a load balancer, or one name with several addresses). */
  server_url?: string;
  /**
   * Several URLs of the control plane (its replicas), tried in order; with server_url, that one
   * comes first. The agent also learns the replicas' URLs from the control plane (kept in
   * `state/control-plane-urls.json`) and turns to them when these fail.
   */
  server_urls?: string[];
  agent_token?: string;
  server_fingerprint?: string;
  agent_id?: string;
  /** Name shown in `myx agents`. @default the host name */
  name?: string;
  /** @default true */
  web_service_enabled?: boolean;
  /** @default 8443 */
  web_service_port?: number;
  /** @default 0.0.0.0 */
  web_service_bind?: string;
  /** The address the control plane should push to (NAT, several interfaces). */
  advertise_address?: string;
  certificate_path?: string;
  private_key_path?: string;
  labels?: Labels;
  /** @default 5 */
  heartbeat_interval_seconds?: number;
  /** @default info */
  log_level?: string;
  /** After an upgrade, how long the new version has to reach the control plane before it is rolled back. @default 60 */
  upgrade_confirm_seconds?: number;
  /** Before an upgrade restarts the agent, how long its running commands may take to finish; past that the upgrade fails. @default 300 */
  upgrade_drain_seconds?: number;
  /** A loopback HOST:PORT (e.g. 127.0.0.1:9465) where plain-HTTP GET /metrics answers, for a scraper on this host. @default off */
  metrics_listen?: string;
}

type KeyType = 'string' | 'url' | 'urls' | 'boolean' | 'port' | 'positive' | 'labels' | 'loopback';
const KEYS: Record<keyof AgentConfigFile, KeyType> = {
  server_url: 'url', server_urls: 'urls', agent_token: 'string', server_fingerprint: 'string', agent_id: 'string', name: 'string',
  web_service_enabled: 'boolean', web_service_port: 'port', web_service_bind: 'string', advertise_address: 'string',
  certificate_path: 'string', private_key_path: 'string', labels: 'labels', heartbeat_interval_seconds: 'positive',
  log_level: 'string', upgrade_confirm_seconds: 'positive', upgrade_drain_seconds: 'positive', metrics_listen: 'loopback',
};

export interface AgentFlags {
  webPort?: number;
  noWeb?: boolean;
  /** `--metrics-listen`, over metrics_listen. */
  metricsListen?: string;
}

export interface AgentOptions {
  configPath: string;
  configDir: string;
  /** The control plane's URLs from the config file (server_url first), without a trailing slash. */
  serverUrls: string[];
  agentToken: string;
  serverFingerprint: string;
  agentId: string | null;
  name: string | null;
  web: { enabled: boolean; port: number; bind: string };
  advertiseAddress: string | null;
  tls: { certPath: string; keyPath: string; userSupplied: boolean };
  labels: Labels;
  heartbeatIntervalSeconds: number;
  logLevel: string;
  journalPath: string;
  upgrade: { confirmSeconds: number; drainSeconds: number };
  /** Where GET /metrics answers (plain HTTP, loopback), or null: no metrics served. */
  metricsListen: LoopbackAddress | null;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

export async function readConfigFile(path: string): Promise<AgentConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ConfigError(`no config file at ${path}: enroll this agent first with \`myx-agent enroll --server URL --token TOKEN --config ${path}\``);
    }
    if (code === 'EACCES') throw new ConfigError(`cannot read ${path} (permission denied): run as root or pass --config PATH`);
    throw new ConfigError(`cannot read ${path}: ${code}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  return validateConfig(raw, path);
}

export function validateConfig(raw: unknown, path: string): AgentConfigFile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${path} must hold a JSON object`);
  for (const [key, value] of Object.entries(raw)) {
    const type = KEYS[key as keyof AgentConfigFile];
    if (!type) throw new ConfigError(`${path}: unknown key "${key}" (known keys: ${Object.keys(KEYS).join(', ')})`);
    const problem = checkValue(type, value);
    if (problem) throw new ConfigError(`${path}: "${key}" ${problem}`);
  }
  return raw as AgentConfigFile;
}

function checkValue(type: KeyType, v: unknown): string | undefined {
  switch (type) {
    case 'string': return typeof v === 'string' && v.length > 0 ? undefined : 'must be a non-empty string';
    case 'url': return typeof v === 'string' && SERVER_URL.test(v) ? undefined : 'must look like https://HOST:PORT';
    case 'urls':
      return Array.isArray(v) && v.length > 0 && v.every((u) => typeof u === 'string' && SERVER_URL.test(u))
        ? undefined : 'must be a list of URLs like ["https://cp1:8000", "https://cp2:8000"]';
    case 'boolean': return typeof v === 'boolean' ? undefined : 'must be true or false';
    case 'port': return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535 ? undefined : 'must be a port number (0-65535)';
    case 'positive': return typeof v === 'number' && v > 0 ? undefined : 'must be a positive number';
    case 'labels':
      return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')
        ? undefined : 'must be an object of string values';
    case 'loopback':
      if (typeof v !== 'string') return 'must be a string like "127.0.0.1:9465"';
      try {
        parseMetricsListen(v, 'it');
        return undefined;
      } catch (err) {
        return (err as Error).message.replace(/^it /, '');
      }
    default: {
      const _exhaustive: never = type;
      return _exhaustive;
    }
  }
}

export function compileAgentOptions(file: AgentConfigFile, flags: AgentFlags, configPath: string): AgentOptions {
  const path = resolve(configPath);
  const configDir = dirname(path);
  const serverUrls = [...new Set([...(file.server_url ? [file.server_url] : []), ...(file.server_urls ?? [])].map((u) => u.replace(/\/$/, '')))];
  if (serverUrls.length === 0 || !file.agent_token || !file.server_fingerprint) {
    throw new ConfigError(`${path} lacks server_url, agent_token or server_fingerprint: enroll with \`myx-agent enroll --server URL --token TOKEN --config ${path}\``);
  }
  const serverFingerprint = normalizeFingerprint(file.server_fingerprint);
  if (!serverFingerprint) throw new ConfigError(`${path}: "server_fingerprint" is not a SHA-256 fingerprint`);
  if ((file.certificate_path === undefined) !== (file.private_key_path === undefined)) {
    throw new ConfigError(`${path}: "certificate_path" and "private_key_path" go together`);
  }
  const userTls = file.certificate_path !== undefined && file.private_key_path !== undefined;
  return {
    configPath: path,
    configDir,
    serverUrls,
    agentToken: file.agent_token,
    serverFingerprint,
    agentId: file.agent_id ?? null,
    name: file.name ?? null,
    web: {
      enabled: flags.noWeb ? false : file.web_service_enabled ?? true,
      port: flags.webPort ?? file.web_service_port ?? 8443,
      bind: file.web_service_bind ?? '0.0.0.0',
    },
    advertiseAddress: file.advertise_address ?? null,
    tls: userTls
      ? { certPath: resolve(configDir, file.certificate_path!), keyPath: resolve(configDir, file.private_key_path!), userSupplied: true }
      : { certPath: join(configDir, 'ssl', 'agent.crt'), keyPath: join(configDir, 'ssl', 'agent.key'), userSupplied: false },
    labels: file.labels ?? {},
    heartbeatIntervalSeconds: file.heartbeat_interval_seconds ?? 5,
    logLevel: file.log_level ?? 'info',
    journalPath: join(configDir, 'state', 'journal.db'),
    upgrade: { confirmSeconds: file.upgrade_confirm_seconds ?? 60, drainSeconds: file.upgrade_drain_seconds ?? 300 },
    metricsListen: metricsListenOf(flags.metricsListen, file.metrics_listen, path),
  };
}

function metricsListenOf(flag: string | undefined, key: string | undefined, path: string): LoopbackAddress | null {
  try {
    if (flag !== undefined) return parseMetricsListen(flag, '--metrics-listen');
    return key === undefined ? null : parseMetricsListen(key, `${path}: "metrics_listen"`);
  } catch (err) {
    if (err instanceof MetricsListenError) throw new ConfigError(err.message);
    throw err;
  }
}

/** A clear error, suggesting --config, when the agent may not write where its config lives. */
export async function assertWritableDir(dir: string, configPath: string): Promise<void> {
  try {
    await access(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist and cannot be created' : 'is not writable';
    throw new ConfigError(`${dir} ${why} (config ${configPath}): run as root, or pass --config PATH to keep the config elsewhere (e.g. --config ./myx-agent/config.json)`);
  }
}

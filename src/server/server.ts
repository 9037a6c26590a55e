// The control plane process: prepares the data dir, certificate, store and operator token,
// listens, says so in one log line, and shuts down cleanly.

import { mkdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { checkSecretFile, writeFileAtomic, fileExists } from '../common/files.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { publicKeySha256Of, type LoadedCertificate } from '../common/tls-cert.ts';
import { curlPinnedPubkey } from '../protocol/install-line.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import { AgentClient } from './agent-client.ts';
import { buildServerApp } from './app.ts';
import { clusterCertificate } from './cluster-identity.ts';
import { CommandEvents } from './command-events.ts';
import type { ServerContext } from './context.ts';
import { Dispatcher } from './dispatcher.ts';
import { compileServerOptions, localUrlFor, publicUrlFor, type CompiledServerOptions, type ServerOptions } from './options.ts';
import { ServerMetrics } from './metrics.ts';
import { timeStore } from './metrics-store.ts';
import { startMetricsListener, type MetricsListener } from '../common/metrics-listener.ts';
import { hashToken, newId, newToken } from './secrets.ts';
import { FIRST_ADMIN } from './store/operator-store.ts';
import { openStore } from './store/open-store.ts';
import { HeartbeatPacing } from './heartbeat-pacing.ts';
import { ReplicaPresence } from './replica-presence.ts';
import { startSweeper, type Sweeper } from './sweeper.ts';
import { ReleaseDir } from './release-dir.ts';
import { RunControl } from './run-control.ts';
import { VersionWatch } from './version-watch.ts';
import { WebhookSender } from './webhook-sender.ts';
import type { Store } from './store/store.ts';

/** What `myx server` writes beside its data so a CLI on the same host can find it. No secrets. */
export interface ServerInfo {
  url: string;
  public_url: string;
  fingerprint: string;
  pid: number;
  version: string;
}

export interface RunningServer {
  url: string;
  publicUrl: string;
  fingerprint: string;
  operatorTokenPath: string;
  store: Store;
  close(): Promise<void>;
}

export async function startServer(input: ServerOptions, logger?: Logger): Promise<RunningServer> {
  const options = compileServerOptions(input);
  const log = logger ?? createLogger({ name: 'server', level: options.logLevel });
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const metrics = new ServerMetrics(options.store.kind);
  const store = timeStore(await openStore(options.store, log), metrics.registry);
  let operatorToken: { created: boolean };
  let cert: LoadedCertificate;
  try {
    cert = await clusterCertificate(options, store);
    operatorToken = await ensureOperatorToken(store, options.paths.operatorToken, log);
    await checkSecrets(options, cert, log);
  } catch (err) {
    await store.close();
    throw err;
  }
  const agentClient = new AgentClient(options.pushTimeoutMs, cert, metrics);
  let boundPort = options.port;
  const events = new CommandEvents(store);
  const dispatcher = new Dispatcher(store, agentClient, log, options.leaseSeconds);
  const runs = new RunControl(store, dispatcher, log);
  const publicUrl = () => publicUrlFor(options, boundPort);
  let sweeper: Sweeper | undefined;
  const replicas = new ReplicaPresence(store, log, {
    publicUrl, intervalMs: options.heartbeatIntervalSeconds * 1000, expireAfterMs: options.offlineAfterSeconds * 1000,
    sweeping: () => sweeper?.active ?? false,
  });
  const pacing = new HeartbeatPacing({
    baseSeconds: options.heartbeatIntervalSeconds, offlineAfterSeconds: options.offlineAfterSeconds, maxPerSecond: options.maxHeartbeatRate,
  });
  const ctx: ServerContext = {
    store, log, options, agentClient, events, dispatcher, runs, replicas, release: new ReleaseDir(options.releaseDir), versions: new VersionWatch(log),
    fingerprint: cert.fingerprint,
    pinnedPubkey: curlPinnedPubkey(publicKeySha256Of(cert.certPem)),
    publicUrl, metrics, pacing,
  };
  metrics.watch({ store, onlineWithinMs: () => pacing.offlineAfterMs(), sweeping: () => sweeper?.active ?? false, log });
  const app = buildServerApp(ctx, cert);
  let metricsListener: MetricsListener | undefined;
  try {
    await app.listen({ host: options.host, port: options.port });
    boundPort = (app.server.address() as AddressInfo).port;
    if (options.metricsListen) metricsListener = await startMetricsListener(options.metricsListen, () => metrics.render(), log);
    await replicas.start();
  } catch (err) {
    metrics.close();
    events.close();
    await metricsListener?.close();
    await app.close();
    await store.close();
    throw listenError(err, options.host, options.port);
  }
  sweeper = startSweeper(store, runs, log, options.output);
  const stopPacing = followFleetSize(store, pacing, log);
  const webhooks = new WebhookSender(store, log, options.webhooks);
  webhooks.start();
  const url = localUrlFor(options, boundPort);
  const info: ServerInfo = { url, public_url: ctx.publicUrl(), fingerprint: cert.fingerprint, pid: process.pid, version: MYX_VERSION };
  await writeFileAtomic(options.paths.serverInfo, JSON.stringify(info, null, 2) + '\n', 0o644);
  const release = await ctx.release.describe();
  log.info(
    {
      url, public_url: info.public_url, data_dir: options.dataDir, store: options.store.kind,
      database: options.store.kind === 'sqlite' ? options.store.path : options.store.display, fingerprint: cert.fingerprint,
      certificate: cert.certPath, certificate_generated: cert.generated, operator_token_file: options.paths.operatorToken,
      operator_token_created: operatorToken.created, version: MYX_VERSION, ...release,
    },
    `control plane listening on ${url}`,
  );
  return {
    url, publicUrl: info.public_url, fingerprint: cert.fingerprint, operatorTokenPath: options.paths.operatorToken, store,
    async close() {
      sweeper?.stop();
      stopPacing();
      webhooks.stop();
      await replicas.stop();
      await metricsListener?.close();
      await app.close();
      metrics.close();
      events.close();
      await agentClient.close();
      await store.close();
    },
  };
}

/** Token, key and an SQLite database (which holds agent tokens) must not be open to other users. */
async function checkSecrets(options: CompiledServerOptions, cert: LoadedCertificate, log: Logger): Promise<void> {
  const warn = (msg: string) => log.warn(msg);
  if (await fileExists(options.paths.operatorToken)) await checkSecretFile(options.paths.operatorToken, 'own', warn);
  if (options.store.kind === 'sqlite') await checkSecretFile(options.store.path, 'own', warn);
  await checkSecretFile(cert.keyPath, options.tls.userSupplied ? 'supplied' : 'own', warn);
}

/**
 * The operator token file of the data dir (0600), the first admin's (FIRST_ADMIN). The first start
 * creates it, and the admin with it. A data dir that has none on a store with operators (a new
 * replica) gets a token of that admin, when it is still there. A file whose token the store does not
 * know is left alone when the store has operators: its operator was removed or its token rotated,
 * and a restart must not bring it back.
 */
async function ensureOperatorToken(store: Store, path: string, log: Logger): Promise<{ created: boolean }> {
  const now = new Date().toISOString();
  if (await fileExists(path)) {
    const token = (await readFile(path, 'utf8')).trim();
    if ((await store.bootstrapAdmin(newId('op'), hashToken(token), now, false)) === 'refused') {
      log.warn({ operator_token_file: path }, `the operator token in ${path} is no longer valid (its operator was removed or its token rotated): `
        + 'the CLI on this host needs another one (`myx operators rotate NAME` prints a new one)');
    }
    return { created: false };
  }
  const token = newToken('operator');
  if ((await store.bootstrapAdmin(newId('op'), hashToken(token), now, true)) === 'refused') {
    log.warn({ operator_token_file: path }, `no operator token written to ${path}: the store has operators, but no admin named ${FIRST_ADMIN} to give one to; `
      + 'an admin can add an operator for this host (`myx operators add NAME --role admin`)');
    return { created: false };
  }
  await writeFileAtomic(path, token + '\n', 0o600);
  return { created: true };
}

export class ListenError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export function listenError(err: unknown, host: string, port: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new ListenError(code, `port ${port} on ${host} is already in use: stop what uses it (\`ss -ltnp 'sport = :${port}'\`) or pick another port`);
  if (code === 'EACCES') return new ListenError(code, `not allowed to listen on ${host}:${port} (ports below 1024 need root)`);
  if (code === 'EADDRNOTAVAIL') return new ListenError(code, `${host} is not an address of this host`);
  return err as Error;
}

/** How often the fleet is counted for the heartbeat interval. */
const FLEET_COUNT_EVERY_MS = 15_000;

/** Counts the enrolled agents now and every FLEET_COUNT_EVERY_MS, for the heartbeat interval; returns the stop function. */
function followFleetSize(store: Store, pacing: HeartbeatPacing, log: Logger): () => void {
  const count = async () => {
    try {
      const c = await store.fleetCounts(new Date(Date.now() - pacing.offlineAfterMs()).toISOString());
      const before = pacing.intervalSeconds;
      pacing.fleetIs(c.agents.reduce((n, a) => n + a.count, 0));
      if (pacing.intervalSeconds !== before) log.info({ heartbeat_interval_seconds: pacing.intervalSeconds }, 'the fleet changed size: agents heartbeat at a new interval');
    } catch (err) {
      log.warn({ err }, 'counting the agents for the heartbeat interval failed; the interval stays');
    }
  };
  void count();
  const timer = setInterval(() => void count(), FLEET_COUNT_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

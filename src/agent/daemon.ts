// The agent process: certificate, journal, web service (unless poll mode), heartbeats and the
// result spool, wired together; one log line says what it is doing.

import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { checkSecretFile } from '../common/files.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import type { LoadedCertificate } from '../common/tls-cert.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import type { AgentMode, Delivery, HeartbeatRequest, HeartbeatResponse } from '../protocol/wire.ts';
import type { MetricsListener } from '../common/metrics-listener.ts';
import { AgentCounters } from './agent-counters.ts';
import { Poller } from './poller.ts';
import { CommandRunner, type RunnerOptions } from './command-runner.ts';
import { assertWritableDir, compileAgentOptions, readConfigFile, type AgentFlags, type AgentOptions } from './config.ts';
import { ControlClient } from './control-client.ts';
import { CONTROL_PLANE_URLS_FILE, ControlPlaneUrls } from './control-plane-urls.ts';
import { Heartbeat } from './heartbeat.ts';
import { Journal } from './journal.ts';
import { unlessUnwritable } from './journal-health.ts';
import type { SendProgress } from './output-streamer.ts';
import { Upgrader } from './upgrader.ts';
import { UpgradeRecovery } from './upgrade-recovery.ts';
import { UpgradeFiles, type ExitRequest } from './upgrade-state.ts';
import { ResultReporter } from './result-reporter.ts';
import { defaultAgentName, hostName, osDescription } from './system-info.ts';

export interface RunningAgent {
  options: AgentOptions;
  mode: AgentMode;
  /** The bound web port (null in poll mode). */
  webPort: number | null;
  fingerprint: string | null;
  /**
   * Resolves when an upgrade needs this process to end (closed first; with `spawn`, that binary is
   * started before exiting): the switch to the new version is done, or it was rolled back.
   */
  exitRequested: Promise<ExitRequest>;
  close(): Promise<void>;
}

/** `logger` may be a factory, given the level from the config file. */
export async function startAgentFromConfig(
  configPath: string, flags: AgentFlags, runner?: RunnerOptions, logger?: Logger | ((level: string) => Logger),
): Promise<RunningAgent> {
  const options = compileAgentOptions(await readConfigFile(configPath), flags, configPath);
  return startAgent(options, runner, typeof logger === 'function' ? logger(options.logLevel) : logger);
}

export async function startAgent(options: AgentOptions, runnerOpts: RunnerOptions = {}, logger?: Logger): Promise<RunningAgent> {
  const log = logger ?? createLogger({ name: 'agent', level: options.logLevel });
  await assertWritableDir(options.configDir, options.configPath);
  const mode: AgentMode = options.web.enabled ? 'web' : 'poll';
  const name = options.name ?? defaultAgentName();
  const startedAt = Date.now();

  let cert: LoadedCertificate | null = null;
  if (mode === 'web') {
    // loaded only in web mode: a poll-mode agent never pays for the certificate library or the web framework
    const { ensureSelfSigned, loadCertificate } = await import('../common/tls-cert.ts');
    cert = options.tls.userSupplied ? await loadCertificate(options.tls) : await ensureSelfSigned(options.tls, `myx-agent ${name}`);
    if (cert.generated) log.info({ certificate: cert.certPath, fingerprint: cert.fingerprint }, 'generated a new self-signed certificate');
  }

  const warn = (msg: string) => log.warn(msg);
  await checkSecretFile(options.configPath, 'own', warn); // holds the agent token
  if (cert) await checkSecretFile(cert.keyPath, options.tls.userSupplied ? 'supplied' : 'own', warn);

  const journal = new Journal(options.journalPath, log); // a full or read-only disk: started anyway, refusing commands
  const urls = await ControlPlaneUrls.load(options.serverUrls, join(dirname(options.journalPath), CONTROL_PLANE_URLS_FILE), log, options.agentId ?? name);
  const client = new ControlClient(urls.all(), options.serverFingerprint, options.agentToken, (s) => {
    log.warn({ from: s.from, to: s.to }, `the control plane at ${s.from} does not answer (${s.reason}): talking to ${s.to} now`);
  });
  const reporter = new ResultReporter(journal, client, log);
  const sendProgress: SendProgress = (id, report) => client.progress(id, report);
  const counters = new AgentCounters();
  const runner = new CommandRunner(journal, reporter, sendProgress, log, { ...runnerOpts, counters });
  runner.recoverInterrupted();
  journal.onWritable(() => runner.resume());

  let requestExit: (r: ExitRequest) => void = () => {};
  const exitRequested = new Promise<ExitRequest>((resolve) => (requestExit = resolve));
  const upgradeFiles = new UpgradeFiles(dirname(options.journalPath));
  const upgrader = new Upgrader({
    log, client, files: upgradeFiles, times: options.upgrade, sendProgress, running: () => runner.running().length,
    refuse: (reason) => runner.refuse(reason), finish: (id, result) => runner.finishUpgrade(id, result), exit: (r) => requestExit(r),
  });
  runner.handleUpgradesWith(upgrader);
  const upgrade = new UpgradeRecovery({
    files: upgradeFiles, log, unfinishedUpgrades: () => runner.unfinishedUpgrades(), inProgress: () => upgrader.current,
    startedAt: (id) => unlessUnwritable(() => journal.get(id)?.started_at) ?? null, finish: (id, result) => runner.finishUpgrade(id, result),
  });
  upgrade.onGiveUp = (r) => requestExit(r);
  const pending = await upgrade.atStart();
  journal.onWritable(() => upgrade.finishInterrupted());
  if (pending.kind === 'restart') {
    // rolled back: the old binary is in place again, and this (new) version must not serve
    journal.close();
    await client.close();
    return { options, mode, webPort: null, fingerprint: null, exitRequested: Promise.resolve(pending.exit), close: async () => {} };
  }
  if (pending.kind === 'unconfirmed') runner.refuse(`starting ${MYX_VERSION} after an upgrade (not confirmed yet)`);

  let webPort: number | null = null;
  const app = cert
    ? (await import('./web-app.ts')).buildAgentApp({
      log, runner, agentToken: options.agentToken, serverFingerprint: options.serverFingerprint, tls: cert, counters,
      status: () => ({
        agent_id: options.agentId, name, hostname: hostName(), os: osDescription(), version: MYX_VERSION,
        uptime_seconds: Math.round((Date.now() - startedAt) / 1000), mode, web_port: webPort,
        journal: { ...journal.status(), held_results: reporter.heldCount },
      }),
    })
    : null;
  if (app) {
    try {
      await app.listen({ host: options.web.bind, port: options.web.port });
    } catch (err) {
      upgrade.stop();
      journal.close();
      await client.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new Error(`port ${options.web.port} on ${options.web.bind} is already in use: stop what uses it, start with --web-port N, or use --no-web (poll mode)`);
      }
      throw err;
    }
    webPort = (app.server.address() as AddressInfo).port;
  }

  const facts = (): HeartbeatRequest => ({
    name, hostname: hostName(), os: osDescription(), version: MYX_VERSION, mode, web_port: webPort,
    fingerprint: cert?.fingerprint ?? null, advertise_address: options.advertiseAddress, labels: options.labels,
    uptime_seconds: Math.round((Date.now() - startedAt) / 1000), running: runner.running().length,
  });
  const onDelivery = (d: Delivery) => runner.handleDelivery(d);
  // Removed from the control plane: nobody will take these commands' results, so nothing should run for it.
  const onRemoved = () => void runner.stopAll();
  // An upgraded agent's first heartbeat that goes through confirms its new version.
  const onBeat = (res: HeartbeatResponse) => {
    void urls.learn(res.control_plane_urls).then((changed) => {
      if (changed) {
        client.setUrls(urls.all());
        log.info({ urls: client.urls }, `the control plane's URLs: ${client.urls.join(', ')}`);
      }
    });
    const confirmed = upgrade.confirm();
    if (confirmed === 'confirmed') runner.refuse(null);
    else if (confirmed === 'rolled_back') requestExit({ reason: 'the upgrade was rolled back' });
  };
  const heartbeat = new Heartbeat(client, log, facts, onDelivery, options.heartbeatIntervalSeconds, onRemoved, onBeat);
  // poll mode: the poller beats between its polls (one connection); web mode: the heartbeat's own timer
  const poller = mode === 'poll' ? new Poller(client, log, heartbeat, onDelivery) : null;
  if (poller) poller.start();
  else heartbeat.start();
  reporter.start();
  let metrics: MetricsListener | undefined;
  const close = async () => {
    upgrader.stop();
    upgrade.stop();
    heartbeat.stop();
    poller?.stop();
    await metrics?.close();
    if (app) await app.close();
    await runner.stopAll();
    reporter.close();
    await client.close();
    journal.close();
  };
  if (options.metricsListen) {
    try {
      // prom-client is loaded only here: an agent without metrics_listen does not pay for it
      const { startAgentMetrics } = await import('./agent-metrics.ts');
      metrics = await startAgentMetrics(options.metricsListen, {
        mode, counters, journalPath: options.journalPath, journalWritable: () => journal.status().writable, heldResults: () => reporter.heldCount,
        unacknowledged: () => reporter.backlog, running: () => runner.runningCount, link: () => heartbeat.state,
      }, log);
    } catch (err) {
      await close();
      throw err;
    }
  }

  log.info(
    {
      mode, agent: name, agent_id: options.agentId, config: options.configPath, server: client.currentUrl, server_urls: client.urls,
      web_url: webPort ? `https://${options.web.bind}:${webPort}` : null, fingerprint: cert?.fingerprint ?? null,
      certificate: cert?.certPath ?? null, version: MYX_VERSION,
    },
    mode === 'web' ? `agent ${name} serving on https://${options.web.bind}:${webPort}` : `agent ${name} in poll mode (no web service)`,
  );

  return {
    options, mode, webPort, fingerprint: cert?.fingerprint ?? null, exitRequested, close,
  };
}

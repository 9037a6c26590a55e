// `myx-agent`: runs the agent daemon, or enrolls it with `myx-agent enroll`.

import { Command, Option } from 'commander';
import { MYX_VERSION } from '../protocol/version.ts';
import { env } from './env.ts';
import { CliError, EXIT, parsePort, reportAndExit } from './fail.ts';

const DEFAULT_CONFIG = env.agentConfig ?? '/etc/myx-agent/config.json';

const program = new Command('myx-agent')
  .description('The myx agent: runs commands sent by the control plane (web mode: pushed over HTTPS; poll mode: fetched).')
  .version(MYX_VERSION)
  .showHelpAfterError('(run with --help for usage)')
  // `enroll --config` belongs to enroll, not to the daemon's own --config
  .enablePositionalOptions()
  .option('--config <path>', 'config file (env MYX_AGENT_CONFIG)', DEFAULT_CONFIG)
  .option('--web-port <port>', 'web service port (default 8443, or web_service_port)')
  .option('--no-web', 'poll mode: run no web service')
  .option('--metrics-listen <host:port>', 'serve Prometheus metrics over plain HTTP on this loopback address, e.g. 127.0.0.1:9465 (or metrics_listen)')
  .action(async (o: { config: string; webPort?: string; web: boolean; metricsListen?: string }) => {
    const { startAgentFromConfig } = await import('../agent/daemon.ts');
    const { createLogger } = await import('../common/logger.ts');
    const agent = await startAgentFromConfig(o.config, {
      ...(o.webPort !== undefined ? { webPort: parsePort(o.webPort, '--web-port') } : {}),
      ...(o.web ? {} : { noWeb: true }),
      ...(o.metricsListen !== undefined ? { metricsListen: o.metricsListen } : {}),
    }, {}, (level) => createLogger({ name: 'agent', level: env.logLevel ?? level, ...(env.logFormat ? { format: env.logFormat } : {}) }));
    let stopping = false;
    const stop = () => {
      if (stopping) process.exit(EXIT.error);
      stopping = true;
      agent.close().then(() => process.exit(EXIT.ok), (err: unknown) => reportAndExit('myx-agent', err));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // An upgrade ends this process: systemd (Restart=always) or the upgrade guard starts the new
    // binary; a rollback started by hand starts the old one here, before exiting.
    void agent.exitRequested.then(async (req) => {
      if (stopping) return;
      stopping = true;
      await agent.close();
      if (req.spawn) {
        const { spawnAgent } = await import('../agent/supervision.ts');
        spawnAgent(req.spawn.binary, req.spawn.args).unref();
      }
      process.exit(EXIT.ok);
    }).catch((err: unknown) => reportAndExit('myx-agent', err));
  });

// Started by the agent itself during an upgrade (from the old binary), never by hand.
program
  .command('upgrade-guard', { hidden: true })
  .description('watch an upgrade of this agent and roll it back if the new version does not come back')
  .requiredOption('--state <file>', 'the upgrade plan (upgrade.json in the agent\'s state folder)')
  .action(async (o: { state: string }) => {
    const { runUpgradeGuard } = await import('../agent/upgrade-guard.ts');
    const { createLogger } = await import('../common/logger.ts');
    const log = createLogger({ name: 'upgrade-guard', level: env.logLevel ?? 'info', ...(env.logFormat ? { format: env.logFormat } : {}) });
    try {
      await runUpgradeGuard(o.state, log);
    } catch (err) {
      log.error({ err }, `the upgrade guard failed: ${(err as Error).message}`);
      process.exit(EXIT.error);
    }
    process.exit(EXIT.ok);
  });

program
  .command('enroll')
  .description('enroll this host with a control plane and write the config file')
  .requiredOption('--server <url[,url...]>', 'control plane URL, e.g. https://control:8000; replicas: several, comma-separated (the agent learns the others too)')
  .option('--token <token>', 'enrollment token from `myx token create` (better: env MYX_ENROLL_TOKEN, which other users cannot see in the process list)')
  .option('--config <path>', 'config file to write', DEFAULT_CONFIG)
  .option('--name <name>', 'agent name (default: host name)')
  .option('--web-port <port>', 'web service port (default 8443)')
  .option('--no-web', 'enroll in poll mode')
  .option('--bind <address>', 'address the web service listens on (default 0.0.0.0)')
  .option('--advertise-address <address>', 'address the control plane should push to (NAT, several interfaces)')
  .addOption(new Option('--label <key=value>', 'label (repeatable)').argParser((v: string, prev: string[] = []) => [...prev, v]))
  .option('--force', 'replace an existing enrollment in this config file')
  .action(async (o: {
    server: string; token?: string; config: string; name?: string; webPort?: string; web: boolean; bind?: string;
    advertiseAddress?: string; label?: string[]; force?: boolean;
  }) => {
    const labels: Record<string, string> = {};
    for (const l of o.label ?? []) {
      const i = l.indexOf('=');
      if (i <= 0) throw new CliError(`--label must be key=value, got "${l}"`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    const token = o.token ?? process.env.MYX_ENROLL_TOKEN;
    if (!token) throw new CliError('no enrollment token: set MYX_ENROLL_TOKEN (or pass --token); create one on the control plane with `myx token create`');
    const { enroll } = await import('../agent/enroll.ts');
    const res = await enroll({
      server: o.server, token, configPath: o.config, labels, noWeb: !o.web,
      ...(o.name ? { name: o.name } : {}),
      ...(o.webPort !== undefined ? { webPort: parsePort(o.webPort, '--web-port') } : {}),
      ...(o.bind ? { bind: o.bind } : {}),
      ...(o.advertiseAddress ? { advertiseAddress: o.advertiseAddress } : {}),
      ...(o.force ? { force: true } : {}),
    });
    const configFlag = res.configPath === '/etc/myx-agent/config.json' ? '' : ` --config ${res.configPath}`;
    process.stdout.write(`enrolled as "${res.name}" (${res.agentId}); config written to ${res.configPath} (0600)\nstart the agent with:  myx-agent${configFlag}\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => reportAndExit('myx-agent', err));

// `myx`: the operator CLI and the control plane's entry point. Heavy modules are imported by the
// sub-command that needs them, so `myx run` starts fast.

import { Command, Option } from 'commander';
import { COMMAND_STATUSES, isFinal } from '../protocol/command-status.ts';
import { displayText } from '../protocol/display-text.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import { env } from './env.ts';
import { CliError, EXIT, parseDuration, parseSize, reportAndExit } from './fail.ts';
import type { ConnectionFlags } from './operator-client.ts';
import { client, flagsOf, json, withConnection } from './command-setup.ts';
import { addClusterCommands } from './cluster-commands.ts';
import { addTokenCommands } from './token-commands.ts';
import { addAuditCommands } from './audit-commands.ts';
import { addOperatorCommands } from './operator-commands.ts';
import { addUpgradeCommand } from './upgrade-command.ts';
import { addWebhookCommands } from './webhook-commands.ts';
import { checkLimits, parseLabels, targetsOf, withTargetFlags } from './target-flags.ts';

const program = new Command('myx')
  .description('Run commands on a fleet of servers through myx agents.')
  .version(MYX_VERSION)
  .showHelpAfterError('(run with --help for usage)')
  // options go to the command they follow (it has none of its own), so `server install --listen`
  // can be install's, while `server --listen` stays the server's (see `server install` below)
  .enablePositionalOptions();

program
  .command('server')
  .description('run the control plane')
  .option('--data-dir <dir>', 'where the database, certificate and operator token live', env.dataDir ?? 'myx-data')
  .option('--listen <host:port>', 'address to listen on', '0.0.0.0:8000')
  .option('--public-url <url>', 'URL agents on other hosts use (default https://<hostname>:<port>)')
  .option('--tls-cert <file>', 'PEM certificate to use instead of the generated one')
  .option('--tls-key <file>', 'PEM private key for --tls-cert')
  .option('--log-level <level>', 'trace, debug, info, warn, error', env.logLevel ?? 'info')
  .option('--heartbeat-interval <seconds>', 'how often agents heartbeat (offline after 3 missed); longer on a fleet past --max-heartbeat-rate', '5')
  .option('--max-heartbeat-rate <per-second>', 'the fleet\'s heartbeats per second to stay under: past it agents are told a longer interval (10,000 agents: 50 s)', '200')
  .option('--lease <seconds>', 'how long a delivered command may wait for its agent to start it before it is queued again', '30')
  .option('--store <url>', 'PostgreSQL URL (postgres://user@host:5432/db) for replicas sharing one database (env MYX_DATABASE_URL; default SQLite in the data dir)')
  .option('--release-dir <dir>', 'the release to hand out to installers and upgrades (myx-agent, SHA256SUMS; default: the folder of this binary, or release/ of a checkout)')
  .option('--output-cap <size>', 'output kept of each stream of a command; past it, its first part and its last MiB (`myx logs`, the console)', '64MiB')
  .option('--output-retention <duration>', 'drop the kept output of commands finished longer ago than this (records and `myx show` summaries stay)', '30d')
  .option('--output-retention-size <size>', 'drop the kept output of the oldest finished commands while all of it is over this', '10GiB')
  .option('--webhook-retries <durations>', 'back-offs between failed webhook attempts, in order; their number bounds the retries', '10s,1m,5m,30m,2h,6h')
  .option('--webhook-timeout <duration>', 'how long a webhook receiver has to answer an attempt', '10s')
  .option('--metrics-listen <host:port>', 'also serve Prometheus metrics over plain HTTP, without credentials, on this loopback address, e.g. 127.0.0.1:9464 (env MYX_METRICS_LISTEN); the HTTPS API has GET /metrics for viewers either way', env.metricsListen)
  .action(async (o: {
    dataDir: string; listen: string; publicUrl?: string; tlsCert?: string; tlsKey?: string; logLevel: string; heartbeatInterval: string; maxHeartbeatRate: string; lease: string;
    store?: string; releaseDir?: string; outputCap: string; outputRetention: string; outputRetentionSize: string; webhookRetries: string; webhookTimeout: string;
    metricsListen?: string;
  }) => {
    const { startServer } = await import('../server/server.ts');
    const { urlHasPassword } = await import('../server/options.ts');
    const { createLogger } = await import('../common/logger.ts');
    const log = createLogger({ name: 'server', level: o.logLevel, ...(env.logFormat ? { format: env.logFormat } : {}) });
    if (o.store && urlHasPassword(o.store)) {
      log.warn('the --store URL carries a password, which other users of this host can read in the process list: put the URL in MYX_DATABASE_URL, or the password in ~/.pgpass or PGPASSWORD');
    }
    const store = o.store ?? env.databaseUrl;
    const { defaultReleaseDir } = await import('./release-location.ts');
    const server = await startServer({
      dataDir: o.dataDir, listen: o.listen, logLevel: o.logLevel, releaseDir: o.releaseDir ?? defaultReleaseDir(),
      heartbeatIntervalSeconds: positive(o.heartbeatInterval, '--heartbeat-interval'),
      maxHeartbeatRate: positive(o.maxHeartbeatRate, '--max-heartbeat-rate'), leaseSeconds: positive(o.lease, '--lease'),
      outputCapBytes: parseSize(o.outputCap, '--output-cap'), outputRetentionSeconds: parseDuration(o.outputRetention, '--output-retention'),
      outputRetentionBytes: parseSize(o.outputRetentionSize, '--output-retention-size'),
      webhookRetrySeconds: o.webhookRetries.split(',').map((d) => parseDuration(d, '--webhook-retries')),
      webhookTimeoutMs: parseDuration(o.webhookTimeout, '--webhook-timeout') * 1000,
      ...(o.publicUrl ? { publicUrl: o.publicUrl } : {}),
      ...(o.tlsCert ? { tlsCert: o.tlsCert } : {}),
      ...(o.tlsKey ? { tlsKey: o.tlsKey } : {}),
      ...(store ? { store } : {}),
      ...(o.metricsListen ? { metricsListen: o.metricsListen } : {}),
    }, log);
    stopOnSignal(() => server.close());
  });

program.commands.find((c) => c.name() === 'server')!
  // `server install --listen …`: the options after `install` are install's own
  .enablePositionalOptions()
  .command('install')
  .description('install the control plane as a systemd service: the release in /usr/local/lib/myx, /usr/local/bin/myx, the myx user, myx-server.service (data in /var/lib/myx)')
  .option('--listen <host:port>', 'address the service listens on', '0.0.0.0:8000')
  .option('--public-url <url>', 'URL agents on other hosts use (default https://<hostname>:<port>)')
  .option('--release-dir <dir>', 'the release to install (myx, myx-agent, SHA256SUMS; default: the folder of this binary, or release/ of a checkout)')
  .option('--prefix <dir>', 'put every file under DIR (for images and tests); the user is not created')
  .option('--store <url|->', 'run on PostgreSQL: the database URL, or - to read it from stdin (env MYX_DATABASE_URL); written to /etc/myx/server.env (0600), never into the unit')
  .option('--no-start', 'write everything, start nothing')
  .action(async (o: { listen: string; publicUrl?: string; releaseDir?: string; prefix?: string; store?: string; start: boolean }) => {
    const { installServer } = await import('./server-install.ts');
    const { defaultReleaseDir } = await import('./release-location.ts');
    const { urlHasPassword } = await import('../server/options.ts');
    if (o.store && o.store !== '-' && urlHasPassword(o.store)) {
      process.stderr.write('myx: the --store URL carries a password, which other users of this host can read in the process list: pass --store - and the URL on stdin, or set MYX_DATABASE_URL\n');
    }
    const databaseUrl = o.store === '-' ? (await readStdin()).trim() : o.store ?? env.databaseUrl;
    process.stdout.write(await installServer({
      listen: o.listen, releaseDir: o.releaseDir ?? defaultReleaseDir(), noStart: !o.start,
      ...(o.publicUrl ? { publicUrl: o.publicUrl } : {}), ...(o.prefix ? { prefix: o.prefix } : {}),
      ...(databaseUrl ? { databaseUrl } : {}),
    }));
  });

program
  .command('up')
  .description('start a control plane and one local agent under ./.myx/ (a playground on this host)')
  .option('--dir <dir>', 'where both keep their data', '.myx')
  .option('--port <port>', 'control plane port', '8000')
  .option('--agent-port <port>', 'local agent web port', '8443')
  .action(async (o: { dir: string; port: string; agentPort: string }) => {
    const { up } = await import('./up.ts');
    const running = await up(o);
    stopOnSignal(running.close);
    process.stdout.write(running.banner);
  });

addTokenCommands(program);
addClusterCommands(program);
addOperatorCommands(program);
addAuditCommands(program);
addWebhookCommands(program);

const agents = withConnection(program.command('agents'))
  .description('list enrolled agents; `agents remove` and `agents label` change them')
  .option('--removed', 'list the removed agents instead (their commands stay in `myx commands` and `myx show`)')
  .option('--json', 'print the agent records as JSON')
  .action(async (_o: unknown, cmd: Command) => {
    const o = flagsOf<ConnectionFlags & { json?: boolean; removed?: boolean }>(cmd);
    const c = await client(o);
    const list = await c.agentList(o.removed ?? false);
    await c.close();
    if (o.json) json(list.agents);
    else process.stdout.write((await import('./agents-table.ts')).agentsTable(list.agents, o.removed ?? false, list.control_plane_version));
  });
addUpgradeCommand(agents);
withConnection(agents.command('remove'))
  .description('remove an agent: its token stops working, its unfinished commands end cancelled, its history stays')
  .argument('<name-or-id>')
  .action(async (nameOrId: string, _o: unknown, cmd: Command) => {
    const c = await client(flagsOf<ConnectionFlags>(cmd));
    const r = await c.removeAgent(nameOrId);
    await c.close();
    const running = r.running === 0 ? ''
      : `; ${r.running} of them were with the agent: ${r.cancel_pushed} stopped at once, ${r.running - r.cancel_pushed === 0 ? 'none left' : `${r.running - r.cancel_pushed} when the agent next hears it was removed`}`;
    process.stdout.write(displayText(`removed agent ${r.name} (${r.removed}); its token no longer works. `
      + (r.cancelled === 0 ? 'It had no unfinished commands.' : `${r.cancelled} unfinished command${r.cancelled === 1 ? '' : 's'} cancelled${running}.`)) + '\n');
  });

withTargetFlags(withConnection(program.command('run')), 'run on')
  .description('run a command on agents and print each result; exit 0 only if all succeeded')
  .option('--timeout <duration>', 'kill the command after this long (default 300s)')
  .option('--ttl <duration>', 'how long a command waits for an offline agent before it expires (default 1h)')
  .option('--max-concurrency <n|n%>', 'run on at most this many agents at once')
  .option('--max-errors <n|n%>', 'start no new agents once this many failed; the rest end skipped')
  .option('--stream', 'print output line by line as it arrives, even for many targets')
  .option('--group', 'print identical outputs once, grouped, even for few targets')
  .option('--strip-control', 'remove terminal control sequences (colours, cursor moves, OSC) from the output shown; by default output is shown as the command printed it, as ssh does')
  .option('--json', 'print the final command records as JSON')
  .argument('<command>', 'program to run (no shell: use `sh -c "..."` for shell syntax)')
  .argument('[args...]', 'its arguments, passed verbatim')
  .usage('(--agent NAME ... | --label KEY=VALUE ... | --all) [options] -- COMMAND [ARGS...]')
  .action(async (command: string, args: string[], _o: unknown, cmd: Command) => {
    const o = flagsOf<ConnectionFlags & {
      agent?: string[]; label?: string[]; all?: boolean; timeout?: string; ttl?: string; maxConcurrency?: string; maxErrors?: string;
      stream?: boolean; group?: boolean; json?: boolean; stripControl?: boolean;
    }>(cmd);
    const targets = targetsOf(o, 'say where to run it');
    checkLimits([['--max-concurrency', o.maxConcurrency], ['--max-errors', o.maxErrors]]);
    const timeout = o.timeout === undefined ? undefined : parseDuration(o.timeout, '--timeout');
    const ttl = o.ttl === undefined ? undefined : parseDuration(o.ttl, '--ttl');
    const { runCommand } = await import('./run-command.ts');
    const c = await client(o);
    const code = await runCommand(c, {
      targets, json: o.json ?? false, command, args,
      ...(timeout ? { timeout } : {}), ...(ttl ? { ttl } : {}),
      ...(o.maxConcurrency ? { maxConcurrency: o.maxConcurrency } : {}), ...(o.maxErrors ? { maxErrors: o.maxErrors } : {}),
      ...(o.stream ? { stream: true } : o.group ? { stream: false } : {}),
      ...(o.stripControl ? { stripControl: true } : {}),
    });
    await c.close();
    process.exitCode = code;
  });

withConnection(program.command('runs'))
  .description('list recent runs with their counts')
  .option('--limit <n>', 'how many', '20')
  .option('--json', 'print the run records as JSON')
  .action(async (_o: unknown, cmd: Command) => {
    const o = flagsOf<ConnectionFlags & { limit: string; json?: boolean }>(cmd);
    const c = await client(o);
    const list = await c.runs(Number(o.limit) || 20);
    await c.close();
    if (o.json) json(list);
    else process.stdout.write((await import('./command-views.ts')).runsTable(list));
  });

withConnection(agents.command('label'))
  .description('set labels on an agent (key=value), or remove them (key-)')
  .argument('<name-or-id>')
  .argument('<labels...>', 'key=value to set, key- to remove')
  .action(async (nameOrId: string, labels: string[], _o: unknown, cmd: Command) => {
    const remove = labels.filter((l) => /^[^=]+-$/.test(l)).map((l) => l.slice(0, -1));
    const set = parseLabels(labels.filter((l) => !/^[^=]+-$/.test(l)));
    const c = await client(flagsOf<ConnectionFlags>(cmd));
    const res = await c.setLabels(nameOrId, set, remove);
    await c.close();
    // the agent's own labels come from its config: as reported, so shown through displayText
    process.stdout.write(displayText(`${nameOrId}: ${Object.entries(res.labels).map(([k, v]) => `${k}=${v}`).join(' ') || '(no labels)'}`) + '\n');
  });

withConnection(program.command('show'))
  .description('show one command (status, timing, delivery, output) or one run (counts and its commands)')
  .argument('<id>', 'a command id (cmd_...) or a run id (run_...)')
  .option('--strip-control', 'remove terminal control sequences from the output shown (by default they are shown escaped, like \\x1b[31m)')
  .option('--json', 'print the record as JSON')
  .action(async (id: string, _o: unknown, cmd: Command) => {
    const o = flagsOf<ConnectionFlags & { json?: boolean; stripControl?: boolean }>(cmd);
    const c = await client(o);
    const views = await import('./command-views.ts');
    const { escapedOutput, strippedOutput } = await import('./run-printer.ts');
    const output = o.stripControl ? strippedOutput : escapedOutput;
    if (id.startsWith('run_')) {
      const res = await c.getRun(id);
      if (o.json) json(res);
      else process.stdout.write(views.runDetails(res.run, res.commands, output));
    } else {
      const record = await c.command(id);
      if (o.json) json(record);
      else process.stdout.write(views.commandDetails(record, output));
    }
    await c.close();
  });

withConnection(program.command('logs'))
  .description('print a command\'s output as the control plane keeps it (all of it up to its --output-cap), page by page; --follow it as it runs')
  .argument('<command-id>')
  .option('-f, --follow', 'keep printing output as the command prints it, until it ends (reconnecting if the control plane restarts)')
  .option('--tail <n>', 'start with the last N lines')
  .addOption(new Option('--stream <stream>', 'only this stream (default: both, as printed)').choices(['stdout', 'stderr']))
  .option('--strip-control', 'remove terminal control sequences (colours, cursor moves, OSC) from the output; by default it is printed as the command printed it, as `myx run` does')
  .action(async (id: string, _o: unknown, cmd: Command) => {
    const o = flagsOf<ConnectionFlags & { follow?: boolean; tail?: string; stream?: 'stdout' | 'stderr'; stripControl?: boolean }>(cmd);
    const tail = o.tail === undefined ? undefined : Number(o.tail);
    if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0 && tail <= 100_000)) throw new CliError('--tail must be a whole number of lines from 0 to 100000');
    const { logsCommand } = await import('./logs-command.ts');
    const c = await client(o);
    try {
      process.exitCode = await logsCommand(c, {
        id, stream: o.stream ?? 'all', follow: o.follow ?? false, stripControl: o.stripControl ?? false, ...(tail === undefined ? {} : { tail }),
      });
    } finally {
      await c.close();
    }
  });

withConnection(program.command('commands'))
  .description('list recent commands, newest first')
  .option('--agent <name-or-id>', 'only this agent\'s')
  .addOption(new Option('--status <status>', 'only in this state').choices([...COMMAND_STATUSES]))
  .option('--limit <n>', 'how many', '50')
  .option('--json', 'print the records as JSON')
  .action(async (_o: unknown, cmd: Command) => {
    const o = flagsOf<ConnectionFlags & { agent?: string; status?: string; limit: string; json?: boolean }>(cmd);
    const limit = Number(o.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('--limit must be a whole number from 1 to 1000');
    const c = await client(o);
    const list = await c.commands({ limit, ...(o.agent ? { agent: o.agent } : {}), ...(o.status ? { status: o.status } : {}) });
    await c.close();
    if (o.json) json(list);
    else process.stdout.write((await import('./command-views.ts')).commandsTable(list));
  });

withConnection(program.command('cancel'))
  .description('cancel a command: a queued one never starts, a running one is killed with its process group')
  .argument('<command-id>')
  .option('--no-wait', 'return once the cancel is asked for, without waiting for the command to end')
  .action(async (id: string, _o: unknown, cmd: Command) => {
    const o = flagsOf<ConnectionFlags & { wait: boolean }>(cmd);
    const c = await client(o);
    const res = await c.cancel(id);
    let record = res.command;
    if (res.outcome === 'final') process.stdout.write(`${id} had already ended: ${record.status}\n`);
    else if (res.outcome === 'cancelled') process.stdout.write(`${id} cancelled before it was delivered\n`);
    else {
      process.stdout.write(`cancel sent to ${displayText(record.agent_name)}\n`);
      for (let i = 0; o.wait && i < 6 && !isFinal(record.status); i++) record = (await c.wait([id], 10)).commands[0]!;
      if (o.wait) process.stdout.write(isFinal(record.status) ? `${id} ${record.status}\n` : `${id} still ${record.status}; the agent gets the cancel with its next heartbeat\n`);
    }
    await c.close();
    process.exitCode = record.status === 'cancelled' || res.outcome === 'final' ? EXIT.ok : EXIT.commandFailed;
  });

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

function positive(value: string, what: string): number {
  const n = Number(value);
  if (!(n > 0) || n > 86400) throw new CliError(`${what} must be a number of seconds above 0, got "${value}"`);
  return n;
}

function stopOnSignal(close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(EXIT.error);
    stopping = true;
    process.stderr.write(`${signal}: stopping\n`);
    close().then(() => process.exit(EXIT.ok), (err: unknown) => reportAndExit('myx', err));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

program.parseAsync(process.argv).catch((err: unknown) => reportAndExit('myx', err));

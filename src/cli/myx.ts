// `myx`: the operator CLI and the control plane's entry point. Heavy modules are imported by the
// sub-command that needs them, so `myx run` starts fast.

import { Command, Option } from 'commander';
import { COMMAND_STATUSES, isFinal } from '../protocol/command-status.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import { env } from './env.ts';
import { CliError, EXIT, parseDuration, reportAndExit } from './fail.ts';
import type { ConnectionFlags } from './operator-client.ts';

const program = new Command('myx')
  .description('Run commands on a fleet of servers through myx agents.')
  .version(MYX_VERSION)
  .showHelpAfterError('(run with --help for usage)');

function withConnection(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data dir of a control plane on this host (env MYX_DATA_DIR; default ./myx-data or ./.myx/server)')
    .option('--server <url>', 'control plane URL (env MYX_SERVER)')
    .option('--token <token>', 'operator token (env MYX_TOKEN)')
    .option('--fingerprint <sha256>', 'control plane certificate fingerprint (env MYX_SERVER_FINGERPRINT)');
}

async function client(flags: ConnectionFlags) {
  const { resolveConnection, OperatorClient } = await import('./operator-client.ts');
  return new OperatorClient(await resolveConnection(flags));
}

program
  .command('server')
  .description('run the control plane')
  .option('--data-dir <dir>', 'where the database, certificate and operator token live', env.dataDir ?? 'myx-data')
  .option('--listen <host:port>', 'address to listen on', '0.0.0.0:8000')
  .option('--public-url <url>', 'URL agents on other hosts use (default https://<hostname>:<port>)')
  .option('--tls-cert <file>', 'PEM certificate to use instead of the generated one')
  .option('--tls-key <file>', 'PEM private key for --tls-cert')
  .option('--log-level <level>', 'trace, debug, info, warn, error', env.logLevel ?? 'info')
  .option('--heartbeat-interval <seconds>', 'how often agents heartbeat (offline after 3 missed)', '5')
  .option('--lease <seconds>', 'how long a delivered command may wait for its agent to start it before it is queued again', '30')
  .action(async (o: {
    dataDir: string; listen: string; publicUrl?: string; tlsCert?: string; tlsKey?: string; logLevel: string; heartbeatInterval: string; lease: string;
  }) => {
    const { startServer } = await import('../server/server.ts');
    const { createLogger } = await import('../common/logger.ts');
    const server = await startServer({
      dataDir: o.dataDir, listen: o.listen, logLevel: o.logLevel,
      heartbeatIntervalSeconds: positive(o.heartbeatInterval, '--heartbeat-interval'), leaseSeconds: positive(o.lease, '--lease'),
      ...(o.publicUrl ? { publicUrl: o.publicUrl } : {}),
      ...(o.tlsCert ? { tlsCert: o.tlsCert } : {}),
      ...(o.tlsKey ? { tlsKey: o.tlsKey } : {}),
    }, createLogger({ name: 'server', level: o.logLevel, ...(env.logFormat ? { format: env.logFormat } : {}) }));
    stopOnSignal(() => server.close());
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

const token = program.command('token').description('enrollment tokens');
withConnection(token.command('create'))
  .description('create a one-time enrollment token and print the line that enrolls an agent')
  .option('--ttl <duration>', 'how long the token stays valid (90s, 15m, 1h, 2d)', '1h')
  .option('--json', 'print {"token", "expires_at", "join"}')
  .action(async (o: ConnectionFlags & { ttl: string; json?: boolean }) => {
    const ttl = parseDuration(o.ttl, '--ttl');
    const c = await client(o);
    const t = await c.createEnrollmentToken(ttl);
    await c.close();
    if (o.json) process.stdout.write(JSON.stringify(t, null, 2) + '\n');
    else process.stdout.write(`Enrollment token (single use, expires ${t.expires_at}):\n  ${t.token}\n\nOn the new host, run:\n  ${t.join}\nthen start the agent there with:  myx-agent\n`);
  });

const agents = withConnection(program.command('agents'))
  .description('list enrolled agents')
  .option('--json', 'print the agent records as JSON')
  .action(async (o: ConnectionFlags & { json?: boolean }) => {
    const c = await client(o);
    const list = await c.agents();
    await c.close();
    if (o.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
    else process.stdout.write((await import('./agents-table.ts')).agentsTable(list));
  });
withConnection(agents.command('remove'))
  .description('remove an enrolled agent (its token stops working)')
  .argument('<name-or-id>')
  .action(async (nameOrId: string, o: ConnectionFlags) => {
    const c = await client(o);
    const id = await c.removeAgent(nameOrId);
    await c.close();
    process.stdout.write(`removed agent ${id}\n`);
  });

withConnection(program.command('run'))
  .description('run a command on agents and print each result; exit 0 only if all succeeded')
  .addOption(new Option('--agent <name-or-id>', 'target agent (repeatable)').argParser((v: string, prev: string[] = []) => [...prev, v]))
  .option('--all', 'target every enrolled agent')
  .option('--timeout <duration>', 'kill the command after this long (default 300s)')
  .option('--ttl <duration>', 'how long a command waits for an offline agent before it expires (default 1h)')
  .option('--json', 'print the final command records as JSON')
  .argument('<command>', 'program to run (no shell: use `sh -c "..."` for shell syntax)')
  .argument('[args...]', 'its arguments, passed verbatim')
  .usage('(--agent NAME ... | --all) [options] -- COMMAND [ARGS...]')
  .action(async (command: string, args: string[], o: ConnectionFlags & { agent?: string[]; all?: boolean; timeout?: string; ttl?: string; json?: boolean }) => {
    if (!o.all && !o.agent?.length) throw new CliError('say where to run it: --agent NAME (repeatable) or --all');
    if (o.all && o.agent?.length) throw new CliError('--all and --agent do not go together');
    const timeout = o.timeout === undefined ? undefined : parseDuration(o.timeout, '--timeout');
    const ttl = o.ttl === undefined ? undefined : parseDuration(o.ttl, '--ttl');
    const { runCommand } = await import('./run-command.ts');
    const c = await client(o);
    const code = await runCommand(c, {
      agents: o.agent ?? [], all: o.all ?? false, json: o.json ?? false, command, args, ...(timeout ? { timeout } : {}), ...(ttl ? { ttl } : {}),
    });
    await c.close();
    process.exitCode = code;
  });

withConnection(program.command('show'))
  .description('show one command: status, timing, delivery, output')
  .argument('<command-id>')
  .option('--json', 'print the record as JSON')
  .action(async (id: string, o: ConnectionFlags & { json?: boolean }) => {
    const c = await client(o);
    const record = await c.command(id);
    await c.close();
    process.stdout.write(o.json ? JSON.stringify(record, null, 2) + '\n' : (await import('./command-views.ts')).commandDetails(record));
  });

withConnection(program.command('commands'))
  .description('list recent commands, newest first')
  .option('--agent <name-or-id>', 'only this agent\'s')
  .addOption(new Option('--status <status>', 'only in this state').choices([...COMMAND_STATUSES]))
  .option('--limit <n>', 'how many', '50')
  .option('--json', 'print the records as JSON')
  .action(async (o: ConnectionFlags & { agent?: string; status?: string; limit: string; json?: boolean }) => {
    const limit = Number(o.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('--limit must be a whole number from 1 to 1000');
    const c = await client(o);
    const list = await c.commands({ limit, ...(o.agent ? { agent: o.agent } : {}), ...(o.status ? { status: o.status } : {}) });
    await c.close();
    process.stdout.write(o.json ? JSON.stringify(list, null, 2) + '\n' : (await import('./command-views.ts')).commandsTable(list));
  });

withConnection(program.command('cancel'))
  .description('cancel a command: a queued one never starts, a running one is killed with its process group')
  .argument('<command-id>')
  .option('--no-wait', 'return once the cancel is asked for, without waiting for the command to end')
  .action(async (id: string, o: ConnectionFlags & { wait: boolean }) => {
    const c = await client(o);
    const res = await c.cancel(id);
    let record = res.command;
    if (res.outcome === 'final') process.stdout.write(`${id} had already ended: ${record.status}\n`);
    else if (res.outcome === 'cancelled') process.stdout.write(`${id} cancelled before it was delivered\n`);
    else {
      process.stdout.write(`cancel sent to ${record.agent_name}\n`);
      for (let i = 0; o.wait && i < 6 && !isFinal(record.status); i++) record = (await c.wait([id], 10)).commands[0]!;
      if (o.wait) process.stdout.write(isFinal(record.status) ? `${id} ${record.status}\n` : `${id} still ${record.status}; the agent gets the cancel with its next heartbeat\n`);
    }
    await c.close();
    process.exitCode = record.status === 'cancelled' || res.outcome === 'final' ? EXIT.ok : EXIT.commandFailed;
  });

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

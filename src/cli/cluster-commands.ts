// `myx replicas` (the control plane's live replicas) and `myx store copy` (one store into
// another: SQLite to PostgreSQL when a control plane moves to replicas, or back).

import type { Command } from 'commander';
import { displayText } from '../protocol/display-text.ts';
import type { ReplicaView } from '../protocol/wire.ts';
import { client, flagsOf, json, withConnection } from './command-setup.ts';
import { env } from './env.ts';
import { CliError } from './fail.ts';
import type { ConnectionFlags } from './operator-client.ts';

export function addClusterCommands(program: Command): void {
  withConnection(program.command('replicas'))
    .description('list the control plane\'s live replicas: public URL, which one sweeps, version, last seen')
    .option('--json', 'print the replica records as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { json?: boolean }>(cmd);
      const c = await client(o);
      const list = await c.replicas();
      await c.close();
      if (o.json) json(list);
      else process.stdout.write(replicasTable(list));
    });

  const store = program.command('store').description('the control plane\'s store: copy it to another backend');
  store.command('copy')
    .description('copy a whole store into another (agents, tokens, runs, commands, output); stop the control plane first. '
      + 'Agents keep working with the copy: start the server on it with the same data dir (certificate)')
    .requiredOption('--from <store>', 'an SQLite file or data dir (myx-data/myx.db), or a PostgreSQL URL')
    .option('--to <store>', 'a PostgreSQL URL (env MYX_DATABASE_URL), or an SQLite file or data dir')
    .option('--force', 'replace what the target holds (by default a target that is not empty is refused)')
    .action(async (o: { from: string; to?: string; force?: boolean }) => {
      const { copyTarget, urlHasPassword } = await import('../server/options.ts');
      const to = o.to ?? env.databaseUrl;
      if (!to) throw new CliError('say where to copy to: --to postgres://… (or MYX_DATABASE_URL), or an SQLite file');
      for (const [flag, v] of [['--from', o.from], ['--to', o.to]] as const) {
        if (v && urlHasPassword(v)) process.stderr.write(`myx: the ${flag} URL carries a password, which other users of this host can read in the process list: use ~/.pgpass or PGPASSWORD\n`);
      }
      const from = copyTarget(o.from, '--from');
      const target = copyTarget(to, '--to');
      const { copyStore } = await import('../server/store/copy/store-copy.ts');
      const counts = await copyStore(from, target, { force: o.force ?? false });
      const shown = (t: typeof from) => (t.kind === 'sqlite' ? t.path : t.display);
      const n = (table: string) => counts[table] ?? 0;
      process.stdout.write(`copied ${shown(from)} to ${shown(target)}: ${n('agents')} agents, ${n('enrollment_tokens')} enrollment tokens, `
        + `${n('operator_tokens')} operator tokens, ${n('runs')} runs, ${n('commands')} commands, ${n('output_chunks')} output chunks`
        + `${n('webhooks') ? `, ${n('webhooks')} webhooks (${n('webhook_deliveries')} deliveries)` : ''}`
        + `${n('cluster_identity') ? ', the certificate fingerprint agents pinned' : ''}\n`);
    });
}

function replicasTable(list: ReplicaView[]): string {
  if (list.length === 0) return 'No live replicas (none renewed its registration lately).\n';
  const header = ['URL', 'ID', 'SWEEPER', 'VERSION', 'STARTED', 'LAST SEEN'];
  const rows = list.map((r) => [
    `${r.public_url}${r.self ? ' (this one)' : ''}`, r.id, r.sweeper ? 'yes' : '-', r.version, r.started_at.replace('T', ' ').slice(0, 19),
    `${Math.max(0, Math.round((Date.now() - Date.parse(r.last_seen_at)) / 1000))}s ago`,
  ].map((c) => displayText(c)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const all = [...new Set(list.map((r) => r.public_url))].join(',');
  return [line(header), ...rows.map(line)].join('\n') + `\n\nAll of them, for --server or MYX_SERVER: ${displayText(all)}\n`;
}

// `myx agents upgrade`: upgrades agents to the agent binary in the control plane's release
// directory, as a run paced like `myx run` (a tenth of the targets at a time, stopping at the first
// failure, by default), with the same status lines. Each agent replaces itself and comes back on the
// new version, or is rolled back to the old one, which reports why.

import type { Command } from 'commander';
import { UPGRADE_DEFAULTS } from '../protocol/upgrade.ts';
import { client, flagsOf, withConnection } from './command-setup.ts';
import { parseDuration } from './fail.ts';
import type { ConnectionFlags } from './operator-client.ts';
import { checkLimits, targetsOf, withTargetFlags, type TargetFlags } from './target-flags.ts';

export function addUpgradeCommand(agents: Command): void {
  withTargetFlags(withConnection(agents.command('upgrade')), 'upgrade')
    .description('upgrade agents to the myx-agent of the control plane\'s release directory, as a paced run; exit 0 only if all succeeded')
    .option('--max-concurrency <n|n%>', 'upgrade at most this many agents at once', UPGRADE_DEFAULTS.maxConcurrency)
    .option('--max-errors <n|n%>', 'start no new upgrades once this many failed; the rest end skipped', UPGRADE_DEFAULTS.maxErrors)
    .option('--ttl <duration>', `how long an upgrade waits for an offline agent before it expires (default ${UPGRADE_DEFAULTS.ttlSeconds / 60}m)`)
    .option('--allow-downgrade', 'install the release on agents that run a newer version too')
    .option('--json', 'print the final command records as JSON')
    .usage('(--agent NAME ... | --label KEY=VALUE ... | --all) [options]')
    .action(async (_o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & TargetFlags & {
        maxConcurrency: string; maxErrors: string; ttl?: string; allowDowngrade?: boolean; json?: boolean;
      }>(cmd);
      const targets = targetsOf(o, 'say which agents to upgrade');
      checkLimits([['--max-concurrency', o.maxConcurrency], ['--max-errors', o.maxErrors]]);
      const ttl = o.ttl === undefined ? undefined : parseDuration(o.ttl, '--ttl');
      const c = await client(o);
      const res = await c.upgradeAgents({
        targets, max_concurrency: o.maxConcurrency, max_errors: o.maxErrors,
        ...(ttl ? { ttl } : {}), ...(o.allowDowngrade ? { allow_downgrade: true } : {}),
      });
      const { followRun } = await import('./run-command.ts');
      const already = res.commands.filter((x) => x.status === 'succeeded').length;
      const notices = [
        `upgrading to myx-agent ${res.release.version} (SHA-256 ${res.release.sha256}, ${(res.release.size / 2 ** 20).toFixed(1)} MiB)`
        + (already > 0 ? `; ${already} of ${res.commands.length} already on it` : ''),
      ];
      process.exitCode = await followRun(c, res, { json: o.json ?? false, notices });
      await c.close();
    });
}

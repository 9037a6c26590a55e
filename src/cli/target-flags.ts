// The flags that choose agents (`--agent`, `--label`, `--all`) and pace a run
// (`--max-concurrency`, `--max-errors`), read the same way by `myx run` and `myx agents upgrade`.

import { Option, type Command } from 'commander';
import type { Targets } from '../protocol/wire.ts';
import { CliError } from './fail.ts';

export interface TargetFlags {
  agent?: string[];
  label?: string[];
  all?: boolean;
}

export function withTargetFlags(cmd: Command, verb: string): Command {
  return cmd
    .addOption(new Option('--agent <name-or-id>', `${verb} this agent (repeatable)`).argParser(collect))
    .addOption(new Option('--label <key=value>', `${verb} agents carrying this label (repeatable: all must match)`).argParser(collect))
    .option('--all', `${verb} every enrolled agent`);
}

/** The targets the flags name: exactly one way of choosing them (`ask`: what to say when none is given). */
export function targetsOf(o: TargetFlags, ask: string): Targets {
  const ways = [o.all, o.agent?.length, o.label?.length].filter(Boolean).length;
  if (ways === 0) throw new CliError(`${ask}: --agent NAME (repeatable), --label KEY=VALUE (repeatable) or --all`);
  if (ways > 1) throw new CliError('choose targets one way: --agent, --label or --all');
  return o.all ? { all: true } : o.agent?.length ? { agents: o.agent } : { labels: parseLabels(o.label ?? []) };
}

/** `--max-concurrency` and `--max-errors`: a number or a percentage. */
export function checkLimits(limits: [flag: string, value: string | undefined][]): void {
  for (const [flag, v] of limits) {
    if (v !== undefined && !/^\d{1,6}%?$/.test(v)) throw new CliError(`${flag} must be a number or a percentage, like 10 or 25%, got "${v}"`);
  }
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parseLabels(pairs: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`labels are key=value, got "${p}"`);
    labels[p.slice(0, i)] = p.slice(i + 1);
  }
  return labels;
}

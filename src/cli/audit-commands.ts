// `myx audit` (who did what: filtered, as a table or as JSON lines for a SIEM) and `myx audit
// verify` (the hash chain checked end to end; exit 1 when an entry was edited, deleted or moved).

import { Option, type Command } from 'commander';
import { AUDIT_ACTIONS, canonicalJson } from '../protocol/audit.ts';
import { displayJson, displayText } from '../protocol/display-text.ts';
import type { AuditEntry } from '../protocol/wire.ts';
import { client, flagsOf, json, withConnection } from './command-setup.ts';
import { CliError, EXIT, parseDuration } from './fail.ts';
import type { ConnectionFlags } from './operator-client.ts';

export function addAuditCommands(program: Command): void {
  const audit = withConnection(program.command('audit'))
    .description('the audit log: who did what, to what, from where, when, and how it ended (admins); `audit verify` checks it')
    .option('--since <duration|time>', 'entries from this long ago (90s, 15m, 1h, 2d) or this time (ISO 8601)', '24h')
    .option('--operator <name>', 'only what this operator did')
    .addOption(new Option('--action <action>', 'only this kind of action').choices([...AUDIT_ACTIONS]))
    .option('--json', 'JSON lines: one entry per line (for a SIEM)')
    .action(async (_o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { since: string; operator?: string; action?: string; json?: boolean }>(cmd);
      const since = sinceTime(o.since);
      const c = await client(o);
      const entries: AuditEntry[] = [];
      for (let after: number | null = 0; after !== null;) {
        const page = await c.audit({ since, after, ...(o.operator ? { operator: o.operator } : {}), ...(o.action ? { action: o.action } : {}) });
        if (o.json) process.stdout.write(page.entries.map((e) => displayJson(e) + '\n').join(''));
        else entries.push(...page.entries);
        after = page.next_after;
      }
      await c.close();
      if (!o.json) process.stdout.write(auditTable(entries, since));
    });
  withConnection(audit.command('verify'))
    .description('check the audit log\'s hash chain: says which entry was edited, deleted or moved (exit 1 then)')
    .option('--json', 'print the result as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = flagsOf<ConnectionFlags & { json?: boolean }>(cmd);
      const c = await client(o);
      const res = await c.auditVerify();
      await c.close();
      if (o.json) json(res);
      else if (res.ok) {
        process.stdout.write(`audit log intact: ${res.entries} entries${res.head ? `; head: seq ${res.head.seq}, hash ${res.head.hash}` : ''}\n`);
      } else {
        process.stdout.write(`audit log NOT intact (${res.entries} entries read):\n${res.problems.map((p) => `  seq ${p.seq}: ${p.kind}: ${displayText(p.message)}\n`).join('')}`);
      }
      process.exitCode = res.ok ? EXIT.ok : EXIT.commandFailed;
    });
}

/** `--since`: a duration back from now, or a time. */
function sinceTime(value: string): string {
  if (/^\d+[smhd]?$/.test(value.trim())) return new Date(Date.now() - parseDuration(value, '--since') * 1000).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new CliError(`--since must be a duration like 15m, 1h or 2d, or a time like 2026-01-01T10:00:00Z, got "${value}"`);
  return new Date(t).toISOString();
}

function auditTable(list: AuditEntry[], since: string): string {
  if (list.length === 0) return `No audit entries since ${since}.\n`;
  const head = ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'OUTCOME', 'FROM', 'TARGETS', 'DETAILS'];
  const rows = list.map((e) => [
    String(e.seq), e.at.replace('T', ' ').slice(0, 19), e.actor_kind === 'operator' ? e.actor : `${e.actor} (${e.actor_kind})`, e.action, e.outcome,
    e.source ?? '-', short(e.targets.join(','), 40), short(canonicalJson(e.details), 80),
  ].map(displayText));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

function short(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

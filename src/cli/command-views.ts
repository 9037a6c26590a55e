// `myx commands`, `myx runs` and `myx show` for people. What agents reported is data: every field
// goes through displayText (one line, control characters escaped). Command output is a block: its
// control characters are escaped too (`\x1b[31m`), or its control sequences removed (`--strip-control`).

import { displayText } from '../protocol/display-text.ts';
import type { CommandRecord, EnrollmentTokenView, RunRecord } from '../protocol/wire.ts';
import { describe, groupOutputs, escapedOutput, summaryLine, type OutputFilter } from './run-printer.ts';

const when = (iso: string) => iso.replace('T', ' ').slice(0, 19);

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

export function commandsTable(list: CommandRecord[]): string {
  if (list.length === 0) return 'No commands yet.\n';
  const rows = list.map((c) => [
    c.id, c.agent_name, c.status, c.delivery ?? '-', when(c.created_at), c.requested_by ?? '-', [c.command, ...c.args].join(' ').slice(0, 60),
  ].map(displayText));
  return table(['ID', 'AGENT', 'STATUS', 'DELIVERY', 'CREATED', 'BY', 'COMMAND'], rows);
}

export function runsTable(list: RunRecord[]): string {
  if (list.length === 0) return 'No runs yet.\n';
  const rows = list.map((r) => [
    r.id, when(r.created_at), r.requested_by ?? '-', r.done ? (r.stopped ? 'stopped' : 'done') : 'running', String(r.total),
    `${r.counts.succeeded ?? 0}/${r.total}`, r.target.slice(0, 40), [r.command, ...r.args].join(' ').slice(0, 50),
  ].map(displayText));
  return table(['ID', 'CREATED', 'BY', 'STATE', 'AGENTS', 'SUCCEEDED', 'TARGET', 'COMMAND'], rows);
}

export function runDetails(r: RunRecord, commands: CommandRecord[], output: OutputFilter = escapedOutput): string {
  const head = [
    `id:           ${displayText(r.id)}`,
    `command:      ${displayText(JSON.stringify([r.command, ...r.args]))}`,
    `target:       ${displayText(r.target)} (${r.total} agents)`,
    `limits:       ${r.max_concurrency ? `${r.max_concurrency} at a time` : 'no concurrency limit'}, ${r.max_errors ? `stop after ${r.max_errors} errors` : 'no error limit'}`,
    `state:        ${r.done ? (r.stopped ? 'stopped by --max-errors' : 'done') : 'running'}`,
    `created:      ${r.created_at}${r.finished_at ? `, finished ${r.finished_at}` : ''}`,
    `requested by: ${displayText(r.requested_by ?? 'unknown (before operators had names)')}`,
    `summary:      ${summaryLine(commands)}`,
  ].join('\n');
  const lines = commands.map((c) => `  ${displayText(c.agent_name)}: ${describe(c)}  (${c.id})`).join('\n');
  return `${head}\n\n${lines}\n\n${groupOutputs(commands.filter((c) => c.finished_at), output)}`;
}

export function commandDetails(c: CommandRecord, output: OutputFilter = escapedOutput): string {
  const fields: [string, string | null][] = [
    ['id', c.id], ['agent', `${c.agent_name} (${c.agent_id})`], ['command', JSON.stringify([c.command, ...c.args])],
    ['status', describe(c)], ['delivery', c.delivery], ['created', c.created_at], ['requested by', c.requested_by ?? 'unknown'], ['expires', c.expires_at],
    ['dispatched', c.dispatched_at], ['started', c.started_at], ['finished', c.finished_at],
    ['push error', c.last_push_error], ['cancel asked', c.cancel_requested_at],
  ];
  const head = fields.filter(([, v]) => v !== null).map(([k, v]) => `${(k + ':').padEnd(14)}${displayText(v!)}`).join('\n');
  const section = (name: string, text: string, bytes: number, truncated: boolean) => {
    const shown = output(text);
    return text.length === 0 ? '' : `\n--- ${name} (${bytes} bytes${truncated ? ', truncated' : ''}) ---\n${shown}${shown.endsWith('\n') ? '' : '\n'}`;
  };
  return `${head}\n${section('stdout', c.stdout, c.stdout_bytes, c.stdout_truncated)}${section('stderr', c.stderr, c.stderr_bytes, c.stderr_truncated)}`;
}

export function tokensTable(list: EnrollmentTokenView[]): string {
  if (list.length === 0) return 'No enrollment tokens yet. Create one with `myx token create`.\n';
  const rows = list.map((t) => [
    t.id, t.state, when(t.created_at), when(t.expires_at), t.used_at ? `${when(t.used_at)} by ${t.used_by_agent}` : t.revoked_at ? `revoked ${when(t.revoked_at)}` : '-',
  ].map(displayText));
  return table(['ID', 'STATE', 'CREATED', 'EXPIRES', 'USED / REVOKED'], rows);
}

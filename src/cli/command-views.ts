// `myx commands` and `myx show` for people. Reported values are data: control characters are
// replaced so an agent's output cannot drive the operator's terminal through these views.

import type { CommandRecord } from '../protocol/wire.ts';
import { describe } from './run-printer.ts';

const clean = (s: string) => s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '?');

export function commandsTable(list: CommandRecord[]): string {
  if (list.length === 0) return 'No commands yet.\n';
  const rows = list.map((c) => [c.id, c.agent_name, c.status, c.delivery ?? '-', c.created_at.replace('T', ' ').slice(0, 19), [c.command, ...c.args].join(' ').slice(0, 60)].map(clean));
  const head = ['ID', 'AGENT', 'STATUS', 'DELIVERY', 'CREATED', 'COMMAND'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

export function commandDetails(c: CommandRecord): string {
  const fields: [string, string | null][] = [
    ['id', c.id], ['agent', `${c.agent_name} (${c.agent_id})`], ['command', JSON.stringify([c.command, ...c.args])],
    ['status', describe(c)], ['delivery', c.delivery], ['created', c.created_at], ['expires', c.expires_at],
    ['dispatched', c.dispatched_at], ['started', c.started_at], ['finished', c.finished_at],
    ['push error', c.last_push_error], ['cancel asked', c.cancel_requested_at],
  ];
  const head = fields.filter(([, v]) => v !== null).map(([k, v]) => `${(k + ':').padEnd(13)}${clean(v!)}`).join('\n');
  const section = (name: string, text: string, bytes: number, truncated: boolean) =>
    text.length === 0 ? '' : `\n--- ${name} (${bytes} bytes${truncated ? ', truncated' : ''}) ---\n${clean(text)}${text.endsWith('\n') ? '' : '\n'}`;
  return `${head}\n${section('stdout', c.stdout, c.stdout_bytes, c.stdout_truncated)}${section('stderr', c.stderr, c.stderr_bytes, c.stderr_truncated)}`;
}

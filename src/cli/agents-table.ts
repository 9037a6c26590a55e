// `myx agents` as a table for people; `--json` prints the records as they are.

import type { AgentView } from '../protocol/wire.ts';

const COLUMNS: [string, (a: AgentView) => string][] = [
  ['NAME', (a) => a.name],
  ['ID', (a) => a.id],
  ['STATUS', (a) => a.status],
  ['MODE', (a) => a.mode],
  ['ADDRESS', (a) => a.address ?? '-'],
  ['PORT', (a) => (a.web_port === null ? '-' : String(a.web_port))],
  ['PUSH', (a) => ({ ok: 'ok', failing: 'failing', untried: 'untried', poll_mode: '-' })[a.push.state]],
  ['LAST HEARTBEAT', (a) => (a.last_heartbeat_at ? ago(a.last_heartbeat_at) : 'never')],
  ['VERSION', (a) => a.version],
  ['HOSTNAME', (a) => a.hostname],
];

export function agentsTable(agents: AgentView[]): string {
  if (agents.length === 0) return 'No agents enrolled yet. Create a token with `myx token create` and run the join line it prints on the host.\n';
  // Reported values are data: strip control characters so a hostile hostname cannot drive the terminal.
  const rows = agents.map((a) => COLUMNS.map(([, f]) => f(a).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')));
  const widths = COLUMNS.map(([h], i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const failing = agents.filter((a) => a.push.state === 'failing').map((a) => `${a.name}: push failing (${a.push.error}); commands go by heartbeat, next push try ${a.push.retry_at}`);
  return [line(COLUMNS.map(([h]) => h)), ...rows.map(line), ...(failing.length ? ['', ...failing] : [])].join('\n') + '\n';
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

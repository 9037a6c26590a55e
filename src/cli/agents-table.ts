// `myx agents` as a table for people; `--json` prints the records as they are. Everything in it
// was reported by agents, so every cell and footer line goes through displayText.

import { displayText } from '../protocol/display-text.ts';
import { isOlder } from '../protocol/semver.ts';
import type { AgentView } from '../protocol/wire.ts';

type Column = [string, (a: AgentView) => string];

const COLUMNS: Column[] = [
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

const REMOVED_COLUMNS: Column[] = [
  ['NAME', (a) => a.name],
  ['ID', (a) => a.id],
  ['REMOVED', (a) => (a.removed_at ? ago(a.removed_at) : '-')],
  ['ENROLLED', (a) => a.enrolled_at.replace('T', ' ').slice(0, 19)],
  ['LAST HEARTBEAT', (a) => (a.last_heartbeat_at ? ago(a.last_heartbeat_at) : 'never')],
  ['VERSION', (a) => a.version],
  ['HOSTNAME', (a) => a.hostname],
];

/**
 * `removed`: the list is of removed agents (`myx agents --removed`). `controlPlaneVersion`: agents
 * older than it are counted in a footer that says how to upgrade them.
 */
export function agentsTable(agents: AgentView[], removed = false, controlPlaneVersion?: string): string {
  if (agents.length === 0) {
    return removed ? 'No removed agents.\n' : 'No agents enrolled yet. Create a token with `myx token create` and run the join line it prints on the host.\n';
  }
  const columns = removed ? REMOVED_COLUMNS : COLUMNS;
  const rows = agents.map((a) => columns.map(([, f]) => displayText(f(a))));
  const widths = columns.map(([h], i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const notes = removed ? [] : [
    ...agents.filter((a) => a.status === 'enrolled')
      .map((a) => displayText(`${a.name}: enrolled, never connected: start its daemon on ${a.hostname} (\`systemctl start myx-agent\`, or \`myx-agent\`); commands for it wait until then`)),
    ...agents.filter((a) => a.push.state === 'failing')
      .map((a) => displayText(`${a.name}: push failing (${a.push.error}); commands go by heartbeat, next push try ${a.push.retry_at}`)),
  ];
  const older = removed || !controlPlaneVersion ? [] : agents.filter((a) => a.status !== 'enrolled' && isOlder(a.version, controlPlaneVersion));
  if (older.length > 0) {
    notes.push(displayText(`${older.length} agent${older.length === 1 ? ' runs' : 's run'} an older version than the control plane (${controlPlaneVersion}): `
      + 'upgrade with `myx agents upgrade --all`'));
  }
  return [line(columns.map(([h]) => h)), ...rows.map(line), ...(notes.length ? ['', ...notes] : [])].join('\n') + '\n';
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

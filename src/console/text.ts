// Agent-supplied text on one line (names, hostnames, labels, errors): control characters and
// bidi overrides shown as escapes, as in the CLI, so a name cannot reorder or break what is around it.
// The page inserts it as text (Preact text nodes), never as markup.

import { displayText } from '../protocol/display-text.ts';

export const shown = (s: string | null | undefined): string => (s == null ? '' : displayText(s));

export function ago(iso: string | null): string {
  if (!iso) return 'never';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 2) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function time(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : '–';
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function labelText(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${shown(k)}=${shown(v)}`).join(' ');
}

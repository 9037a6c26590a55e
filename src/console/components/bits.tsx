// Small pieces every page uses: status badges, a run's progress bar, errors, label chips.

import type { ComponentChildren } from 'preact';
import type { RunRecord } from '../../protocol/wire.ts';
import type { ApiFailure } from '../api.ts';
import { shown } from '../text.ts';

/** A status word with its colour class (command, run or agent status; always one of ours, shown as text). */
export function Status(props: { status: string }) {
  return <span class={`status st-${props.status.replace(/[^a-z_]/g, '')}`}>{props.status.replace('_', ' ')}</span>;
}

const ORDER = ['succeeded', 'failed', 'timed_out', 'lost', 'expired', 'cancelled', 'skipped', 'running', 'dispatched', 'queued', 'waiting'] as const;

/** Counts as a bar of coloured parts (widths through the CSSOM) plus the same in words for screen readers. */
export function Progress(props: { counts: RunRecord['counts']; total: number }) {
  const done = ORDER.slice(0, 7).reduce((n, s) => n + (props.counts[s] ?? 0), 0);
  const words = ORDER.filter((s) => (props.counts[s] ?? 0) > 0).map((s) => `${props.counts[s]} ${s.replace('_', ' ')}`).join(', ');
  return (
    <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={props.total} aria-valuenow={done} aria-valuetext={`${done} of ${props.total} done: ${words}`} title={words}>
      {ORDER.map((s) => (props.counts[s] ?? 0) > 0
        ? <span key={s} class={`bar st-${s}`} style={{ flexGrow: String(props.counts[s]) }} />
        : null)}
      {props.total === 0 ? <span class="bar" /> : null}
    </div>
  );
}

export function ErrorNote(props: { error: ApiFailure | Error | undefined | null }) {
  if (!props.error) return null;
  return <p class="error" role="alert">{props.error.message}</p>;
}

export function Labels(props: { labels: Record<string, string> }) {
  const entries = Object.entries(props.labels);
  if (entries.length === 0) return <span class="muted">–</span>;
  return <span class="labels">{entries.map(([k, v]) => <span key={k} class="chip">{shown(k)}={shown(v)}</span>)}</span>;
}

export function Field(props: { label: string; children: ComponentChildren }) {
  return <><dt>{props.label}</dt><dd>{props.children}</dd></>;
}

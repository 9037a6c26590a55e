// One run: its progress, a host-by-host grid (only the rows in view are drawn, so 1,000 hosts stay
// smooth), identical outputs grouped, the live output of the host picked in the grid, and cancel.
// The run is read again every 2 seconds until it is done, with each output cut to its head.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { isFinal } from '../../protocol/command-status.ts';
import type { CommandRecord, RunResponse } from '../../protocol/wire.ts';
import { api, ApiFailure, may, path } from '../api.ts';
import { ErrorNote, Progress, Status } from '../components/bits.tsx';
import { LiveOutput } from '../components/live-output.tsx';
import { OutputText } from '../components/output-text.tsx';
import { VirtualList } from '../components/virtual-list.tsx';
import { usePoll } from '../poll.ts';
import { href } from '../router.ts';
import { bytes, shown, time } from '../text.ts';

const TILE_WIDTH = 190;
const TILE_ROW = 40;

export function RunPage(props: { id: string }) {
  const [done, setDone] = useState(false);
  const run = usePoll(() => api.get<RunResponse>(`${path('/api/runs', props.id)}?output=head`), 2000, [props.id], !done);
  useEffect(() => setDone(run.data?.run.done === true), [run.data]);
  const [selected, setSelected] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const [cancelNote, setCancelNote] = useState<string | null>(null);
  const commands = run.data?.commands ?? [];
  const visible = useMemo(() => commands.filter((c) => !filter || c.status === filter || c.agent_name.includes(filter)), [commands, filter]);
  const chosen = commands.find((c) => c.id === selected) ?? null;
  if (!run.data) return <section><h1>Run</h1><ErrorNote error={run.error} /><p class="muted">Loading…</p></section>;
  const r = run.data.run;
  const open = commands.filter((c) => !isFinal(c.status));
  const cancelRun = async () => {
    setCancelNote(`cancelling ${open.length} commands…`);
    const results = await inBatches(open, 8, (c) => api.post(`${path('/api/commands', c.id)}/cancel`).then(() => true, () => false));
    setCancelNote(`cancel asked for ${results.filter(Boolean).length} of ${open.length} commands`);
    setDone(false);
    run.refresh();
  };
  return (
    <section>
      <h1>Run <span class="mono small">{r.id}</span></h1>
      <ErrorNote error={run.error} />
      <dl class="facts inline-facts">
        <dt>Command</dt><dd><code class="argv">{JSON.stringify([r.command, ...r.args])}</code></dd>
        <dt>Targets</dt><dd>{shown(r.target)} ({r.total})</dd>
        <dt>Rate</dt><dd>{r.max_concurrency === null ? 'all at once' : `${r.max_concurrency} at a time`}{r.max_errors === null ? '' : `, stop after ${r.max_errors} errors`}</dd>
        <dt>Created</dt><dd>{time(r.created_at)}</dd>
        <dt>Requested by</dt><dd>{shown(r.requested_by ?? 'unknown')}</dd>
      </dl>
      <Progress counts={r.counts} total={r.total} />
      <p class="summary" aria-live="polite">{summary(r.counts, r.total)}{r.done ? ' — done' : ''}{r.stopped ? ' (stopped by --max-errors)' : ''}</p>
      {open.length > 0 && may('operator') ? <p><button type="button" class="danger" onClick={() => void cancelRun()}>Cancel run ({open.length} unfinished)</button></p> : null}
      {cancelNote ? <p class="note">{cancelNote}</p> : null}
      <div class="split">
        <div class="grid-wrap">
          <div class="filters">
            <label>Show <input type="search" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} placeholder="status or name" /></label>
            <span class="muted">{visible.length} hosts</span>
          </div>
          <HostGrid commands={visible} selected={selected} onSelect={setSelected} />
        </div>
        <div class="host-panel">
          {chosen ? <HostPanel command={chosen} onChanged={run.refresh} /> : <p class="muted">Pick a host in the grid to see its output live.</p>}
        </div>
      </div>
      <h2>Outputs</h2>
      <Groups commands={commands} onSelect={setSelected} />
    </section>
  );
}

function HostGrid(props: { commands: CommandRecord[]; selected: string | null; onSelect: (id: string) => void }) {
  const box = useRef<HTMLDivElement>(null);
  const [columns, setColumns] = useState(4);
  useEffect(() => {
    const el = box.current!;
    const measure = () => setColumns(Math.max(1, Math.floor(el.clientWidth / TILE_WIDTH)));
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const rows = useMemo(() => {
    const out: CommandRecord[][] = [];
    for (let i = 0; i < props.commands.length; i += columns) out.push(props.commands.slice(i, i + columns));
    return out;
  }, [props.commands, columns]);
  return (
    <div ref={box} class="host-grid">
      <VirtualList label="hosts" class="grid-box" items={rows} rowHeight={TILE_ROW} row={(row, i) => (
        <div class="tile-row" role="listitem" key={i}>
          {row.map((c) => (
            <button type="button" key={c.id} class={`tile st-${c.status}${c.id === props.selected ? ' selected' : ''}`} aria-pressed={c.id === props.selected}
              title={`${shown(c.agent_name)}: ${c.status}`} onClick={() => props.onSelect(c.id)}>
              <span class="tile-name">{shown(c.agent_name)}</span><span class="tile-status">{c.status.replace('_', ' ')}</span>
            </button>
          ))}
        </div>
      )} />
    </div>
  );
}

function HostPanel(props: { command: CommandRecord; onChanged: () => void }) {
  const c = props.command;
  const [error, setError] = useState<ApiFailure | null>(null);
  const cancel = async () => {
    setError(null);
    try {
      await api.post(`${path('/api/commands', c.id)}/cancel`);
      props.onChanged();
    } catch (err) {
      setError(err as ApiFailure);
    }
  };
  return (
    <div>
      <h2><span class="mono">{shown(c.agent_name)}</span> <Status status={c.status} /></h2>
      <p class="small">
        {c.exit_code !== null ? `exit ${c.exit_code}` : ''}{c.signal ? ` ${shown(c.signal)}` : ''}{c.error ? ` — ${shown(c.error)}` : ''}
        {c.last_push_error && !isFinal(c.status) ? ` — not delivered yet: ${shown(c.last_push_error)}` : ''}
      </p>
      <p>
        <a href={href('commands', c.id)}>Open the command (all output, paged)</a>
        {!isFinal(c.status) && may('operator') ? <> <button type="button" class="danger small" onClick={() => void cancel()}>Cancel on this host</button></> : null}
      </p>
      <ErrorNote error={error} />
      <LiveOutput key={c.id} commandId={c.id} onFinal={props.onChanged} />
    </div>
  );
}

/** Identical outputs once, with the hosts that printed them (as `myx run --group`), biggest group first. */
function Groups(props: { commands: CommandRecord[]; onSelect: (id: string) => void }) {
  const groups = useMemo(() => {
    const map = new Map<string, CommandRecord[]>();
    for (const c of props.commands) {
      if (!isFinal(c.status)) continue;
      const key = JSON.stringify([c.stdout, c.stderr, c.stdout_bytes, c.stderr_bytes]);
      map.set(key, [...(map.get(key) ?? []), c]);
    }
    return [...map.values()].sort((a, b) => b.length - a.length);
  }, [props.commands]);
  if (groups.length === 0) return <p class="muted">No host has finished yet.</p>;
  return (
    <ol class="groups">
      {groups.slice(0, 50).map((list) => {
        const first = list[0]!;
        const size = first.stdout_bytes + first.stderr_bytes;
        const statuses = [...new Set(list.map((c) => c.status))].join(', ');
        return (
          <li key={first.id} class="group">
            <p>
              <strong>{list.length} host{list.length === 1 ? '' : 's'}</strong> ({statuses}, {bytes(size)}):{' '}
              {list.slice(0, 8).map((c, i) => <span key={c.id}>{i > 0 ? ', ' : ''}<button type="button" class="link" onClick={() => props.onSelect(c.id)}>{shown(c.agent_name)}</button></span>)}
              {list.length > 8 ? ` and ${list.length - 8} more` : ''}
            </p>
            {first.stdout || first.stderr ? <OutputText text={first.stdout + first.stderr} class="short" label={`output of ${list.length} hosts`} /> : <p class="muted">(no output)</p>}
            {size > first.stdout.length + first.stderr.length ? <p class="muted small">Only the start is shown: <a href={href('commands', first.id)}>open one of these commands</a> for all of it.</p> : null}
          </li>
        );
      })}
      {groups.length > 50 ? <li class="muted">and {groups.length - 50} more distinct outputs</li> : null}
    </ol>
  );
}

function summary(counts: Record<string, number | undefined>, total: number): string {
  const parts = Object.entries(counts).filter(([, n]) => (n ?? 0) > 0).map(([s, n]) => `${n} ${s.replace('_', ' ')}`);
  return `${total} hosts: ${parts.join(', ') || 'none'}`;
}

async function inBatches<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

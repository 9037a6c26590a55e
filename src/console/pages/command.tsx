// One command: its record, and its output read page by page from the paged output API (byte
// offsets, 256 KiB a page by default), never all at once, so a 100 MB output does not freeze the
// tab. Follow mode asks for what comes after the last byte shown, once a second, until the end.

import { useEffect, useRef, useState } from 'preact/hooks';
import { isFinal } from '../../protocol/command-status.ts';
import type { CommandRecord, OutputPage, OutputStream } from '../../protocol/wire.ts';
import { api, ApiFailure, may, path } from '../api.ts';
import { ErrorNote, Field, Status } from '../components/bits.tsx';
import { OutputText } from '../components/output-text.tsx';
import { usePoll } from '../poll.ts';
import { href } from '../router.ts';
import { bytes, shown, time } from '../text.ts';

const PAGE_SIZES = [64 * 1024, 256 * 1024, 1024 * 1024];
/** Follow mode keeps this much in the page, dropping from the top. */
const FOLLOW_KEEP = 1024 * 1024;

export function CommandPage(props: { id: string }) {
  const [final, setFinal] = useState(false);
  const record = usePoll(() => api.get<CommandRecord>(path('/api/commands', props.id)), 2000, [props.id], !final);
  useEffect(() => setFinal(record.data !== undefined && isFinal(record.data.status)), [record.data]);
  const c = record.data;
  const cancel = async () => {
    await api.post(`${path('/api/commands', props.id)}/cancel`).catch(() => {});
    record.refresh();
  };
  return (
    <section>
      <h1>Command <span class="mono small">{props.id}</span> {c ? <Status status={c.status} /> : null}</h1>
      <ErrorNote error={record.error} />
      {c ? (
        <>
          <dl class="facts inline-facts">
            <Field label="Agent"><a href={href('agents', c.agent_id)}>{shown(c.agent_name)}</a></Field>
            <Field label="Argv"><code class="argv">{JSON.stringify([c.command, ...c.args])}</code></Field>
            {c.run_id ? <Field label="Run"><a class="mono small" href={href('runs', c.run_id)}>{c.run_id}</a></Field> : null}
            <Field label="Requested by">{shown(c.requested_by ?? 'unknown')}</Field>
            <Field label="Exit">{c.exit_code ?? '–'}{c.signal ? ` (${shown(c.signal)})` : ''}</Field>
            <Field label="Started">{time(c.started_at)}</Field>
            <Field label="Finished">{time(c.finished_at)}</Field>
            {c.error ? <Field label="Error">{shown(c.error)}</Field> : null}
          </dl>
          {!isFinal(c.status) && may('operator') ? <p><button type="button" class="danger" onClick={() => void cancel()}>Cancel command</button></p> : null}
        </>
      ) : null}
      <OutputView id={props.id} running={c !== undefined && !isFinal(c.status)} />
    </section>
  );
}

function OutputView(props: { id: string; running: boolean }) {
  const [stream, setStream] = useState<OutputStream>('all');
  const [pageSize, setPageSize] = useState(PAGE_SIZES[1]!);
  const [page, setPage] = useState<OutputPage | null>(null);
  const [follow, setFollow] = useState(false);
  const [error, setError] = useState<ApiFailure | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const base = `${path('/api/commands', props.id)}/output?stream=${stream}`;

  const load = async (query: string) => {
    setError(null);
    try {
      setPage(await api.get<OutputPage>(`${base}&${query}`));
    } catch (err) {
      setError(err as ApiFailure);
    }
  };
  // the first page when the stream or page size changes; follow a command that still runs from its last lines
  useEffect(() => {
    setPage(null);
    setFollow(false);
    void load(`offset=0&limit=${pageSize}`);
  }, [props.id, stream, pageSize]);

  useEffect(() => {
    if (!follow) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const step = async () => {
      const cur = pageRef.current;
      if (!cur) return;
      try {
        const more = await api.get<OutputPage>(`${base}&offset=${cur.next_offset}&limit=${PAGE_SIZES[2]}`);
        if (stopped) return;
        const el = box.current?.querySelector('pre');
        const atBottom = !el || el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        if (more.data.length > 0 || more.eof !== cur.eof) {
          let data = cur.data + more.data;
          let offset = cur.offset;
          if (data.length > FOLLOW_KEEP) {
            const drop = data.length - FOLLOW_KEEP;
            offset += new TextEncoder().encode(data.slice(0, drop)).length;
            data = data.slice(drop);
          }
          setPage({ ...more, offset, data });
          if (atBottom) requestAnimationFrame(() => el && (el.scrollTop = el.scrollHeight));
        }
        setError(null);
        if (more.eof) return setFollow(false);
      } catch (err) {
        if (!stopped) setError(err as ApiFailure); // a blip: keep following
      }
      if (!stopped) timer = setTimeout(step, 1000);
    };
    void step();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [follow, base]);
  const pageRef = useRef(page);
  pageRef.current = page;

  const startFollow = async () => {
    await load('tail=200');
    setFollow(true);
  };
  const first = page?.offset === 0;
  const last = page !== null && (page.eof || page.next_offset >= page.total_bytes);
  return (
    <div class="output-view">
      <h2>Output</h2>
      <div class="toolbar" role="toolbar" aria-label="output">
        <label>Stream
          <select value={stream} onChange={(e) => setStream(e.currentTarget.value as OutputStream)}>
            <option value="all">stdout and stderr</option>
            <option value="stdout">stdout</option>
            <option value="stderr">stderr</option>
          </select>
        </label>
        <label>Page
          <select value={String(pageSize)} onChange={(e) => setPageSize(Number(e.currentTarget.value))}>
            {PAGE_SIZES.map((s) => <option key={s} value={String(s)}>{bytes(s)}</option>)}
          </select>
        </label>
        <button type="button" disabled={!page || first || follow} onClick={() => void load(`offset=0&limit=${pageSize}`)}>First</button>
        <button type="button" disabled={!page || first || follow} onClick={() => void load(`before=${page!.offset}&limit=${pageSize}`)}>Previous page</button>
        <button type="button" disabled={!page || last || follow} onClick={() => void load(`offset=${page!.next_offset}&limit=${pageSize}`)}>Next page</button>
        <button type="button" disabled={!page || follow} onClick={() => void load('tail=1000')}>Last lines</button>
        <button type="button" aria-pressed={follow} disabled={!page || (page.eof && !follow)} onClick={() => (follow ? setFollow(false) : void startFollow())}>{follow ? 'Stop following' : 'Follow'}</button>
        {stream !== 'all' ? <a class="button" href={`${path('/api/commands', props.id)}/output/raw?stream=${stream}`} download>Download {stream}</a> : (
          <>
            <a class="button" href={`${path('/api/commands', props.id)}/output/raw?stream=stdout`} download>Download stdout</a>
            <a class="button" href={`${path('/api/commands', props.id)}/output/raw?stream=stderr`} download>Download stderr</a>
          </>
        )}
      </div>
      <ErrorNote error={error} />
      {page ? (
        <p class="muted small" aria-live="polite" id="output-position">
          bytes {page.offset.toLocaleString()}–{page.next_offset.toLocaleString()} of {page.total_bytes.toLocaleString()}
          {page.eof ? ' (end)' : props.running ? ' (still running)' : ''}{follow ? ' — following' : ''}
          {page.kept && page.source === 'full' ? ` — the control plane kept the first ${bytes(page.kept.head_bytes)}${page.kept.tail_bytes ? ` and the last ${bytes(page.kept.tail_bytes)}` : ''} of ${bytes(page.total_bytes)}` : ''}
        </p>
      ) : <p class="muted">Loading…</p>}
      {page?.notice ? <p class="muted small" role="note">{page.notice}</p> : null}
      <div ref={box}>{page ? <OutputText text={page.data} class="paged" label="command output" /> : null}</div>
      {page && page.data.length === 0 ? <p class="muted">(no output{page.eof ? '' : ' yet'})</p> : null}
    </div>
  );
}

// Starting a run: targets (labels, names or all) with a preview of the agents they match now (POST
// /api/runs/preview, the selection POST /api/runs makes), the command as an argument vector (no
// shell, unless "run through sh -c" is ticked, which shows the exact argv it makes), rate control,
// timeout and delivery TTL. Launch is possible once the preview matches the targets as they are.

import { useState } from 'preact/hooks';
import type { CreateRunRequest, RunPreviewResponse, RunResponse, Targets } from '../../protocol/wire.ts';
import { api, ApiFailure } from '../api.ts';
import { ErrorNote, Labels, Status } from '../components/bits.tsx';
import { VirtualList } from '../components/virtual-list.tsx';
import { go } from '../router.ts';
import { shown } from '../text.ts';

type Mode = 'labels' | 'names' | 'all';

export function NewRunPage() {
  const [mode, setMode] = useState<Mode>('labels');
  const [labels, setLabels] = useState('');
  const [names, setNames] = useState('');
  const [preview, setPreview] = useState<{ key: string; result: RunPreviewResponse } | null>(null);
  const [previewError, setPreviewError] = useState<ApiFailure | Error | null>(null);
  const [shell, setShell] = useState(false);
  const [command, setCommand] = useState('');
  const [args, setArgs] = useState<string[]>([]);
  const [script, setScript] = useState('');
  const [concurrency, setConcurrency] = useState('');
  const [maxErrors, setMaxErrors] = useState('');
  const [timeout, setTimeoutSeconds] = useState('300');
  const [ttl, setTtl] = useState('3600');
  const [launchError, setLaunchError] = useState<ApiFailure | Error | null>(null);
  const [busy, setBusy] = useState(false);

  let targets: Targets | null = null;
  let targetProblem: string | null = null;
  try {
    targets = targetsOf(mode, labels, names);
  } catch (err) {
    targetProblem = (err as Error).message;
  }
  const key = JSON.stringify(targets);
  const previewed = preview !== null && preview.key === key;
  const argv = shell ? ['sh', '-c', script] : [command, ...args];
  const commandOk = shell ? script.trim().length > 0 : command.trim().length > 0;

  const runPreview = async (e: Event) => {
    e.preventDefault();
    setPreviewError(null);
    setPreview(null);
    if (!targets) return setPreviewError(new Error(targetProblem ?? 'choose targets'));
    try {
      setPreview({ key, result: await api.post<RunPreviewResponse>('/api/runs/preview', { targets }) });
    } catch (err) {
      setPreviewError(err as ApiFailure);
    }
  };
  const launch = async (e: Event) => {
    e.preventDefault();
    if (!targets || !previewed || !commandOk) return;
    setBusy(true);
    setLaunchError(null);
    try {
      const body: CreateRunRequest = {
        targets, command: argv[0]!, args: argv.slice(1), timeout: Number(timeout), ttl: Number(ttl),
        ...(concurrency.trim() ? { max_concurrency: concurrency.trim() } : {}),
        ...(maxErrors.trim() ? { max_errors: maxErrors.trim() } : {}),
      };
      const created = await api.post<RunResponse>('/api/runs', body);
      go('runs', created.run.id);
    } catch (err) {
      setLaunchError(err as ApiFailure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="new-run">
      <h1>New run</h1>
      <form onSubmit={runPreview} class="panel">
        <h2>1. Targets</h2>
        <fieldset class="choices">
          <legend>Choose agents by</legend>
          {(['labels', 'names', 'all'] as const).map((m) => (
            <label key={m}><input type="radio" name="mode" value={m} checked={mode === m} onChange={() => setMode(m)} /> {m === 'all' ? 'all agents' : m}</label>
          ))}
        </fieldset>
        {mode === 'labels' ? <label class="wide">Labels (all must match) <input name="labels" value={labels} onInput={(e) => setLabels(e.currentTarget.value)} placeholder="env=prod role=web" /></label> : null}
        {mode === 'names' ? <label class="wide">Agent names or ids <input name="names" value={names} onInput={(e) => setNames(e.currentTarget.value)} placeholder="web-01, web-02" /></label> : null}
        <button type="submit">Preview targets</button>
        {targetProblem && mode !== 'all' && (labels || names) ? <p class="error">{targetProblem}</p> : null}
        <ErrorNote error={previewError} />
        {preview ? (
          <div class={`preview${previewed ? '' : ' stale'}`}>
            <p aria-live="polite"><strong>{preview.result.agents.length} agent{preview.result.agents.length === 1 ? '' : 's'}</strong> match ({shown(preview.result.target)}){previewed ? '' : ' — the targets changed since: preview again'}</p>
            <VirtualList label="matched agents" class="short-list" items={preview.result.agents} rowHeight={32} row={(a) => (
              <div class="row preview-row" role="listitem" key={a.id}>
                <span class="name">{shown(a.name)}</span><span><Status status={a.status} /></span><span class="clip"><Labels labels={a.labels} /></span>
              </div>
            )} />
          </div>
        ) : null}
      </form>
      <form onSubmit={launch} class="panel">
        <h2>2. Command</h2>
        <label class="check"><input type="checkbox" checked={shell} onChange={(e) => setShell(e.currentTarget.checked)} /> Run through <code>sh -c</code> (pipes, variables, globbing: a shell on each host)</label>
        {shell ? (
          <label class="wide">Shell script <textarea name="script" rows={3} value={script} onInput={(e) => setScript(e.currentTarget.value)} placeholder="df -h | grep /var" /></label>
        ) : (
          <>
            <label class="wide">Program <input name="command" value={command} onInput={(e) => setCommand(e.currentTarget.value)} placeholder="uptime" /></label>
            <fieldset class="args">
              <legend>Arguments, one per box, passed as they are (no shell: no quoting needed)</legend>
              {args.map((a, i) => (
                <div class="arg" key={i}>
                  <input aria-label={`argument ${i + 1}`} value={a} onInput={(e) => setArgs(args.map((x, j) => (j === i ? e.currentTarget.value : x)))} />
                  <button type="button" class="small" aria-label={`remove argument ${i + 1}`} onClick={() => setArgs(args.filter((_, j) => j !== i))}>Remove</button>
                </div>
              ))}
              <button type="button" class="small" onClick={() => setArgs([...args, ''])}>Add argument</button>
            </fieldset>
          </>
        )}
        <p>Runs exactly: <code class="argv" aria-label="argv">{JSON.stringify(argv)}</code></p>
        <h2>3. Limits</h2>
        <div class="limits">
          <label><span>At once (<code>--max-concurrency</code>)</span><input name="max_concurrency" value={concurrency} pattern="[0-9]{1,6}%?" onInput={(e) => setConcurrency(e.currentTarget.value)} placeholder="all, or 10 or 25%" /></label>
          <label><span>Stop after errors (<code>--max-errors</code>)</span><input name="max_errors" value={maxErrors} pattern="[0-9]{1,6}%?" onInput={(e) => setMaxErrors(e.currentTarget.value)} placeholder="never, or 1 or 5%" /></label>
          <label><span>Timeout, seconds</span><input name="timeout" type="number" min={1} value={timeout} onInput={(e) => setTimeoutSeconds(e.currentTarget.value)} required /></label>
          <label><span>Delivery TTL, seconds</span><input name="ttl" type="number" min={1} value={ttl} onInput={(e) => setTtl(e.currentTarget.value)} required /></label>
        </div>
        <button type="submit" class="primary" disabled={!previewed || !commandOk || busy || (preview?.result.agents.length ?? 0) === 0}>
          {previewed ? `Launch on ${preview!.result.agents.length} agent${preview!.result.agents.length === 1 ? '' : 's'}` : 'Launch (preview the targets first)'}
        </button>
        <ErrorNote error={launchError} />
      </form>
    </section>
  );
}

/** The targets as the API takes them; throws a message a person can act on. */
function targetsOf(mode: Mode, labels: string, names: string): Targets {
  if (mode === 'all') return { all: true };
  if (mode === 'names') {
    const list = names.split(/[\s,]+/).filter(Boolean);
    if (list.length === 0) throw new Error('name at least one agent');
    return { agents: list };
  }
  const out: Record<string, string> = {};
  for (const part of labels.split(/[\s,]+/).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`"${part}" is not KEY=VALUE`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  if (Object.keys(out).length === 0) throw new Error('give at least one label, KEY=VALUE');
  return { labels: out };
}

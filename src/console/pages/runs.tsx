// Recent runs with their progress, refreshed every 3 seconds.

import type { RunRecord } from '../../protocol/wire.ts';
import { api, may } from '../api.ts';
import { ErrorNote, Progress } from '../components/bits.tsx';
import { usePoll } from '../poll.ts';
import { href } from '../router.ts';
import { ago, shown } from '../text.ts';

export function RunsPage() {
  const runs = usePoll(() => api.get<{ runs: RunRecord[] }>('/api/runs?limit=200'), 3000, []);
  return (
    <section>
      <h1>Runs</h1>
      {may('operator') ? <p><a class="button" href={href('new')}>New run</a></p> : null}
      <ErrorNote error={runs.error} />
      <table class="list runs">
        <thead><tr><th>Run</th><th>Command</th><th>Targets</th><th>By</th><th>Progress</th><th>Done</th><th>Created</th></tr></thead>
        <tbody>
          {(runs.data?.runs ?? []).map((r) => {
            const finished = r.total - (r.counts.waiting ?? 0) - (r.counts.queued ?? 0) - (r.counts.dispatched ?? 0) - (r.counts.running ?? 0);
            return (
              <tr key={r.id}>
                <td><a class="mono small" href={href('runs', r.id)}>{r.id}</a></td>
                <td class="mono clip">{shown([r.command, ...r.args].join(' '))}</td>
                <td class="clip">{shown(r.target)}</td>
                <td>{shown(r.requested_by ?? '–')}</td>
                <td><Progress counts={r.counts} total={r.total} /></td>
                <td>{finished}/{r.total}{r.stopped ? ' (stopped)' : ''}</td>
                <td>{ago(r.created_at)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {runs.data?.runs.length === 0 ? <p class="muted">No runs yet.{may('operator') ? <> <a href={href('new')}>Start one</a>.</> : null}</p> : null}
    </section>
  );
}

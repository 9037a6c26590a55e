// The fleet: every agent with its status, mode, push health, version, labels and last heartbeat,
// filtered by name, label and status, refreshed every 3 seconds (agents go offline by the clock,
// so a poll is as live as an event stream here). Only the rows in view are drawn.

import { useMemo, useState } from 'preact/hooks';
import type { AgentView } from '../../protocol/wire.ts';
import { api } from '../api.ts';
import { ErrorNote, Labels, Status } from '../components/bits.tsx';
import { VirtualList } from '../components/virtual-list.tsx';
import { usePoll } from '../poll.ts';
import { href } from '../router.ts';
import { ago, shown } from '../text.ts';

const ROW = 36;

export function FleetPage() {
  const agents = usePoll(() => api.get<{ agents: AgentView[] }>('/api/agents'), 3000, []);
  const [name, setName] = useState('');
  const [label, setLabel] = useState('');
  const [status, setStatus] = useState('');
  const list = agents.data?.agents ?? [];
  const shownAgents = useMemo(() => filterAgents(list, name, label, status), [list, name, label, status]);
  const counts = useMemo(() => ({
    online: list.filter((a) => a.status === 'online').length,
    offline: list.filter((a) => a.status === 'offline').length,
    enrolled: list.filter((a) => a.status === 'enrolled').length,
  }), [list]);
  return (
    <section>
      <h1>Fleet</h1>
      <p class="summary" aria-live="polite">
        {agents.data ? `${list.length} agents: ${counts.online} online, ${counts.offline} offline, ${counts.enrolled} enrolled (never started)` : 'Loading…'}
      </p>
      <ErrorNote error={agents.error} />
      <div class="filters" role="search">
        <label>Name <input type="search" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="web-" /></label>
        <label>Label <input type="search" value={label} onInput={(e) => setLabel(e.currentTarget.value)} placeholder="env=prod" /></label>
        <label>Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">any</option>
            <option value="online">online</option>
            <option value="offline">offline</option>
            <option value="enrolled">enrolled</option>
          </select>
        </label>
        <span class="muted">{shownAgents.length} shown</span>
      </div>
      <div class="table agents">
        <div class="row head" aria-hidden="true">
          <span>Name</span><span>Status</span><span>Mode</span><span>Push</span><span>Version</span><span>Labels</span><span>Last heartbeat</span>
        </div>
        <VirtualList label="agents" class="tall" items={shownAgents} rowHeight={ROW} row={(a) => (
          <div class="row" role="listitem" key={a.id}>
            <span class="name"><a href={href('agents', a.id)}>{shown(a.name)}</a></span>
            <span><Status status={a.status} /></span>
            <span>{a.mode}</span>
            <span title={shown(a.push.error)}><Status status={a.push.state} /></span>
            <span class="clip">{shown(a.version)}</span>
            <span class="clip"><Labels labels={a.labels} /></span>
            <span title={a.last_heartbeat_at ?? ''}>{ago(a.last_heartbeat_at)}</span>
          </div>
        )} />
      </div>
    </section>
  );
}

/** Name: part of the name or hostname. Label: `key=value` (exact) or `key` (present), several separated by spaces or commas. */
export function filterAgents(list: AgentView[], name: string, label: string, status: string): AgentView[] {
  const n = name.trim().toLowerCase();
  const wanted = label.split(/[\s,]+/).filter(Boolean).map((l) => {
    const eq = l.indexOf('=');
    return eq < 0 ? { key: l, value: null } : { key: l.slice(0, eq), value: l.slice(eq + 1) };
  });
  return list.filter((a) => (!n || a.name.toLowerCase().includes(n) || a.hostname.toLowerCase().includes(n))
    && (!status || a.status === status)
    && wanted.every((w) => (w.value === null ? w.key in a.labels : a.labels[w.key] === w.value)));
}

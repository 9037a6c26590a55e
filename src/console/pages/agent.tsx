// One agent: its facts, its labels (the operator's are editable: POST /api/agents/:id/labels;
// its own come from its config and are read-only) and its recent commands.

import { useState } from 'preact/hooks';
import type { AgentView, CommandsResponse } from '../../protocol/wire.ts';
import { api, ApiFailure, may, path } from '../api.ts';
import { ErrorNote, Field, Labels, Status } from '../components/bits.tsx';
import { usePoll } from '../poll.ts';
import { href } from '../router.ts';
import { ago, shown, time } from '../text.ts';

export function AgentPage(props: { id: string }) {
  const agents = usePoll(() => api.get<{ agents: AgentView[] }>('/api/agents'), 5000, [props.id]);
  const commands = usePoll(() => api.get<CommandsResponse>(`${path('/api/commands')}?agent=${encodeURIComponent(props.id)}&limit=50`), 5000, [props.id]);
  const agent = agents.data?.agents.find((a) => a.id === props.id);
  if (agents.data && !agent) return <section><h1>Agent</h1><p>No enrolled agent with this id. <a href={href('fleet')}>Back to the fleet</a></p></section>;
  if (!agent) return <section><h1>Agent</h1><ErrorNote error={agents.error} /><p class="muted">Loading…</p></section>;
  return (
    <section>
      <h1>Agent <span class="mono">{shown(agent.name)}</span> <Status status={agent.status} /></h1>
      <ErrorNote error={agents.error} />
      <div class="columns">
        <dl class="facts">
          <Field label="Id"><span class="mono">{agent.id}</span></Field>
          <Field label="Hostname">{shown(agent.hostname)}</Field>
          <Field label="OS">{shown(agent.os)}</Field>
          <Field label="Version">{shown(agent.version)}</Field>
          <Field label="Mode">{agent.mode}{agent.web_port ? ` (port ${agent.web_port})` : ''}</Field>
          <Field label="Address">{shown(agent.address) || '–'}</Field>
          <Field label="Push"><Status status={agent.push.state} /> {shown(agent.push.error)}</Field>
          <Field label="Fingerprint"><span class="mono small">{shown(agent.fingerprint) || '–'}</span></Field>
          <Field label="Enrolled">{time(agent.enrolled_at)}</Field>
          <Field label="Last heartbeat">{ago(agent.last_heartbeat_at)}</Field>
          <Field label="Labels"><Labels labels={agent.labels} /></Field>
        </dl>
        {may('admin') ? <LabelEditor agent={agent} onChanged={agents.refresh} /> : null}
      </div>
      <h2>Recent commands</h2>
      <ErrorNote error={commands.error} />
      <table class="list">
        <thead><tr><th>Command</th><th>Status</th><th>Exit</th><th>Created</th><th>Run</th></tr></thead>
        <tbody>
          {(commands.data?.commands ?? []).map((c) => (
            <tr key={c.id}>
              <td class="mono clip"><a href={href('commands', c.id)}>{shown([c.command, ...c.args].join(' '))}</a></td>
              <td><Status status={c.status} /></td>
              <td>{c.exit_code ?? ''}</td>
              <td>{ago(c.created_at)}</td>
              <td>{c.run_id ? <a href={href('runs', c.run_id)} class="mono small">{c.run_id}</a> : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {commands.data?.commands.length === 0 ? <p class="muted">No commands yet.</p> : null}
    </section>
  );
}

function LabelEditor(props: { agent: AgentView; onChanged: () => void }) {
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const [error, setError] = useState<ApiFailure | null>(null);
  const change = async (body: { set?: Record<string, string>; remove?: string[] }) => {
    setError(null);
    try {
      await api.post(`${path('/api/agents', props.agent.id)}/labels`, body);
      props.onChanged();
      return true;
    } catch (err) {
      setError(err as ApiFailure);
      return false;
    }
  };
  const add = async (e: Event) => {
    e.preventDefault();
    if (await change({ set: { [key.trim()]: value } })) {
      setKey('');
      setValue('');
    }
  };
  const own = Object.entries(props.agent.labels).filter(([k]) => !(k in props.agent.operator_labels));
  return (
    <div class="panel">
      <h2>Operator labels</h2>
      <p class="muted">They add to (and override) the agent's own labels, for targeting runs.</p>
      <ul class="plain">
        {Object.entries(props.agent.operator_labels).map(([k, v]) => (
          <li key={k}>
            <span class="chip">{shown(k)}={shown(v)}</span>{' '}
            <button type="button" class="small" aria-label={`remove label ${shown(k)}`} onClick={() => void change({ remove: [k] })}>Remove</button>
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={add}>
        <input aria-label="label key" placeholder="key" value={key} required onInput={(e) => setKey(e.currentTarget.value)} />
        <span>=</span>
        <input aria-label="label value" placeholder="value" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        <button type="submit">Set label</button>
      </form>
      <ErrorNote error={error} />
      {own.length > 0 ? <p class="muted">From the agent's config: {own.map(([k, v]) => <span key={k} class="chip">{shown(k)}={shown(v)}</span>)}</p> : null}
    </div>
  );
}

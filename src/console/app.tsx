// The console's shell: finds out whether the browser holds a session (GET /api/session), shows
// sign-in until it does, then the navigation and the page the address names.

import { useEffect, useState } from 'preact/hooks';
import type { SessionView } from '../protocol/wire.ts';
import { scopeText } from '../protocol/roles.ts';
import type { OperatorIdentity } from '../protocol/wire.ts';
import { api, ApiFailure, may, useSession, whenSignedOut } from './api.ts';
import { href, useRoute } from './router.ts';
import { AgentPage } from './pages/agent.tsx';
import { CommandPage } from './pages/command.tsx';
import { FleetPage } from './pages/fleet.tsx';
import { NewRunPage } from './pages/new-run.tsx';
import { RunPage } from './pages/run.tsx';
import { RunsPage } from './pages/runs.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { shown } from './text.ts';

type State = { kind: 'checking' } | { kind: 'signed-out'; note?: string } | { kind: 'signed-in'; session: SessionView };

export function App() {
  const [state, setState] = useState<State>({ kind: 'checking' });
  const signedIn = (session: SessionView) => {
    useSession(session);
    setState({ kind: 'signed-in', session });
  };
  useEffect(() => {
    whenSignedOut(() => {
      useSession(null);
      setState({ kind: 'signed-out', note: 'Your session ended (signed out, expired or unused for an hour). Sign in again.' });
    });
    api.get<SessionView>('/api/session').then(signedIn, (err: ApiFailure) => {
      setState({ kind: 'signed-out', ...(err.status === 401 ? {} : { note: err.message }) });
    });
  }, []);

  if (state.kind === 'checking') return <p class="muted pad">Loading…</p>;
  if (state.kind === 'signed-out') return <SignIn note={state.note} onSignedIn={signedIn} />;
  const signOut = async () => {
    try {
      await api.del('/api/session');
    } finally {
      useSession(null);
      setState({ kind: 'signed-out', note: 'Signed out.' });
    }
  };
  return <Shell operator={state.session.operator} onSignOut={signOut} />;
}

function Shell(props: { operator: OperatorIdentity; onSignOut: () => void }) {
  const op = props.operator;
  const route = useRoute();
  const [section = 'fleet', id] = route;
  return (
    <>
      <header class="top">
        <a class="brand" href={href('fleet')}>myx</a>
        <nav aria-label="main">
          <a href={href('fleet')} aria-current={section === 'fleet' || section === 'agents' ? 'page' : undefined}>Fleet</a>
          <a href={href('runs')} aria-current={section === 'runs' || section === 'commands' ? 'page' : undefined}>Runs</a>
          {may('operator') ? <a href={href('new')} aria-current={section === 'new' ? 'page' : undefined}>New run</a> : null}
        </nav>
        <span class="who" title="signed in as">
          {shown(op.name)} <span class="muted-light">({op.role}{Object.keys(op.scope).length > 0 ? `, scope ${shown(scopeText(op.scope))}` : ''})</span>
        </span>
        <button type="button" class="link" onClick={props.onSignOut}>Sign out</button>
      </header>
      <main>{page(section, id)}</main>
    </>
  );
}

function page(section: string, id: string | undefined) {
  switch (section) {
    case 'fleet':
      return <FleetPage />;
    case 'agents':
      return id ? <AgentPage id={id} /> : <FleetPage />;
    case 'runs':
      return id ? <RunPage id={id} /> : <RunsPage />;
    case 'commands':
      return id ? <CommandPage id={id} /> : <RunsPage />;
    case 'new':
      return may('operator') ? <NewRunPage /> : <p class="pad">Starting runs needs the operator role; you are a viewer.</p>;
    default:
      return <p class="pad">No such page. <a href={href('fleet')}>Go to the fleet</a>.</p>;
  }
}

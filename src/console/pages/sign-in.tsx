// Sign-in: the operator token, once, traded for a session cookie (POST /api/session). The token
// is sent in the body, never in a URL, and the page does not keep it.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { SessionView } from '../../protocol/wire.ts';
import { api, ApiFailure } from '../api.ts';

export function SignIn(props: { note?: string | undefined; onSignedIn: (s: SessionView) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => field.current?.focus(), []); // `autofocus` only works once per document load
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const input = form.elements.namedItem('token') as HTMLInputElement;
    setBusy(true);
    setError(null);
    try {
      const session = await api.post<SessionView>('/api/session', { token: input.value });
      input.value = '';
      props.onSignedIn(session);
    } catch (err) {
      setError(err instanceof ApiFailure && err.code === 'OPERATOR_TOKEN_INVALID' ? 'That is not an operator token of this control plane.' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>myx console</h1>
      {props.note ? <p class="note">{props.note}</p> : null}
      <form onSubmit={submit}>
        <label for="token">Operator token</label>
        <input ref={field} id="token" name="token" type="password" autoComplete="off" spellcheck={false} required />
        <p class="muted">The control plane's <code>operator.token</code> file (in its data dir). It is exchanged for a session that ends after 12 hours, or 1 hour unused.</p>
        <button type="submit" disabled={busy}>Sign in</button>
      </form>
      {error ? <p class="error" role="alert">{error}</p> : null}
    </main>
  );
}

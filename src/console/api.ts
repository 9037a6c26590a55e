// Talking to the control plane from the page: same-origin fetch with the session cookie, the
// session's CSRF token on every call that changes something, JSON errors as ApiFailure, and one
// place that notices the session ended (any 401) and sends the page back to sign-in.

import type { ErrorBody } from '../protocol/errors.ts';
import { roleAllows, type OperatorRole } from '../protocol/roles.ts';
import type { OperatorIdentity, SessionView } from '../protocol/wire.ts';

export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrfToken = '';
let signedIn: OperatorIdentity | null = null;
let onSignedOut: () => void = () => {};

/** Called by the app: what to do when a request finds the session gone. */
export function whenSignedOut(fn: () => void): void {
  onSignedOut = fn;
}

export function useSession(view: SessionView | null): void {
  csrfToken = view && view.via === 'session' ? view.csrf_token : '';
  signedIn = view?.operator ?? null;
}

/**
 * Whether the signed-in operator's role allows what needs `role`: the page hides what it may not do
 * (the control plane refuses it anyway, ROLE_FORBIDDEN).
 */
export function may(role: OperatorRole): boolean {
  return signedIn !== null && roleAllows(signedIn.role, role);
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-myx-csrf'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', cache: 'no-store', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch {
    throw new ApiFailure(0, 'NETWORK', 'the control plane cannot be reached (retrying)');
  }
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: a proxy or a server on its way down
  }
  if (!res.ok) {
    const err = (json as ErrorBody | undefined)?.error;
    const failure = new ApiFailure(res.status, err?.code ?? 'HTTP', err?.message ?? `the control plane answered ${res.status}`);
    if (res.status === 401 && path !== '/api/session') onSignedOut();
    throw failure;
  }
  return json as T;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body?: unknown) => call<T>('POST', path, body),
  del: <T>(path: string) => call<T>('DELETE', path),
};

/** Path segments, each one escaped: an id or name never changes the path it goes into. */
export function path(...parts: string[]): string {
  return parts.map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join('/');
}

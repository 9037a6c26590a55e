// Where a control plane is and how to trust it: its URLs (replicas), an operator token and the
// fingerprint of its certificate, given directly or read from the data dir of a control plane on
// this host (server.json and operator.token, as `myx --data-dir` does).

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { normalizeFingerprint } from '../protocol/fingerprint.ts';
import { splitServerUrls } from '../protocol/server-urls.ts';
import { MyxError } from './errors.ts';

/** A control plane, resolved: what the client connects with. */
export interface Connection {
  /** The control plane's URLs (replicas), tried in this order. */
  urls: string[];
  /** An operator token (`myx operators add`); sent as `Authorization: Bearer`. */
  token: string;
  /** SHA-256 fingerprint of the control plane's certificate: the only certificate trusted (pinned TLS). */
  fingerprint: string;
}

/** A control plane by address: its URL (or its replicas' URLs), an operator token and its certificate's fingerprint. */
export interface ServerOptions {
  /** `https://HOST:PORT`, or several separated by commas or blanks (as `myx replicas` prints them). */
  server?: string;
  /** The URLs of its replicas, tried in order (failover); with `server`, after it. */
  servers?: string[];
  /** An operator token. Keep it out of source code: read it from the environment or a secret store. */
  token: string;
  /** SHA-256 fingerprint of its certificate (64 hex digits, colons optional), as `myx server` logs it and server.json holds it. */
  fingerprint: string;
}

/** A control plane on this host, by its data dir (needs read access to its operator.token). */
export interface DataDirOptions {
  dataDir: string;
}

export type ConnectOptions = ServerOptions | DataDirOptions;

/** Checks the options and reads the data dir when given one; throws MyxError (CONNECT_OPTIONS_INVALID, DATA_DIR_UNREADABLE). */
export async function resolveConnectOptions(o: ConnectOptions): Promise<Connection> {
  const bad = (message: string) => new MyxError(0, 'CONNECT_OPTIONS_INVALID', message, false);
  if (typeof o !== 'object' || o === null) throw bad('connect() takes { server, token, fingerprint } or { dataDir }');
  if ('dataDir' in o && o.dataDir !== undefined) {
    if ('server' in o || 'servers' in o) throw bad('give either dataDir or server(s), not both');
    return connectionFromDataDir(o.dataDir);
  }
  const s = o as ServerOptions;
  const listed = [...(s.server === undefined ? [] : [s.server]), ...(s.servers ?? [])];
  if (listed.length === 0) throw bad('connect() needs the control plane: { server: "https://HOST:PORT", token, fingerprint }, or { dataDir }');
  const split = splitServerUrls(listed.join(','));
  if ('bad' in split) throw bad(`control plane URLs look like https://HOST:PORT; got "${split.bad}"`);
  return connectionTo(split.urls, s.token, s.fingerprint);
}

/** A connection to these URLs, checking the token and the fingerprint. */
export function connectionTo(urls: string[], token: string | undefined, fingerprint: string | undefined): Connection {
  const bad = (message: string) => new MyxError(0, 'CONNECT_OPTIONS_INVALID', message, false);
  if (urls.length === 0) throw bad('no control plane URL');
  if (typeof token !== 'string' || token.trim() === '') throw bad('an operator token is needed (token)');
  if (typeof fingerprint !== 'string' || fingerprint === '') throw bad('the control plane\'s certificate fingerprint is needed (fingerprint: printed when the server starts, and in DATA_DIR/server.json)');
  const pinned = normalizeFingerprint(fingerprint);
  if (!pinned) throw bad(`"${fingerprint}" is not a SHA-256 fingerprint (expected 64 hex digits, colons optional)`);
  return { urls, token: token.trim(), fingerprint: pinned };
}

/** The control plane whose data dir this is: its URL and fingerprint (server.json) and the first admin's token (operator.token). */
export async function connectionFromDataDir(dataDir: string): Promise<Connection> {
  const dir = resolve(dataDir);
  const unreadable = (message: string) => new MyxError(0, 'DATA_DIR_UNREADABLE', message, false);
  let info: { url: string; fingerprint: string };
  try {
    info = JSON.parse(await readFile(join(dir, 'server.json'), 'utf8')) as { url: string; fingerprint: string };
  } catch {
    throw unreadable(`${dir} holds no control plane (no readable server.json): start one with \`myx server --data-dir ${dataDir}\``);
  }
  let token: string;
  try {
    token = (await readFile(join(dir, 'operator.token'), 'utf8')).trim();
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied; run as the user that runs the server' : 'missing';
    throw unreadable(`cannot read the operator token ${join(dir, 'operator.token')} (${why})`);
  }
  return { urls: [info.url], token, fingerprint: info.fingerprint };
}

// The operator CLI's view of where the control plane is: flags, then the environment, then the
// data dir of a server on this host. The client itself is the SDK's (sdk/api.ts): one client for
// the CLI, the SDK and its users; this only turns the CLI's ways of saying where into a Connection.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { splitServerUrls } from '../protocol/server-urls.ts';
import { connectionFromDataDir, connectionTo, type Connection } from '../sdk/connection.ts';
import { MyxError } from '../sdk/errors.ts';
import { env } from './env.ts';
import { CliError } from './fail.ts';

export { MyxApi as OperatorClient } from '../sdk/api.ts';
export type { Connection } from '../sdk/connection.ts';

export interface ConnectionFlags {
  dataDir?: string;
  server?: string;
  token?: string;
  fingerprint?: string;
}

/** Data dirs a server on this host is likely to use, in order: `myx server`'s default, then `myx up`'s. */
const LOCAL_DATA_DIRS = ['myx-data', join('.myx', 'server')];

export async function resolveConnection(f: ConnectionFlags): Promise<Connection> {
  const server = f.server ?? env.server;
  try {
    if (server) {
      const token = f.token ?? env.token;
      const fp = f.fingerprint ?? env.serverFingerprint;
      if (!token) throw new CliError('--server needs an operator token: --token TOKEN or MYX_TOKEN');
      if (!fp) throw new CliError('--server needs the control plane\'s certificate fingerprint: --fingerprint FP or MYX_SERVER_FINGERPRINT (printed when the server starts, and in DATA_DIR/server.json)');
      return connectionTo(parseServerList(server), token, fp);
    }
    const dataDir = f.dataDir ?? env.dataDir ?? LOCAL_DATA_DIRS.find((d) => existsSync(join(d, 'server.json')));
    if (!dataDir) {
      throw new CliError('cannot find the control plane: run beside it with --data-dir DIR (or MYX_DATA_DIR), or pass --server URL --token TOKEN --fingerprint FP');
    }
    return await connectionFromDataDir(dataDir);
  } catch (err) {
    // the SDK says what is wrong with the options; the CLI says it as its own error (exit 2)
    throw err instanceof MyxError ? new CliError(err.message) : err;
  }
}

/**
 * `--server` / MYX_SERVER: one URL or several, separated by commas or blanks, so the URLs that
 * `myx replicas` prints can be pasted as they are ("(this one)" marks are left out).
 */
export function parseServerList(value: string): string[] {
  const split = splitServerUrls(value);
  if ('bad' in split) throw new CliError(`--server (or MYX_SERVER) takes URLs like https://HOST:PORT, several separated by commas; got "${split.bad}"`);
  if (split.urls.length === 0) throw new CliError('--server (or MYX_SERVER) needs the control plane\'s URL, like https://HOST:PORT');
  return split.urls;
}

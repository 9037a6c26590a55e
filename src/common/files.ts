// Small file helpers: atomic writes with an explicit mode, so a crash never leaves half a config
// and a secret is never briefly world-readable.

import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

export async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes via a temp file in the same folder, fsyncs, renames over `path`; `mode` from the start. */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await chmod(tmp, mode); // the umask may have narrowed or the caller's mode widened
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export class InsecureFileError extends Error {
  readonly code = 'INSECURE_FILE_MODE';
  constructor(message: string) {
    super(message);
    this.name = 'InsecureFileError';
  }
}

/**
 * A file holding a secret (token, private key) must not be open to others. Files myx wrote itself
 * must be 0600 or narrower: anything wider is refused. A key the operator supplied may be readable
 * by its group (as in /etc/ssl/private) with a warning; readable by everyone is refused.
 */
export async function checkSecretFile(path: string, origin: 'own' | 'supplied', warn: (msg: string) => void): Promise<void> {
  const mode = (await stat(path)).mode & 0o777;
  const fix = `run \`chmod 600 ${path}\``;
  const shown = `0${mode.toString(8)}`;
  if (mode & 0o007 || (origin === 'own' && mode & 0o070)) {
    throw new InsecureFileError(`${path} holds a secret but its mode is ${shown} (open to ${mode & 0o007 ? 'everyone' : 'its group'}): ${fix}, then start again`);
  }
  if (mode & 0o070) warn(`${path} holds a private key and its group may read it (mode ${shown}); ${fix} unless that is intended`);
}

// The agent's own executable: where it is, and replacing it without a moment where the path holds
// nothing or half a file. Every replacement is a rename within the binary's folder (atomic on
// POSIX file systems); the previous binary is kept beside it as `<name>.previous`.

import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, fsyncSync, linkSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isSea } from 'node:sea';

export interface AgentBinary {
  /** The running binary (process.execPath of the single executable). */
  path: string;
  backup: string;
  /** Where a new version is downloaded before it takes the binary's place. */
  downloadFor(commandId: string): string;
}

/** The running agent's binary, or null when it runs from sources (`node bin/myx-agent.js`): nothing to replace then. */
export function agentBinary(): AgentBinary | null {
  return isSea() ? binaryAt(process.execPath) : null;
}

export function binaryAt(path: string): AgentBinary {
  const dir = dirname(path);
  const name = basename(path);
  return { path, backup: join(dir, `${name}.previous`), downloadFor: (id) => join(dir, `.${name}.upgrade-${id}`) };
}

/** Downloads a previous run left behind (it stopped before it switched). */
export function removeStaleDownloads(binary: AgentBinary): void {
  const dir = dirname(binary.path);
  const prefix = `.${basename(binary.path)}.upgrade-`;
  try {
    for (const f of readdirSync(dir)) if (f.startsWith(prefix)) rmSync(join(dir, f), { force: true });
  } catch {
    // an unreadable folder: nothing we could clean anyway
  }
}

export function inodeOf(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}

/** The previous binary is kept as the backup, then `replacement` takes the binary's place in one rename. */
export function switchBinary(binary: AgentBinary, replacement: string): void {
  placeCopy(binary.path, binary.backup);
  renameSync(replacement, binary.path);
  syncDir(dirname(binary.path));
}

/** The backup takes the binary's place again (kept as the backup too). Idempotent. */
export function restoreBinary(binary: AgentBinary): void {
  placeCopy(binary.backup, binary.path);
  syncDir(dirname(binary.path));
}

/** `to` becomes a copy of `from` in one rename (a hard link when it can: no copy of 100 MiB). */
function placeCopy(from: string, to: string): void {
  const tmp = join(dirname(to), `.${basename(to)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    try {
      linkSync(from, tmp);
    } catch {
      copyFileSync(from, tmp);
      const fd = openSync(tmp, 'r');
      fsyncSync(fd);
      closeSync(fd);
    }
    renameSync(tmp, to);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    // some file systems refuse fsync on a folder; the renames are done either way
  }
}

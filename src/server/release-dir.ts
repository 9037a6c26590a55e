// The release the control plane hands out: the folder `npm run package` writes (myx-agent,
// myx, SHA256SUMS). The installer and agent upgrades download from it over the control plane's
// own pinned HTTPS. What is in it is read again whenever the files change, so dropping a new
// release in place needs no restart.

import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError } from '../protocol/errors.ts';

/** The agent binary of the release and what the control plane knows of it. */
export interface AgentRelease {
  dir: string;
  /** Path of the agent binary. */
  path: string;
  size: number;
  /** Its SHA-256 as SHA256SUMS states it (hex): what installers and agents check the download against. */
  sha256: string;
  /** What `myx-agent --version` prints; null when the binary does not run here. */
  version: string | null;
  /** SHA256SUMS as it is, served to installers. */
  sums: string;
}

export const AGENT_BINARY = 'myx-agent';
export const SUMS_FILE = 'SHA256SUMS';

export class ReleaseDir {
  readonly dir: string | null;
  #cached: { key: string; release: AgentRelease } | undefined;

  /** `dir` null: this control plane has no release to hand out (routes say so). */
  constructor(dir: string | null) {
    this.dir = dir;
  }

  /** The current release; a RELEASE_NOT_FOUND ApiError saying what is missing when there is none. */
  async agent(): Promise<AgentRelease> {
    if (this.dir === null) throw notFound('this control plane was started without a release directory');
    const dir = this.dir;
    const path = join(dir, AGENT_BINARY);
    const [bin, sumsStat] = await Promise.all([stat(path).catch(() => null), stat(join(dir, SUMS_FILE)).catch(() => null)]);
    if (!bin?.isFile()) throw notFound(`${path} is missing`);
    if (!sumsStat?.isFile()) throw notFound(`${join(dir, SUMS_FILE)} is missing`);
    const key = `${bin.ino}:${bin.size}:${bin.mtimeMs}:${sumsStat.ino}:${sumsStat.mtimeMs}`;
    if (this.#cached?.key === key) return this.#cached.release;
    const sums = await readFile(join(dir, SUMS_FILE), 'utf8');
    const sha256 = checksumOf(sums, AGENT_BINARY);
    if (!sha256) throw notFound(`${join(dir, SUMS_FILE)} has no line for ${AGENT_BINARY}`);
    const release: AgentRelease = { dir, path, size: bin.size, sha256, version: await versionOf(path), sums };
    this.#cached = { key, release };
    return release;
  }

  /** One line for the start log: where the release is, or why there is none. */
  async describe(): Promise<{ release_dir: string | null; agent_version: string | null; note?: string }> {
    try {
      const r = await this.agent();
      return { release_dir: r.dir, agent_version: r.version };
    } catch (err) {
      return { release_dir: this.dir, agent_version: null, note: `no agent release to hand out: ${(err as Error).message}` };
    }
  }
}

/** The hex checksum SHA256SUMS (`sha256sum` format) gives `name`, if any. */
export function checksumOf(sums: string, name: string): string | undefined {
  for (const line of sums.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (m && m[2] === name) return m[1];
  }
  return undefined;
}

function versionOf(path: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(path, ['--version'], { timeout: 10_000, env: { PATH: '/usr/bin:/bin' } }, (err, stdout) => {
      const v = stdout.trim();
      resolve(err || !/^[0-9A-Za-z.+-]{1,64}$/.test(v) ? null : v);
    });
  });
}

function notFound(why: string): ApiError {
  return new ApiError('RELEASE_NOT_FOUND', `${why}: build one with \`npm run package\` (writes release/) or start the control plane with --release-dir DIR`);
}

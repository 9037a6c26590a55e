// The control plane URLs this agent knows: those of its config (what it was enrolled with), then
// those the control plane says its live replicas have (`control_plane_urls` in heartbeat answers).
// The learned ones are kept in state/control-plane-urls.json, so an agent enrolled through one
// replica finds the others after a restart even while that one is gone.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../common/files.ts';
import type { Logger } from '../common/logger.ts';
import { SERVER_URL } from '../protocol/server-urls.ts';

/** The state file's name, in the agent's state folder (beside the journal). */
export const CONTROL_PLANE_URLS_FILE = 'control-plane-urls.json';

/** More than any real cluster has: a bound on what one answer can make the agent keep. */
const MAX_LEARNED = 64;

interface StateFile {
  learned: string[];
  updated_at: string;
}

export class ControlPlaneUrls {
  readonly #configured: string[];
  readonly #path: string;
  readonly #log: Logger;
  readonly #seed: string;
  #learned: string[];
  #writeFailed = false;

  private constructor(configured: string[], learned: string[], path: string, log: Logger, seed: string) {
    this.#configured = configured;
    this.#learned = learned;
    this.#path = path;
    this.#log = log;
    this.#seed = seed;
  }

  /**
   * `configured`: the config file's URLs; `path`: the state file (missing or unreadable: nothing
   * learned yet); `seed` (the agent's id or name) orders the learned URLs differently on each
   * agent, so the agents of a replica that died spread over the others instead of all moving to one.
   */
  static async load(configured: string[], path: string, log: Logger, seed: string): Promise<ControlPlaneUrls> {
    let learned: string[] = [];
    try {
      const state = JSON.parse(await readFile(path, 'utf8')) as Partial<StateFile>;
      learned = clean(Array.isArray(state.learned) ? state.learned : []);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file: path }, `ignoring the learned control plane URLs: ${(err as Error).message}`);
    }
    return new ControlPlaneUrls(configured, learned, path, log, seed);
  }

  /** The configured URLs first (in their order), then the learned ones. */
  all(): string[] {
    return [...new Set([...this.#configured, ...this.#learned])];
  }

  get learned(): readonly string[] {
    return this.#learned;
  }

  /**
   * The live replicas' URLs, as a heartbeat answer gave them; they replace what was learned
   * before (a replica gone for good drops out; the configured URLs always stay). True when that
   * changed the list. Kept on disk with a rename, so a crash leaves the old file or the new one.
   */
  async learn(urls: unknown): Promise<boolean> {
    if (!Array.isArray(urls)) return false; // a control plane from before replicas
    const rank = (u: string) => createHash('sha256').update(`${this.#seed}\n${u}`).digest('hex');
    const next = clean(urls).sort((a, b) => (rank(a) < rank(b) ? -1 : 1));
    if (next.length === 0 || same(next, this.#learned)) return false;
    this.#learned = next;
    const state: StateFile = { learned: next, updated_at: new Date().toISOString() };
    try {
      await writeFileAtomic(this.#path, JSON.stringify(state, null, 2) + '\n', 0o600);
      this.#writeFailed = false;
    } catch (err) {
      // still used in memory; said once until a write works again
      if (!this.#writeFailed) this.#log.warn({ file: this.#path }, `cannot keep the control plane URLs learned: ${(err as Error).message}`);
      this.#writeFailed = true;
    }
    return true;
  }
}

function clean(urls: unknown[]): string[] {
  const ok = urls.filter((u): u is string => typeof u === 'string' && SERVER_URL.test(u)).map((u) => u.replace(/\/$/, ''));
  return [...new Set(ok)].slice(0, MAX_LEARNED);
}

function same(a: string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

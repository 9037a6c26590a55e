// Whether the agent can write its journal right now. A disk that fills up or turns read-only is a
// condition to report and wait out, never a crash: while it lasts no new command is accepted (it
// could not be journaled, so it could run twice), and it ends by itself once a write goes through.
//
// States: writable ──a write fails for want of storage──▶ unwritable ──a write goes through──▶ writable
// Each change is logged once, not every failed write.

import type { Logger } from '../common/logger.ts';
import { ApiError } from '../protocol/errors.ts';
import type { JournalStatus } from '../protocol/wire.ts';

/** Thrown by journal writes while storage is the problem; answered as HTTP 507 AGENT_STORAGE_FULL. */
export class JournalUnwritableError extends ApiError {
  constructor(path: string, reason: string) {
    super('AGENT_STORAGE_FULL', `this agent cannot write its journal at ${path} (disk full or read-only?): ${reason}; it takes no new command until it can`);
  }
}

/** Runs `fn`; undefined instead of a JournalUnwritableError (the journal has logged it), other errors pass. */
export function unlessUnwritable<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof JournalUnwritableError) return undefined;
    throw err;
  }
}

/** SQLite primary result codes that mean "storage", not "bug": READONLY, IOERR, FULL, CANTOPEN. */
const SQLITE_FAULTS: Record<number, string> = { 8: 'SQLITE_READONLY', 10: 'SQLITE_IOERR', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN' };
/** Extended codes worth naming: "disk I/O error" alone does not say a write failed (EFBIG, EIO...). */
const SQLITE_DETAILS: Record<number, string> = {
  266: 'SQLITE_IOERR_READ', 778: 'SQLITE_IOERR_WRITE', 1034: 'SQLITE_IOERR_FSYNC', 1546: 'SQLITE_IOERR_TRUNCATE', 4874: 'SQLITE_IOERR_SHMSIZE',
};
const FS_FAULTS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EFBIG', 'EIO', 'EACCES', 'EPERM']);

/** A short reason when `err` is a storage fault (disk full, read-only, too big, I/O error), else null. */
export function storageFault(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  const e = err as Error & { code?: unknown; errcode?: unknown };
  if (e.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number') {
    const name = SQLITE_FAULTS[e.errcode & 0xff];
    return name ? `${SQLITE_DETAILS[e.errcode] ?? name}: ${e.message}` : null;
  }
  return typeof e.code === 'string' && FS_FAULTS.has(e.code) ? e.message : null;
}

export class JournalHealth {
  readonly #path: string;
  readonly #log: Logger;
  #error: string | null = null;
  #since: string | null = null;

  constructor(path: string, log: Logger) {
    this.#path = path;
    this.#log = log;
  }

  get writable(): boolean {
    return this.#error === null;
  }

  status(): Omit<JournalStatus, 'held_results'> {
    return { path: this.#path, writable: this.writable, error: this.#error, since: this.#since };
  }

  /** A write failed for want of storage: logged once per outage; returns the error to throw. */
  failed(reason: string): JournalUnwritableError {
    if (this.#error === null) {
      this.#since = new Date().toISOString();
      this.#log.error(
        { journal: this.#path, reason },
        `journal is not writable (disk full or read-only?) at ${this.#path}: ${reason}; new commands are refused until it is, finished results are kept in memory and sent`,
      );
    }
    this.#error = reason;
    return new JournalUnwritableError(this.#path, reason);
  }

  /** A write went through; true when that ends an outage. */
  succeeded(): boolean {
    if (this.#error === null) return false;
    const seconds = Math.round((Date.now() - Date.parse(this.#since!)) / 1000);
    this.#log.info({ journal: this.#path, unwritable_seconds: seconds }, `journal is writable again at ${this.#path} (after ${seconds} s): new commands are accepted again`);
    this.#error = null;
    this.#since = null;
    return true;
  }
}

// How the CLIs end on an error: one line on stderr, a stable exit code, never a stack trace for
// problems the user can fix (and never a secret: messages are built without tokens). A message
// may quote the control plane or an agent, so it is shown through displayText.

import { displayBlock, displayText } from '../protocol/display-text.ts';

export const EXIT = { ok: 0, commandFailed: 1, error: 2 } as const;

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.error) {
    super(message);
    this.exitCode = exitCode;
  }
}

export function reportAndExit(prog: string, err: unknown): never {
  const e = err as Error & { code?: string; exitCode?: number };
  const known = err instanceof CliError || typeof e.code === 'string';
  process.stderr.write(`${prog}: ${known ? displayText(e.message) : displayBlock(e.stack ?? String(err))}\n`);
  process.exit(e.exitCode ?? EXIT.error);
}

export function parsePort(value: string, what: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new CliError(`${what} must be a port number (0-65535), got "${value}"`);
  return n;
}

/** "90", "90s", "15m", "1h", "2d" -> seconds. */
export function parseDuration(value: string, what: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(value.trim());
  if (!m || Number(m[1]) <= 0) throw new CliError(`${what} must be a duration like 90s, 15m, 1h or 2d, got "${value}"`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

/** "1048576", "512KiB", "64MiB", "10GiB" (binary; bare K, M, G, T too), "500MB", "10GB" (decimal) -> bytes. */
export function parseSize(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(i?)B?|(B))?$/i.exec(value.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!m || !(n >= 0)) throw new CliError(`${what} must be a size like 64MiB, 512KiB, 10GiB or 500MB, got "${value}"`);
  const unit = m[2]?.toUpperCase();
  const power = unit ? 'KMGT'.indexOf(unit) + 1 : 0;
  const decimal = unit !== undefined && m[3] === '' && /B$/i.test(value.trim());
  return Math.round(n * (decimal ? 1000 : 1024) ** power);
}

// Structured logs (pino, JSON lines). On a terminal they are shown as one readable line each;
// `MYX_LOG_FORMAT=json` keeps JSON. Secrets are redacted by key wherever they appear, and text an
// agent supplied (names, error messages) cannot put a control character on anyone's terminal.

import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { displayText, escapeJsonText } from '../protocol/display-text.ts';

export type { Logger };

export interface LoggerOptions {
  /** Component name shown on every line (`server`, `agent`, ...). */
  name: string;
  /** @default 'info' */
  level?: string;
  /** 'json' or 'pretty'; @default pretty on a TTY, json otherwise */
  format?: 'json' | 'pretty';
  /** Where lines go, @default stdout */
  destination?: NodeJS.WritableStream;
}

/** Keys whose values are secrets; pino replaces them before anything is written. */
export const REDACT_PATHS = [
  'token', 'agent_token', 'enrollment_token', 'operator_token', 'authorization',
  '*.token', '*.agent_token', '*.enrollment_token', '*.operator_token', '*.authorization',
  'req.headers.authorization', 'req.headers["x-agent-token"]', 'headers.authorization', 'headers["x-agent-token"]',
];

export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.destination ?? process.stdout;
  const pretty = (opts.format ?? ((out as { isTTY?: boolean }).isTTY ? 'pretty' : 'json')) === 'pretty';
  return pino(
    { name: opts.name, level: opts.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    pretty ? prettyStream(out) : jsonStream(out),
  );
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v']);

/** JSON lines as pino writes them (C0 already escaped), with the rest of what displayJson escapes. */
function jsonStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      out.write(escapeJsonText(chunk.toString('utf8')));
      done();
    },
  });
}

function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        // every field an agent can influence (its name, a push error from its web service) is in this line
        if (line.length > 0) out.write(displayText(formatLine(line)) + '\n');
      }
      done();
    },
  });
}

function formatLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(Number(rec.time)).toISOString().slice(11, 19);
  const extra = Object.entries(rec)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${LEVELS[Number(rec.level)] ?? rec.level} [${String(rec.name)}] ${String(rec.msg ?? '')}${extra ? '  ' + extra : ''}`;
}

// `myx logs ID`: a command's output as the control plane keeps it, page by page (a megabyte at a
// time), from the start or its last lines; with --follow, then as it comes until the command ends
// (long-polled pages, reconnecting as `myx run` does). Output passes through as the command printed
// it, or with terminal control sequences removed (--strip-control); what myx says goes to stderr.

import { setTimeout as sleep } from 'node:timers/promises';
import { RequestFailedError } from '../common/json-client.ts';
import { displayText, stripControl } from '../protocol/display-text.ts';
import { OUTPUT_PAGE_MAX } from '../protocol/schemas.ts';
import type { OutputPage, OutputStream } from '../protocol/wire.ts';
import { EXIT } from './fail.ts';
import type { OperatorClient } from './operator-client.ts';

export interface LogsOptions {
  id: string;
  stream: OutputStream;
  follow: boolean;
  /** Start with the last N lines instead of the first byte. */
  tail?: number;
  stripControl: boolean;
}

/** A follower's page waits this long for more before it is asked again. */
const FOLLOW_WAIT_SECONDS = 25;
const MAX_RECONNECT_MS = 5000;

export async function logsCommand(client: OperatorClient, o: LogsOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const write = writer(out, o.stripControl);
  const say = (text: string) => err.write(`${displayText(text)}\n`);
  let told = false;
  let expected: number | null = null;
  const show = async (page: OutputPage) => {
    if (page.notice !== null && !told) {
      say(`myx logs: ${page.notice}`);
      told = true;
    }
    if (expected !== null && page.offset > expected && page.source === 'full') {
      await write.flush();
      say(`[... ${page.offset - expected} bytes not kept: past the control plane's --output-cap only the first part and the last part of a stream are kept ...]`);
    }
    await write.text(page.data);
    expected = page.next_offset;
  };

  let offset = 0;
  if (o.tail !== undefined) {
    const page = await retrying(() => client.output(o.id, { stream: o.stream, tail: o.tail! }), o.follow, say);
    await show(page);
    offset = page.next_offset;
    if (page.eof || !o.follow) return done(write);
  }
  for (;;) {
    const page = await retrying(() => client.output(o.id, { stream: o.stream, offset, limit: OUTPUT_PAGE_MAX, ...(o.follow ? { wait: FOLLOW_WAIT_SECONDS } : {}) }), o.follow, say);
    await show(page);
    offset = page.next_offset;
    if (page.eof || (!o.follow && page.data.length === 0)) return done(write);
  }
}

async function done(write: Writer): Promise<number> {
  await write.flush();
  return EXIT.ok;
}

/** One call; when following, a call that fails for a reason that may pass is tried again (and the operator told). */
async function retrying<T>(call: () => Promise<T>, follow: boolean, say: (text: string) => void): Promise<T> {
  let backoff = 0;
  let lost = false;
  for (;;) {
    try {
      const out = await call();
      if (lost) say('reconnected to the control plane');
      return out;
    } catch (e) {
      if (!follow || (e instanceof RequestFailedError && !e.retryable)) throw e;
      if (!lost) say(`lost contact with the control plane (${(e as Error).message}); the command goes on, reconnecting…`);
      lost = true;
      backoff = Math.min(MAX_RECONNECT_MS, Math.max(250, backoff * 2));
      await sleep(backoff);
    }
  }
}

interface Writer {
  text(data: string): Promise<void>;
  flush(): Promise<void>;
}

/** Writes as printed (waiting for a slow terminal or pipe), or line by line with control sequences removed. */
function writer(out: NodeJS.WritableStream, strip: boolean): Writer {
  let partial = '';
  const put = (s: string) => new Promise<void>((resolve) => (s.length === 0 || out.write(s) ? resolve() : out.once('drain', () => resolve())));
  return {
    async text(data) {
      if (!strip) return put(data);
      const lines = (partial + data).split('\n');
      partial = lines.pop()!;
      if (lines.length > 0) await put(lines.map((l) => `${stripControl(l)}\n`).join(''));
    },
    async flush() {
      if (partial.length > 0) await put(stripControl(partial));
      partial = '';
    },
  };
}

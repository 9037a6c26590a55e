// A small Server-Sent Events reader for the control plane's command stream.

import { openStream } from '../common/json-client.ts';
import type { PinnedPool } from '../common/pinned-pool.ts';

export interface SseEvent {
  event: string;
  data: string;
}

/** Yields events until the server ends the stream; throws when the connection fails. */
export async function* readEvents(url: string, pool: PinnedPool, headers: Record<string, string>): AsyncGenerator<SseEvent> {
  // the server pings every 15 s, so 45 s of silence means the connection is gone
  const res = await openStream({ url, pool, headers, timeoutMs: 45_000 });
  res.setEncoding('utf8');
  let buffer = '';
  for await (const chunk of res) {
    buffer += chunk as string;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) yield { event, data: data.join('\n') };
    }
  }
  if (!res.complete) throw Object.assign(new Error('the event stream was cut off'), { code: 'ECONNRESET' });
}

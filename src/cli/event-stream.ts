// A small Server-Sent Events reader over undici, for the control plane's command stream.

import { request, type Dispatcher } from 'undici';
import { RequestFailedError } from '../common/json-client.ts';

export interface SseEvent {
  event: string;
  data: string;
}

/** Yields events until the server ends the stream; throws when the connection fails. */
export async function* readEvents(url: string, dispatcher: Dispatcher, headers: Record<string, string>): AsyncGenerator<SseEvent> {
  let res: Dispatcher.ResponseData;
  try {
    // the server pings every 15 s, so 45 s of silence means the connection is gone
    res = await request(url, { method: 'GET', dispatcher, headers: { ...headers, accept: 'text/event-stream' }, headersTimeout: 15_000, bodyTimeout: 45_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RequestFailedError(0, e.code ?? 'REQUEST_FAILED', e.message);
  }
  if (res.statusCode !== 200) {
    const text = await res.body.text().catch(() => '');
    let message = `HTTP ${res.statusCode}`;
    let code = `HTTP_${res.statusCode}`;
    try {
      const body = JSON.parse(text) as { error?: { code: string; message: string } };
      if (body.error) ({ code, message } = body.error);
    } catch {
      // not JSON: keep the status line
    }
    throw new RequestFailedError(res.statusCode, code, message);
  }
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += (chunk as Buffer).toString('utf8');
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
}

// A small Server-Sent Events reader for the control plane's command stream.

/** What readEvents reads: an HTTP response (node:http's IncomingMessage), by what it uses of it. */
export interface EventSource extends AsyncIterable<unknown> {
  setEncoding(encoding: 'utf8'): unknown;
  /** The whole answer arrived (the server ended it), not a connection cut. */
  readonly complete: boolean;
}

/** One event of a stream: its name (`output`, `status`, `final`, `end`) and its data (JSON). */
export interface SseEvent {
  event: string;
  data: string;
}

/** Yields the events of an opened stream until the server ends it; throws when the connection fails. */
export async function* readEvents(res: EventSource): AsyncGenerator<SseEvent> {
  res.setEncoding('utf8');
  // The unfinished block is kept in pieces and only new text is searched for its end: appending to
  // one string and searching all of it made a megabyte event (1 MiB of binary output) take seconds.
  let pending: string[] = [];
  let last = ''; // the last character received, so a blank line split across pieces is found
  for await (const chunk of res) {
    let text = chunk as string;
    let end: number;
    while ((end = (last + text).indexOf('\n\n')) >= 0) {
      const cut = end - last.length + 2; // where the blank line ends in `text`
      const block = (pending.join('') + text.slice(0, cut)).slice(0, -2);
      [pending, last, text] = [[], '', text.slice(cut)];
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) yield { event, data: data.join('\n') };
    }
    if (text.length > 0) {
      pending.push(text);
      last = text.at(-1)!;
    }
  }
  if (!res.complete) throw Object.assign(new Error('the event stream was cut off'), { code: 'ECONNRESET' });
}

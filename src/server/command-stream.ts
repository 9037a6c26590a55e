// GET /api/commands/stream?ids=a,b: Server-Sent Events with the live output of one or more
// commands (`output`), each command's final record (`final`), then `end`; with `statuses=all`, a
// `status` event (the record) whenever a command's status changes short of final. Stored output is
// replayed first (from `from`, when the client says where it was), so a client that reconnects
// misses nothing (it dedupes by offset). New output and ends are heard from the store's event feed
// (on any replica) and read from the store, a megabyte at a time, sent as fast as the client takes
// it: a slow client holds back the reads, not the control plane's memory.

import type { FastifyInstance } from 'fastify';
import { isFinal } from '../protocol/command-status.ts';
import { streamQuerySchema } from '../protocol/schemas.ts';
import { charStart } from '../protocol/utf8.ts';
import type { OutputEvent, StreamQuery } from '../protocol/wire.ts';
import { operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { visibleCommands } from './scope.ts';

const PING_MS = 15_000;
/** Output is read from the store this much at a time. */
const READ_BYTES = 1024 * 1024;
const decoder = new TextDecoder('utf-8');

export function commandStreamRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Querystring: StreamQuery }>('/api/commands/stream', { ...operatorRoute('viewer'), schema: { querystring: streamQuerySchema } }, async (req, reply) => {
    const listed = req.query.ids.split(',').filter((s) => s.length > 0);
    const ids = [...new Set(listed)];
    const from = req.query.from?.split(',').map(Number) ?? [];
    const withOutput = req.query.output !== 'none';
    const withStatuses = req.query.statuses === 'all';
    await visibleCommands(ctx, req, ids); // every one of them the caller's to see, or none

    reply.hijack();
    const counted = ctx.metrics.streamOpened();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    /** Resolves when the client has taken what was written (or is gone). */
    const send = async (event: string, data: unknown) => {
      if (res.writableEnded || res.destroyed) return;
      if (!res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)) {
        await new Promise<void>((r) => {
          const done = () => (res.off('drain', done), res.off('close', done), r());
          res.on('drain', done);
          res.on('close', done);
        });
      }
    };
    const next = new Map<string, number>(listed.flatMap((id, i) => (from[i] === undefined ? [] : [[id, from[i]!] as const])));
    const finals = new Set<string>();
    const statusSent = new Map<string, string>();
    let closed = false;

    // One step at a time, in the order heard: each reads the store from where the stream is, so
    // nothing is sent twice or out of order, whatever the events' timing.
    let steps = Promise.resolve();
    const step = (fn: () => Promise<void>) => {
      steps = steps.then(() => (closed ? undefined : fn())).catch((err: unknown) => {
        req.log.error({ err }, 'command stream failed');
        close();
      });
    };
    const pullOutput = async (id: string) => {
      if (!withOutput) return;
      for (;;) {
        const at = next.get(id) ?? 0;
        const chunks = await ctx.store.readOutput(id, 'all', at, READ_BYTES);
        if (chunks.length === 0 || closed) return;
        for (const c of chunks) {
          if (c.at + c.data.length <= (next.get(id) ?? 0)) continue;
          const skip = charStart(c.data, Math.max(0, (next.get(id) ?? 0) - c.at));
          const event: OutputEvent = {
            command_id: id, stream: c.stream, offset: c.at + skip, stream_offset: c.offset + skip, bytes: c.data.length - skip,
            data: decoder.decode(c.data.subarray(skip)),
          };
          next.set(id, c.at + c.data.length);
          await send('output', event);
          if (closed) return;
        }
      }
    };
    const pullFinal = async (id: string) => {
      if (finals.has(id)) return;
      const [command] = await ctx.store.getCommands([id]);
      if (!command || !isFinal(command.status)) return;
      await pullOutput(id); // what it printed before it ended
      finals.add(id);
      await send('final', command);
      if (finals.size === ids.length) close();
    };
    /** The command's status when it is not final and not sent yet (a final one goes as its `final`). */
    const pullStatus = async (id: string) => {
      if (!withStatuses || finals.has(id)) return;
      const [command] = await ctx.store.getCommands([id]);
      if (!command) return;
      if (isFinal(command.status)) return pullFinal(id);
      if (statusSent.get(id) === command.status) return;
      statusSent.set(id, command.status);
      await send('status', command);
    };
    const pullAll = async () => {
      for (const id of ids) {
        await pullStatus(id);
        await pullOutput(id);
        await pullFinal(id);
      }
    };

    // one pending read per command: a burst of output events while the client is slow costs one read
    const queued = new Set<string>();
    const unsubscribe = ctx.events.subscribe(
      ids,
      (id) => {
        if (queued.has(id)) return;
        queued.add(id);
        step(() => (queued.delete(id), pullOutput(id)));
      },
      (id) => step(() => pullFinal(id)),
      () => step(pullAll),
      withStatuses ? (id) => step(() => pullStatus(id)) : undefined,
    );
    const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
    function close() {
      if (closed) return;
      closed = true;
      counted();
      clearInterval(ping);
      unsubscribe();
      void send('end', {});
      res.end();
    }
    req.raw.once('close', () => {
      closed = true;
      counted();
      clearInterval(ping);
      unsubscribe();
    });
    // Subscribed first, then replayed: whatever happens meanwhile is read by a later step.
    step(pullAll);
  });
}

// GET /api/commands/stream?ids=a,b: Server-Sent Events with the live output of one or more
// commands (`output`), each command's final record (`final`), then `end`. Stored output is
// replayed first, so a client that reconnects misses nothing (it dedupes by offset). New output
// and ends are heard from the store's event feed (on any replica) and read from the store.

import type { FastifyInstance } from 'fastify';
import { isFinal } from '../protocol/command-status.ts';
import { streamQuerySchema } from '../protocol/schemas.ts';
import { operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { visibleCommands } from './scope.ts';

const PING_MS = 15_000;

export function commandStreamRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Querystring: { ids: string } }>('/api/commands/stream', { ...operatorRoute('viewer'), schema: { querystring: streamQuerySchema } }, async (req, reply) => {
    const ids = [...new Set(req.query.ids.split(',').filter((s) => s.length > 0))];
    await visibleCommands(ctx, req, ids); // every one of them the caller's to see, or none

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => {
      if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const next = new Map<string, number>();
    const finals = new Set<string>();
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
      for (const c of await ctx.store.readOutput(id, next.get(id) ?? 0)) {
        if (c.offset < (next.get(id) ?? 0)) continue;
        send('output', { command_id: id, ...c });
        next.set(id, c.offset + c.data.length);
      }
    };
    const pullFinal = async (id: string) => {
      if (finals.has(id)) return;
      const [command] = await ctx.store.getCommands([id]);
      if (!command || !isFinal(command.status)) return;
      await pullOutput(id); // what it printed before it ended
      finals.add(id);
      send('final', command);
      if (finals.size === ids.length) close();
    };
    const pullAll = async () => {
      for (const id of ids) {
        await pullOutput(id);
        await pullFinal(id);
      }
    };

    const unsubscribe = ctx.events.subscribe(
      ids,
      (id) => step(() => pullOutput(id)),
      (id) => step(() => pullFinal(id)),
      () => step(pullAll),
    );
    const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
    function close() {
      if (closed) return;
      closed = true;
      clearInterval(ping);
      unsubscribe();
      send('end', {});
      res.end();
    }
    req.raw.once('close', () => {
      closed = true;
      clearInterval(ping);
      unsubscribe();
    });
    // Subscribed first, then replayed: whatever happens meanwhile is read by a later step.
    step(pullAll);
  });
}

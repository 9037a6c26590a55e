// GET /api/commands/stream?ids=a,b: Server-Sent Events with the live output of one or more
// commands (`output`), each command's final record (`final`), then `end`. Stored output is
// replayed first, so a client that reconnects misses nothing (it dedupes by offset).

import type { FastifyInstance } from 'fastify';
import { isFinal } from '../protocol/command-status.ts';
import { ApiError } from '../protocol/errors.ts';
import { streamQuerySchema } from '../protocol/schemas.ts';
import type { OutputChunk } from '../protocol/wire.ts';
import { OPERATOR_ROUTE } from './auth.ts';
import type { ServerContext } from './context.ts';

const PING_MS = 15_000;

export function commandStreamRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Querystring: { ids: string } }>('/api/commands/stream', { ...OPERATOR_ROUTE, schema: { querystring: streamQuerySchema } }, async (req, reply) => {
    const ids = [...new Set(req.query.ids.split(',').filter((s) => s.length > 0))];
    const known = await ctx.store.getCommands(ids);
    if (known.length < ids.length) {
      const have = new Set(known.map((c) => c.id));
      throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${ids.find((id) => !have.has(id))}`);
    }

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => {
      if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const next = new Map<string, number>();
    const finals = new Set<string>();
    let replaying = true;
    const buffered: (() => Promise<void> | void)[] = [];

    const emitChunks = (id: string, chunks: OutputChunk[]) => {
      for (const c of chunks) {
        if (c.offset < (next.get(id) ?? 0)) continue;
        send('output', { command_id: id, ...c });
        next.set(id, c.offset + c.data.length);
      }
    };
    const emitFinal = async (id: string) => {
      if (finals.has(id)) return;
      finals.add(id);
      emitChunks(id, await ctx.store.readOutput(id, next.get(id) ?? 0));
      const [command] = await ctx.store.getCommands([id]);
      send('final', command);
      if (finals.size === ids.length) close();
    };
    const unsubscribe = ctx.events.subscribe(
      ids,
      (id, chunks) => (replaying ? buffered.push(() => emitChunks(id, chunks)) : emitChunks(id, chunks)),
      (id) => (replaying ? buffered.push(() => emitFinal(id)) : void emitFinal(id)),
    );
    const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
    function close() {
      clearInterval(ping);
      unsubscribe();
      send('end', {});
      res.end();
    }
    req.raw.once('close', () => {
      clearInterval(ping);
      unsubscribe();
    });

    try {
      for (const id of ids) emitChunks(id, await ctx.store.readOutput(id, 0));
      for (const c of known) if (isFinal(c.status)) await emitFinal(c.id);
      // a command may have finished while we replayed
      for (const c of await ctx.store.getCommands(ids)) if (isFinal(c.status)) await emitFinal(c.id);
      replaying = false;
      for (const fn of buffered.splice(0)) await fn();
    } catch (err) {
      req.log.error({ err }, 'command stream failed');
      close();
    }
  });
}

// Server-Sent Events with the live output of commands (`output`), each command's final record
// (`final`), then `end`: GET /api/commands/stream?ids=a,b for named commands (with `statuses=all`,
// also a `status` event, the record, whenever one's status changes short of final), and
// GET /api/runs/:id/stream for every command of a run the caller sees (a run on thousands of
// agents: no list of ids in the URL). Stored output is replayed first (from `from`, when the
// client says where it was), so a client that reconnects misses nothing (it dedupes by offset).
// New output and ends are heard from the store's event feed (on any replica) and read from the
// store, output a megabyte at a time, final records a batch at a time, sent as fast as the client
// takes them: a slow client holds back the reads, not the control plane's memory.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { isFinal } from '../protocol/command-status.ts';
import { idParamsSchema, runStreamQuerySchema, streamQuerySchema } from '../protocol/schemas.ts';
import { charStart } from '../protocol/utf8.ts';
import type { CommandRecord, IdParams, OutputEvent, RunStreamQuery, StreamQuery } from '../protocol/wire.ts';
import { operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { inYourScope, visibleAgentIds, visibleCommands } from './scope.ts';

const PING_MS = 15_000;
/** Output is read from the store this much at a time. */
const READ_BYTES = 1024 * 1024;
/** Final records read from the store per query (and sent before the next is read). */
const FINALS_BATCH = 500;
const decoder = new TextDecoder('utf-8');

export function commandStreamRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Querystring: StreamQuery }>('/api/commands/stream', { ...operatorRoute('viewer'), schema: { querystring: streamQuerySchema } }, async (req, reply) => {
    const listed = req.query.ids.split(',').filter((s) => s.length > 0);
    const ids = [...new Set(listed)];
    const from = req.query.from?.split(',').map(Number) ?? [];
    await visibleCommands(ctx, req, ids); // every one of them the caller's to see, or none
    const next = new Map<string, number>(listed.flatMap((id, i) => (from[i] === undefined ? [] : [[id, from[i]!] as const])));
    streamCommands(ctx, req, reply, ids, next, { output: req.query.output !== 'none', statuses: req.query.statuses === 'all' }, async () => ids);
  });

  // A run's commands (those the caller sees): finals of those that ended already first, then as they end.
  app.get<{ Params: IdParams; Querystring: RunStreamQuery }>(
    '/api/runs/:id/stream', { ...operatorRoute('viewer'), schema: { params: idParamsSchema, querystring: runStreamQuerySchema } }, async (req, reply) => {
      const seen = await visibleAgentIds(ctx, req);
      const ok = seen && new Set(seen);
      const ofRun = async () => (await ctx.store.commandStatesOfRun(req.params.id)).filter((c) => !ok || ok.has(c.agent_id));
      const states = await ofRun();
      if (states.length === 0) throw new ApiError('RUN_NOT_FOUND', `no run with id ${req.params.id}${inYourScope(req)}`);
      // ended ones first: their finals go out at once, the rest as they end
      const ids = [...states.filter((c) => isFinal(c.status)), ...states.filter((c) => !isFinal(c.status))].map((c) => c.id);
      streamCommands(ctx, req, reply, ids, new Map(), { output: req.query.output !== 'none', statuses: req.query.statuses === 'all' }, async () => (await ofRun()).filter((c) => isFinal(c.status)).map((c) => c.id));
    },
  );
}

/**
 * Streams `ids` (all the caller's to see) on `reply`. `next`: where each command's output is taken
 * up. `finalNow`: which of them to read final records of when the stream (re)starts: all of them,
 * or those a cheap look says have ended.
 */
function streamCommands(
  ctx: ServerContext, req: FastifyRequest, reply: FastifyReply, ids: string[], next: Map<string, number>,
  { output: withOutput, statuses: withStatuses }: { output: boolean; statuses: boolean }, finalNow: () => Promise<string[]>,
): void {
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
  /**
   * Reads the records of `wanted` a batch at a time and hands each to `each`, until the stream
   * closes; a turn of the event loop between batches: a run's thousands of records never hold it long.
   */
  const eachRecord = async (wanted: string[], each: (c: CommandRecord) => Promise<void>) => {
    for (let i = 0; i < wanted.length && !closed; i += FINALS_BATCH) {
      if (i > 0) await new Promise<void>((r) => setImmediate(r));
      for (const command of await ctx.store.getCommands(wanted.slice(i, i + FINALS_BATCH))) {
        await each(command);
        if (closed) return;
      }
    }
  };
  /** A command's final record, once, after what it printed; the stream ends with the last. */
  const sendFinal = async (command: CommandRecord) => {
    if (finals.has(command.id)) return;
    await pullOutput(command.id);
    finals.add(command.id);
    await send('final', command);
    if (finals.size === ids.length) close();
  };
  /** The final records of those of `wanted` that ended. */
  const pullFinals = async (wanted: Iterable<string>) => {
    await eachRecord([...wanted].filter((id) => !finals.has(id)), async (c) => (isFinal(c.status) ? sendFinal(c) : undefined));
    if (finals.size === ids.length) close(); // nothing (more) to wait for
  };
  /** The statuses of `wanted` short of final that were not sent yet (those that ended go as their `final`). */
  const pullStatuses = (wanted: string[]) =>
    eachRecord(wanted.filter((id) => !finals.has(id)), async (c) => {
      if (isFinal(c.status)) return sendFinal(c);
      if (statusSent.get(c.id) === c.status) return;
      statusSent.set(c.id, c.status);
      await send('status', c);
    });
  const pullAll = async () => {
    if (withStatuses) await pullStatuses(ids);
    if (withOutput) for (const id of ids) await pullOutput(id);
    await pullFinals(await finalNow());
  };

  // one pending read per command: a burst of output events while the client is slow costs one read;
  // ends heard meanwhile are read together
  const queued = new Set<string>();
  const ended = new Set<string>();
  const unsubscribe = ctx.events.subscribe(
    ids,
    withOutput
      ? (id) => {
        if (queued.has(id)) return;
        queued.add(id);
        step(() => (queued.delete(id), pullOutput(id)));
      }
      : null,
    (id) => {
      if (ended.size === 0) {
        step(() => {
          const batch = [...ended];
          ended.clear();
          return pullFinals(batch);
        });
      }
      ended.add(id);
    },
    () => step(pullAll),
    withStatuses ? (id) => step(() => pullStatuses([id])) : undefined,
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
}

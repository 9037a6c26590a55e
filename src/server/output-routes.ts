// A command's output, paged: GET /api/commands/:id/output (by byte offsets as printed, the page
// before an offset, or its last lines; `wait` holds a follower's request until there is more) and
// GET /api/commands/:id/output/raw (the kept bytes of a stream, as a download, streamed from the
// store chunk by chunk). The pages themselves: output-pages.ts.

import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { isFinal } from '../protocol/command-status.ts';
import { ApiError } from '../protocol/errors.ts';
import { idParamsSchema, OUTPUT_PAGE_DEFAULT, OUTPUT_PAGE_MAX, OUTPUT_WAIT_MAX_SECONDS, outputQuerySchema, rawOutputQuerySchema } from '../protocol/schemas.ts';
import type { CommandRecord, IdParams, OutputPage, OutputQuery, RawOutputQuery, StreamName } from '../protocol/wire.ts';
import { operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { outputPage, type PageQuery } from './output-pages.ts';
import { visibleCommand } from './scope.ts';
import type { OutputState } from './store/output-store.ts';

/** The raw download reads the store this much at a time. */
const RAW_READ_BYTES = 1024 * 1024;

export function outputRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: IdParams; Querystring: OutputQuery }>(
    '/api/commands/:id/output', { ...operatorRoute('viewer'), schema: { params: idParamsSchema, querystring: outputQuerySchema } }, async (req, reply) => {
      await visibleCommand(ctx, req, req.params.id);
      const q = req.query;
      const modes = [q.tail !== undefined, q.offset !== undefined, q.before !== undefined].filter(Boolean).length;
      if (modes > 1 || (q.tail !== undefined && q.limit !== undefined)) throw new ApiError('BAD_REQUEST', 'ask for `tail`, for `offset`/`limit`, or for `before`/`limit`: one of them');
      const view = q.stream ?? 'all';
      const limit = Math.min(q.limit === undefined ? OUTPUT_PAGE_DEFAULT : Math.max(1, Number(q.limit)), OUTPUT_PAGE_MAX);
      const query: PageQuery = q.tail !== undefined ? { kind: 'tail', lines: Number(q.tail) }
        : q.before !== undefined ? { kind: 'before', before: Number(q.before), limit }
        : { kind: 'from', offset: Number(q.offset ?? 0), limit };
      const read = async () => {
        const { command, state } = await outputOf(ctx, req.params.id);
        return outputPage(ctx.store, command, state, view, query);
      };
      const wait = Math.min(Number(q.wait ?? 0), OUTPUT_WAIT_MAX_SECONDS);
      if (wait === 0 || query.kind !== 'from') return read();
      return waitForPage(ctx, req.params.id, read, wait * 1000, reply.raw);
    },
  );

  app.get<{ Params: IdParams; Querystring: RawOutputQuery }>(
    '/api/commands/:id/output/raw', { ...operatorRoute('viewer'), schema: { params: idParamsSchema, querystring: rawOutputQuerySchema } }, async (req, reply) => {
      await visibleCommand(ctx, req, req.params.id);
      const stream = req.query.stream ?? 'stdout';
      const { command, state } = await outputOf(ctx, req.params.id);
      const summary = state.dropped_at !== null || (isFinal(command.status) && state.bytes === 0);
      reply
        .type('text/plain; charset=utf-8')
        .header('content-disposition', `attachment; filename="${command.id}-${stream}.txt"`)
        .header('x-myx-total-bytes', String(isFinal(command.status) ? Math.max(command[`${stream}_bytes`], state[stream].end) : state[stream].seen))
        .header('x-myx-output-source', summary ? 'summary' : 'full');
      if (summary) return reply.send(Buffer.from(command[stream], 'utf8'));
      return reply.send(Readable.from(keptBytes(ctx, command.id, stream)));
    },
  );
}

async function outputOf(ctx: ServerContext, id: string): Promise<{ command: CommandRecord; state: OutputState }> {
  const [command] = await ctx.store.getCommands([id]);
  const state = command && (await ctx.store.outputState(id));
  if (!command || !state) throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${id}`);
  return { command, state };
}

/**
 * A follower's page: answered as soon as it has data or the command ended, else when the store
 * says the command printed more or ended (on any replica), at the latest after `ms`. Subscribed
 * before the first read, so nothing written in between is missed.
 */
async function waitForPage(ctx: ServerContext, id: string, read: () => Promise<OutputPage>, ms: number, res: NodeJS.EventEmitter): Promise<OutputPage> {
  let wake = () => {};
  const off = ctx.events.subscribe([id], () => wake(), () => wake(), () => wake());
  // 'close' of the response before it was sent: the client gave up
  const gone = new Promise<void>((r) => res.once('close', () => r()));
  const deadline = Date.now() + ms;
  try {
    for (;;) {
      const woken = new Promise<void>((r) => (wake = r));
      const page = await read();
      const left = deadline - Date.now();
      if (page.data.length > 0 || page.eof || page.source === 'summary' || left <= 0) return page;
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([woken.then(() => false), gone.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), left)))]);
      clearTimeout(timer);
      if (closed) return page;
    }
  } finally {
    off();
  }
}

/** The kept bytes of a stream, head then tail, read a megabyte at a time as the download is taken. */
async function* keptBytes(ctx: ServerContext, id: string, stream: StreamName): AsyncGenerator<Buffer> {
  for (let at = 0; ;) {
    const chunks = await ctx.store.readOutput(id, stream, at, RAW_READ_BYTES);
    if (chunks.length === 0) return;
    for (const c of chunks) {
      if (c.offset + c.data.length <= at) continue;
      const from = Math.max(0, at - c.offset);
      yield Buffer.from(c.data.buffer, c.data.byteOffset + from, c.data.length - from);
      at = c.offset + c.data.length;
    }
  }
}

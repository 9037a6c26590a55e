// A command's output, paged: GET /api/commands/:id/output (by byte offsets into its UTF-8 text, or
// its last lines) and GET /api/commands/:id/output/raw (the kept bytes, as a download). This is a
// minimal version of the contract (wire.ts OutputPage) on top of the stored live output (1 MiB of
// it is kept today); the complete-output store will replace what is behind it, not the contract.

import type { FastifyInstance } from 'fastify';
import { isFinal } from '../protocol/command-status.ts';
import { ApiError } from '../protocol/errors.ts';
import { idParamsSchema, OUTPUT_PAGE_DEFAULT, OUTPUT_PAGE_MAX, outputQuerySchema, rawOutputQuerySchema } from '../protocol/schemas.ts';
import type { CommandRecord, OutputPage, OutputStream } from '../protocol/wire.ts';
import { operatorRoute } from './auth.ts';
import type { ServerContext } from './context.ts';
import { visibleCommand } from './scope.ts';
import type { Store } from './store/store.ts';

interface OutputQuery {
  stream?: OutputStream;
  offset?: string;
  limit?: string;
  tail?: string;
}

export function outputRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: { id: string }; Querystring: OutputQuery }>(
    '/api/commands/:id/output', { ...operatorRoute('viewer'), schema: { params: idParamsSchema, querystring: outputQuerySchema } }, async (req) => {
      await visibleCommand(ctx, req, req.params.id);
      const q = req.query;
      if (q.tail !== undefined && (q.offset !== undefined || q.limit !== undefined)) throw new ApiError('BAD_REQUEST', 'ask for `tail` or for `offset`/`limit`, not both');
      const stream = q.stream ?? 'all';
      const { command, bytes, total } = await keptOutput(ctx.store, req.params.id, stream);
      let start: number;
      let end: number;
      if (q.tail !== undefined) {
        end = bytes.length;
        start = Math.max(tailStart(bytes, Number(q.tail)), charStart(bytes, end - OUTPUT_PAGE_MAX));
      } else {
        const limit = Math.min(q.limit === undefined ? OUTPUT_PAGE_DEFAULT : Math.max(1, Number(q.limit)), OUTPUT_PAGE_MAX);
        const offset = Number(q.offset ?? 0);
        if (offset >= bytes.length) {
          start = end = offset; // nothing there yet (a running command): ask again from here
        } else {
          start = charStart(bytes, offset);
          end = Math.min(bytes.length, start + limit);
          if (end < bytes.length) end = charStart(bytes, end);
          if (end <= start) end = charEnd(bytes, start);
        }
      }
      const body: OutputPage = {
        command_id: command.id, stream, offset: start, next_offset: end,
        total_bytes: total, kept: total > bytes.length ? { head_bytes: bytes.length, tail_bytes: 0 } : null,
        data: start < end ? bytes.subarray(start, end).toString('utf8') : '',
        eof: isFinal(command.status) && end >= bytes.length,
      };
      return body;
    },
  );

  app.get<{ Params: { id: string }; Querystring: { stream?: 'stdout' | 'stderr' } }>(
    '/api/commands/:id/output/raw', { ...operatorRoute('viewer'), schema: { params: idParamsSchema, querystring: rawOutputQuerySchema } }, async (req, reply) => {
      await visibleCommand(ctx, req, req.params.id);
      const stream = req.query.stream ?? 'stdout';
      const { command, bytes } = await keptOutput(ctx.store, req.params.id, stream);
      return reply
        .type('text/plain; charset=utf-8')
        .header('content-disposition', `attachment; filename="${command.id}-${stream}.txt"`)
        .send(bytes);
    },
  );
}

/** The kept bytes of one stream (or both, as printed), and how many the stream had in all. */
async function keptOutput(store: Store, id: string, stream: OutputStream): Promise<{ command: CommandRecord; bytes: Buffer; total: number }> {
  const [command] = await store.getCommands([id]);
  if (!command) throw new ApiError('COMMAND_NOT_FOUND', `no command with id ${id}`);
  const chunks = await store.readOutput(id, 0);
  let text: string;
  if (chunks.length > 0) {
    text = chunks.filter((c) => stream === 'all' || c.stream === stream).map((c) => c.data).join('');
  } else {
    // no live output was streamed (a result alone): what the result carries
    text = stream === 'stdout' ? command.stdout : stream === 'stderr' ? command.stderr : command.stdout + command.stderr;
  }
  const bytes = Buffer.from(text, 'utf8');
  const reported = stream === 'stdout' ? command.stdout_bytes : stream === 'stderr' ? command.stderr_bytes : command.stdout_bytes + command.stderr_bytes;
  return { command, bytes, total: Math.max(bytes.length, isFinal(command.status) ? reported : 0) };
}

/** `at`, or the start of the character it falls in. */
function charStart(bytes: Buffer, at: number): number {
  let i = Math.max(0, Math.min(at, bytes.length));
  while (i > 0 && i < bytes.length && (bytes[i]! & 0xc0) === 0x80) i--;
  return i;
}

/** The end of the character that starts at `at`. */
function charEnd(bytes: Buffer, at: number): number {
  let i = Math.min(at + 1, bytes.length);
  while (i < bytes.length && (bytes[i]! & 0xc0) === 0x80) i++;
  return i;
}

/** Where the last `lines` lines start (a newline that ends the text ends its last line). */
function tailStart(bytes: Buffer, lines: number): number {
  if (lines === 0) return bytes.length;
  let i = bytes.length - 1;
  if (bytes[i] === 0x0a) i--;
  for (; i >= 0; i--) {
    if (bytes[i] === 0x0a && --lines === 0) return i + 1;
  }
  return 0;
}

// Which chunks of live output an append keeps, the same for every backend: only the chunk that
// starts at the stored offset moves it on (a resend below or a gap above is ignored, the ack says
// where to resume), and text past the limit is counted without being kept, so the agent moves on.

import type { OutputChunk } from '../../protocol/wire.ts';

export function planAppend(offset: number, chunks: OutputChunk[], maxChars: number): { next: number; accepted: OutputChunk[] } {
  let next = offset;
  const accepted: OutputChunk[] = [];
  for (const c of chunks) {
    if (c.offset !== next) continue;
    if (next < maxChars) accepted.push({ offset: c.offset, stream: c.stream, data: c.data.slice(0, maxChars - next) });
    next += c.data.length;
  }
  return { next, accepted };
}

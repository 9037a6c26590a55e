// How many large request bodies one caller may have in progress at once. A route takes a slot
// before its body is read (after the caller is known), and gives it back when the response ends;
// a caller over its share gets 429 TOO_MANY_LARGE_REQUESTS with Retry-After, which clients treat
// as "retry later", so nothing is lost. Without this, one token could make the server buffer and
// parse as many maximum-size bodies as it can open connections.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../protocol/errors.ts';
import { LARGE_BODIES_IN_FLIGHT, LARGE_BODY_BYTES } from '../protocol/limits.ts';

export interface LargeBodiesOptions {
  /** Large bodies one caller may have in progress. @default LARGE_BODIES_IN_FLIGHT */
  perCaller?: number;
  /** Bodies above this many bytes, or of unknown length (chunked), are large. @default LARGE_BODY_BYTES */
  largeBytes?: number;
}

export class LargeBodies {
  readonly #max: number;
  readonly #large: number;
  readonly #inFlight = new Map<string, number>();

  constructor(opts: LargeBodiesOptions = {}) {
    this.#max = opts.perCaller ?? LARGE_BODIES_IN_FLIGHT;
    this.#large = opts.largeBytes ?? LARGE_BODY_BYTES;
  }

  /** Call before the body is read. Small bodies pass freely; a large one takes one of `caller`'s slots or is refused. */
  admit(caller: string, req: FastifyRequest, reply: FastifyReply): void {
    if (!this.#isLarge(req)) return;
    const held = this.#inFlight.get(caller) ?? 0;
    if (held >= this.#max) {
      void reply.header('retry-after', '1');
      throw new ApiError('TOO_MANY_LARGE_REQUESTS', `this caller already has ${held} large requests in progress, the most it may have; retry shortly`);
    }
    this.#inFlight.set(caller, held + 1);
    // 'close' comes once the response is sent or the connection is gone, whichever way the request ended
    reply.raw.once('close', () => {
      const left = (this.#inFlight.get(caller) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(caller, left);
      else this.#inFlight.delete(caller);
    });
  }

  /** Large bodies in progress for `caller` (for tests and status). */
  inFlight(caller: string): number {
    return this.#inFlight.get(caller) ?? 0;
  }

  #isLarge(req: FastifyRequest): boolean {
    const length = req.headers['content-length'];
    if (length === undefined) return req.headers['transfer-encoding'] !== undefined;
    return !(Number(length) <= this.#large);
  }
}

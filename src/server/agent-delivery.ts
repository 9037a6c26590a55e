// What the control plane hands an agent when it asks (heartbeat reply or long poll): its queued
// commands, claimed under a lease, and the ids it should cancel. Nothing is claimed for a
// connection that is already gone, and a hand-out whose response could not be written goes back
// to the queue at once: otherwise it would wait out a whole lease (a poll the agent gave up on).

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Delivery } from '../protocol/wire.ts';
import type { ServerContext } from './context.ts';
import { executeRequestOf } from './execute-request.ts';
import type { AgentRow } from './store/store.ts';

/** Commands handed out per answer; the rest come with the next one. */
const BATCH = 100;
/** A command for a web-mode agent goes by heartbeat once its push failed, or after this long unpushed. */
const PUSH_GRACE_MS = 10_000;

/** The connection a delivery would go out on. */
export class Receiver {
  readonly #req: FastifyRequest;
  readonly #reply: FastifyReply;
  #closed = false;
  /**
   * Told when the response is over (a long poll's wait ends on it). A plain callback, not an
   * AbortController: one is held per long poll (10,000 at a time), and an abort builds an
   * exception object with a stack trace, once per long poll ended.
   */
  #onGone: (() => void) | null = null;

  constructor(req: FastifyRequest, reply: FastifyReply) {
    this.#req = req;
    this.#reply = reply;
    // 'close' of the response: sent, or the connection went away first (the client gave up).
    // `on`, not `once` (which wraps the listener in one more bound function): a second 'close' finds nothing to do.
    reply.raw.on('close', () => {
      this.#closed = true;
      const fn = this.#onGone;
      this.#onGone = null;
      fn?.();
    });
  }

  /** `fn` is called once the response is over, sent or not (at once when it already is); null: no longer. One at a time. */
  onGone(fn: (() => void) | null): void {
    if (fn && this.#closed) fn();
    else this.#onGone = fn;
  }

  /** The client is still there to take an answer (as far as this side can tell). */
  get alive(): boolean {
    const socket = this.#req.raw.socket;
    return !this.#closed && !socket.destroyed && socket.writable;
  }

  /** `fn` runs if the response ends without having been written out whole. */
  ifUndelivered(fn: () => void): void {
    const res = this.#reply.raw;
    res.once('close', () => {
      if (!res.writableFinished) fn();
    });
  }
}

/**
 * `channel`: a long poll (poll mode) takes every queued command; a heartbeat takes them for a
 * poll-mode agent, and for a web-mode agent only as the fallback of pushes that did not happen.
 */
export async function deliveryFor(ctx: ServerContext, agent: AgentRow, channel: 'poll' | 'heartbeat', to: Receiver): Promise<Delivery> {
  // Timers (a poll's deadline, the sweeper waking the agent) run before pending I/O: after this
  // process was paused or busy, a close that already arrived is seen only once I/O has had its turn.
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (!to.alive) return { commands: [], cancel: [] };
  const now = Date.now();
  const fallbackOnly = channel === 'heartbeat' && agent.mode === 'web' && agent.push_state !== 'failing'
    ? { queuedBefore: new Date(now - PUSH_GRACE_MS).toISOString() }
    : undefined;
  const { claim, commands: claimed } = await ctx.store.claimForAgent(
    agent.id, new Date(now).toISOString(), new Date(now + ctx.options.leaseSeconds * 1000).toISOString(), BATCH, fallbackOnly,
  );
  if (claimed.length > 0) {
    const handBack = () => void giveBack(ctx, agent, claim, channel);
    if (!to.alive) {
      handBack();
      return { commands: [], cancel: [] };
    }
    to.ifUndelivered(handBack);
  }
  return { commands: claimed.map(executeRequestOf), cancel: await ctx.store.pendingCancels(agent.id) };
}

export function isEmpty(d: Delivery): boolean {
  return d.commands.length === 0 && d.cancel.length === 0;
}

async function giveBack(ctx: ServerContext, agent: AgentRow, claim: string, channel: string): Promise<void> {
  try {
    const n = await ctx.store.releaseHandOut(agent.id, claim);
    if (n === 0) return;
    ctx.log.info({ agent: agent.name, commands: n }, `the agent's ${channel} connection closed before its commands were handed out: queued again`);
  } catch (err) {
    // the lease still brings them back
    ctx.log.warn({ err, agent: agent.name }, 'could not queue an undelivered hand-out again; its lease will');
  }
}

// The audit entries of requests. A route that changes something declares its action
// (`config.audit`); its handler builds the entry with auditEntry() and hands it to the store write
// that makes the change, which appends it in the same transaction (Store: "Audited"). What no
// handler can hand over is appended here, on its own: a request refused after its operator was
// authenticated (its role, scope, input, or the action itself: the outcome is the error code), and,
// as a safety net that logs an error, a success whose handler built no entry. Failed
// authentications are recorded once per episode of an address (auditAuthFailures), not per request.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorCodeOf, plainAddress, type AuthFailureEpisode } from '../common/http-app.ts';
import type { AuditAction, AuditDraft } from '../protocol/audit.ts';
import { operatorOf } from './auth.ts';
import type { ServerContext } from './context.ts';
import { wasSealed } from './store/audit-chain.ts';

const drafts = new WeakMap<FastifyRequest, AuditDraft>();

export interface AuditWhat {
  targets: string[];
  details?: Record<string, unknown>;
  /** Who acted, when not the request's operator (an enrolling agent, an operator signing in). */
  actor?: Pick<AuditDraft, 'actor_kind' | 'actor' | 'actor_id'>;
}

/**
 * The entry of this request's action (its route's config.audit), by its operator, from its
 * address, now. The handler may still fill in `targets` and `details` until it hands it to the
 * store; if the request fails before the store wrote it, it is appended with the error code.
 */
export function auditEntry(req: FastifyRequest, what: AuditWhat): AuditDraft {
  const action = req.routeOptions.config.audit;
  if (!action) throw new Error(`${req.routeOptions.url} declares no audit action`);
  const op = operatorOf(req);
  const actor = what.actor ?? (op ? { actor_kind: 'operator' as const, actor: op.name, actor_id: op.id } : undefined);
  if (!actor) throw new Error(`${req.routeOptions.url}: an audit entry needs an actor`);
  const draft: AuditDraft = {
    at: new Date().toISOString(), ...actor, action, targets: what.targets, details: what.details ?? {}, source: plainAddress(req.ip), outcome: 'ok',
  };
  drafts.set(req, draft);
  return draft;
}

/** Appends the entries no store write could carry (see the file's header). Before the routes are added. */
export function auditRequests(app: FastifyInstance, ctx: ServerContext): void {
  app.addHook('onSend', async (req, reply, payload) => {
    const action = req.is404 ? undefined : req.routeOptions.config.audit;
    if (!action) return payload;
    const draft = drafts.get(req);
    const op = operatorOf(req);
    let entry: AuditDraft | undefined;
    if (reply.statusCode >= 400) {
      // not authenticated: counted per episode instead; taken effect already: its entry is there
      if (op && !(draft && wasSealed(draft))) entry = { ...(draft ?? generic(req, action)), outcome: errorCodeOf(req) ?? `HTTP_${reply.statusCode}` };
    } else if (!draft) {
      ctx.log.error({ route: req.routeOptions.url, action }, 'a route that changes something built no audit entry (a bug): it is recorded after the fact');
      entry = generic(req, action);
    }
    if (entry) {
      await ctx.store.appendAudit(entry).catch((err: unknown) => ctx.log.error({ err, action }, 'an audit entry could not be written'));
    }
    return payload;
  });
}

/** The entry of a request that got no further than its route: what it named in its path. */
function generic(req: FastifyRequest, action: AuditAction): AuditDraft {
  const op = operatorOf(req);
  return {
    at: new Date().toISOString(), actor_kind: op ? 'operator' : 'anonymous', actor: op?.name ?? plainAddress(req.ip) ?? 'unknown', actor_id: op?.id ?? null,
    action, targets: Object.values((req.params ?? {}) as Record<string, string>).map(String), details: { request: `${req.method} ${req.routeOptions.url}` },
    source: plainAddress(req.ip), outcome: 'ok',
  };
}

/** An address that failed to authenticate is one episode until it has been quiet this long. */
const EPISODE_QUIET_MS = 10 * 60_000;
/** Addresses remembered at most (the quietest are forgotten first). */
const EPISODE_ADDRESSES = 10_000;

/**
 * For createHttpApp's onAuthFailures: one entry when an address starts failing to authenticate,
 * one when it is blocked. The limiter starts over once an address's budget is whole again (20 s);
 * a slow trickle of failures (an agent with a stale token, every heartbeat) stays one episode until
 * the address has been quiet for EPISODE_QUIET_MS, so it is one entry, not one every 20 seconds.
 */
export function auditAuthFailures(ctx: ServerContext): (e: AuthFailureEpisode) => void {
  const lastStart = new Map<string, number>();
  return (e) => {
    const address = plainAddress(e.address) ?? e.address;
    if (e.phase === 'started') {
      const now = Date.now();
      const before = lastStart.get(address);
      lastStart.delete(address); // re-inserted last: the map's order is least recently seen first
      lastStart.set(address, now);
      if (lastStart.size > EPISODE_ADDRESSES) lastStart.delete(lastStart.keys().next().value!);
      if (before !== undefined && now - before < EPISODE_QUIET_MS) return;
    }
    const draft: AuditDraft = {
      at: new Date().toISOString(), actor_kind: 'anonymous', actor: address, actor_id: null, action: 'auth.failed',
      targets: e.route ? [e.route] : [],
      details: e.phase === 'started'
        ? { episode: 'started', request: `${e.method} ${e.route ?? '(no route)'}`, note: 'further failures from this address are not recorded one by one until it is quiet for 10 minutes' }
        : { episode: 'blocked', request: `${e.method} ${e.route ?? '(no route)'}`, note: 'out of its budget of failed authentications: answered 429 until it slows down' },
      source: address, outcome: e.phase === 'blocked' ? 'AUTH_RATE_LIMITED' : (e.code ?? 'UNAUTHENTICATED'),
    };
    ctx.store.appendAudit(draft).catch((err: unknown) => ctx.log.error({ err }, 'an audit entry could not be written'));
  };
}

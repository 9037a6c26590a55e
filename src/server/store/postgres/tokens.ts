// Console sessions, enrollment tokens and enrollment itself, for the PostgreSQL store
// (postgres-store.ts): which lock makes concurrent callers on any replicas take turns. Audit entries
// are appended last in each transaction (audit-sql.ts).

import type pg from 'pg';
import type { AuditDraft } from '../../../protocol/audit.ts';
import { toAgent } from '../rows.ts';
import type {
  CreateTokenOutcome, EnrollmentTokenRow, EnrollOutcome, NewAgent, NewEnrollmentToken, NewSession, RevokeTokenOutcome, SessionRow,
} from '../store.ts';
import * as agents from './agents-sql.ts';
import { withOutcome } from '../audit-chain.ts';
import { appendAudit } from './audit-sql.ts';
import { inTransaction } from './pool.ts';
import * as sessions from './sessions-sql.ts';
import * as tokens from './tokens-sql.ts';

export class PostgresTokens {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async createSession(session: NewSession, now: string, audit?: AuditDraft): Promise<void> {
    if (!audit) return sessions.insertSession(this.#pool, session, now);
    await inTransaction(this.#pool, async (db) => {
      await sessions.insertSession(db, session, now);
      await appendAudit(db, audit);
    });
  }

  async useSession(idHash: string, now: string, seenAfter: string): Promise<SessionRow | undefined> {
    return sessions.useSession(this.#pool, idHash, now, seenAfter);
  }

  async endSession(idHash: string, audit?: AuditDraft): Promise<boolean> {
    if (!audit) return sessions.deleteSession(this.#pool, idHash);
    return inTransaction(this.#pool, async (db) => {
      const ended = await sessions.deleteSession(db, idHash);
      if (ended) await appendAudit(db, audit);
      return ended;
    });
  }

  async deleteStaleSessions(now: string, seenBefore: string): Promise<number> {
    return sessions.deleteStaleSessions(this.#pool, now, seenBefore);
  }

  async createEnrollmentToken(token: NewEnrollmentToken, now: string, maxOutstanding: number, audit?: AuditDraft): Promise<CreateTokenOutcome> {
    // Creations take turns on an advisory lock: the count and the insert are one step.
    return inTransaction(this.#pool, async (db): Promise<CreateTokenOutcome> => {
      await tokens.lockEnrollmentCap(db);
      if ((await tokens.outstandingEnrollmentTokens(db, now)) >= maxOutstanding) return { ok: false, reason: 'too_many' };
      await tokens.insertEnrollmentToken(db, token, now);
      if (audit) await appendAudit(db, audit);
      return { ok: true };
    });
  }

  async listEnrollmentTokens(limit: number): Promise<EnrollmentTokenRow[]> {
    return tokens.listEnrollmentTokens(this.#pool, limit);
  }

  async revokeEnrollmentToken(id: string, now: string, audit?: AuditDraft): Promise<RevokeTokenOutcome> {
    // The token's row lock: an enrollment with it either used it before, or finds it revoked.
    return inTransaction(this.#pool, async (db): Promise<RevokeTokenOutcome> => {
      const before = await tokens.lockEnrollmentTokenById(db, id);
      if (!before) return { kind: 'not_found' };
      const kind = before.used_at !== null ? 'used' : before.revoked_at !== null ? 'already_revoked' : before.expires_at <= now ? 'expired' : 'revoked';
      // an expired token is revoked all the same: it says so, and it stays unusable whatever the clock does
      const token = kind === 'revoked' || kind === 'expired' ? (await tokens.revokeEnrollmentToken(db, id, now))! : before;
      if (audit) await appendAudit(db, withOutcome(audit, kind));
      return { kind, token };
    });
  }

  async enrollAgent(tokenHash: string, agent: NewAgent, now: string, audit?: AuditDraft): Promise<EnrollOutcome> {
    // The token's row lock makes enrollments with one token take turns; the name's unique index
    // (of agents not removed) decides between enrollments with one name (ON CONFLICT waits for the
    // other to commit).
    return inTransaction(this.#pool, async (db): Promise<EnrollOutcome> => {
      const token = await tokens.lockEnrollmentToken(db, tokenHash);
      if (!token) return { ok: false, reason: 'unknown' };
      if (token.used_at !== null) return { ok: false, reason: 'used' };
      if (token.revoked_at !== null) return { ok: false, reason: 'revoked' };
      if (token.expires_at <= now) return { ok: false, reason: 'expired' };
      const row = await agents.insertAgentUnlessNameTaken(db, agent, now);
      if (!row) return { ok: false, reason: 'name_taken' };
      await tokens.useEnrollmentToken(db, tokenHash, agent.id, now);
      if (audit) await appendAudit(db, audit);
      return { ok: true, agent: toAgent(row) };
    });
  }
}

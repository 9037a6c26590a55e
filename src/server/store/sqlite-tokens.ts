// Console sessions, enrollment tokens and enrollment itself, for the SQLite store (sqlite-store.ts):
// a token is used, revoked or counted against the cap in one step, with its audit entry.

import type { DatabaseSync } from 'node:sqlite';
import { transaction } from '../../common/sqlite.ts';
import type { AuditDraft } from '../../protocol/audit.ts';
import { agentParams, toAgent, type Row } from './rows.ts';
import { withOutcome } from './audit-chain.ts';
import { appendAuditIn } from './sqlite-operators.ts';
import type { Statements } from './sqlite-statements.ts';
import type {
  CreateTokenOutcome, EnrollmentTokenRow, EnrollOutcome, NewAgent, NewEnrollmentToken, NewSession, RevokeTokenOutcome, SessionRow,
} from './store.ts';

export class SqliteTokens {
  readonly #db: DatabaseSync;
  readonly #stmt: Statements;

  constructor(db: DatabaseSync, stmt: Statements) {
    this.#db = db;
    this.#stmt = stmt;
  }

  async createSession(session: NewSession, now: string, audit?: AuditDraft): Promise<void> {
    transaction(this.#db, () => {
      this.#stmt.addSession.run({ id_hash: session.idHash, operator_token_hash: session.operatorTokenHash, now, expires_at: session.expiresAt });
      if (audit) appendAuditIn(this.#stmt, audit);
    });
  }

  async useSession(idHash: string, now: string, seenAfter: string): Promise<SessionRow | undefined> {
    const row = this.#stmt.useSession.get({ id_hash: idHash, now, seen_after: seenAfter }) as SessionRow | undefined;
    return row ? { ...row } : undefined;
  }

  async endSession(idHash: string, audit?: AuditDraft): Promise<boolean> {
    return transaction(this.#db, () => {
      const ended = Number(this.#stmt.endSession.run(idHash).changes) > 0;
      if (ended && audit) appendAuditIn(this.#stmt, audit);
      return ended;
    });
  }

  async deleteStaleSessions(now: string, seenBefore: string): Promise<number> {
    return Number(this.#stmt.deleteStaleSessions.run(now, seenBefore).changes);
  }

  async createEnrollmentToken(token: NewEnrollmentToken, now: string, maxOutstanding: number, audit?: AuditDraft): Promise<CreateTokenOutcome> {
    return transaction(this.#db, (): CreateTokenOutcome => {
      const { n } = this.#stmt.outstandingEnrollments.get(now) as { n: number };
      if (n >= maxOutstanding) return { ok: false, reason: 'too_many' };
      this.#stmt.addEnrollment.run(token.id, token.tokenHash, now, token.expiresAt);
      if (audit) appendAuditIn(this.#stmt, audit);
      return { ok: true };
    });
  }

  async listEnrollmentTokens(limit: number): Promise<EnrollmentTokenRow[]> {
    return this.#stmt.listEnrollments.all(limit) as unknown as EnrollmentTokenRow[];
  }

  async revokeEnrollmentToken(id: string, now: string, audit?: AuditDraft): Promise<RevokeTokenOutcome> {
    return transaction(this.#db, (): RevokeTokenOutcome => {
      const before = this.#stmt.enrollmentById.get(id) as EnrollmentTokenRow | undefined;
      if (!before) return { kind: 'not_found' };
      const kind = before.used_at !== null ? 'used' : before.revoked_at !== null ? 'already_revoked' : before.expires_at <= now ? 'expired' : 'revoked';
      // an expired token is revoked all the same: it says so, and it stays unusable whatever the clock does
      if (kind === 'revoked' || kind === 'expired') this.#stmt.revokeEnrollment.run(now, id);
      if (audit) appendAuditIn(this.#stmt, withOutcome(audit, kind));
      return { kind, token: this.#stmt.enrollmentById.get(id) as unknown as EnrollmentTokenRow };
    });
  }

  async enrollAgent(tokenHash: string, agent: NewAgent, now: string, audit?: AuditDraft): Promise<EnrollOutcome> {
    return transaction(this.#db, (): EnrollOutcome => {
      const token = this.#stmt.enrollment.get(tokenHash) as { expires_at: string; used_at: string | null; revoked_at: string | null } | undefined;
      if (!token) return { ok: false, reason: 'unknown' };
      if (token.used_at !== null) return { ok: false, reason: 'used' };
      if (token.revoked_at !== null) return { ok: false, reason: 'revoked' };
      if (token.expires_at <= now) return { ok: false, reason: 'expired' };
      if (this.#stmt.agentByName.get(agent.name)) return { ok: false, reason: 'name_taken' };
      this.#stmt.useEnrollment.run(now, agent.id, tokenHash);
      this.#stmt.insertAgent.run({ ...agentParams(agent), id: agent.id, token_hash: agent.tokenHash, token: agent.token, now });
      if (audit) appendAuditIn(this.#stmt, audit);
      return { ok: true, agent: toAgent(this.#stmt.agentById.get(agent.id) as Row) };
    });
  }
}

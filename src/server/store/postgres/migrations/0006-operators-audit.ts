// Migration 0006-operators-audit (PostgreSQL). Applied once, in order; never edit one that has shipped.
export default `
-- SQLite's migration 0008, with the same meaning.
-- Named operators with a role and a scope (a label selector, JSON; '{}' is unscoped). Each operator
-- token belongs to one operator; the tokens a database had before all belong to the admin 'admin'.
CREATE TABLE operators (
  id text COLLATE "C" PRIMARY KEY,
  name text COLLATE "C" NOT NULL UNIQUE,
  role text COLLATE "C" NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  scope text COLLATE "C" NOT NULL DEFAULT '{}',
  created_at text COLLATE "C" NOT NULL,
  last_used_at text COLLATE "C"
);
INSERT INTO operators (id, name, role, scope, created_at)
  SELECT 'op_admin', 'admin', 'admin', '{}', MIN(created_at) FROM operator_tokens HAVING COUNT(*) > 0;
ALTER TABLE operator_tokens ADD COLUMN operator_id text COLLATE "C" REFERENCES operators(id) ON DELETE CASCADE;
UPDATE operator_tokens SET operator_id = 'op_admin';
CREATE INDEX operator_tokens_by_operator ON operator_tokens (operator_id);

-- Who asked for each run and command (an operator's name at the time); NULL for older ones.
ALTER TABLE runs ADD COLUMN requested_by text COLLATE "C";
ALTER TABLE commands ADD COLUMN requested_by text COLLATE "C";

-- The audit log, hash-chained (protocol/audit.ts). Replicas append concurrently: each append locks
-- the one row of audit_head (the chain's head, created by the first append) in its transaction,
-- so appends take turns, seq has no gaps and every entry links to the one committed before it.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY,
  at text COLLATE "C" NOT NULL,
  actor_kind text COLLATE "C" NOT NULL,
  actor text COLLATE "C" NOT NULL,
  actor_id text COLLATE "C",
  action text COLLATE "C" NOT NULL,
  targets text COLLATE "C" NOT NULL,
  details text COLLATE "C" NOT NULL,
  source text COLLATE "C",
  outcome text COLLATE "C" NOT NULL,
  prev_hash text COLLATE "C" NOT NULL,
  hash text COLLATE "C" NOT NULL
);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE TABLE audit_head (
  id integer PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text COLLATE "C" NOT NULL
);
`;

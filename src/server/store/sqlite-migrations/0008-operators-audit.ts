// Migration 0008-operators-audit. Applied once, in order; never edit one that has shipped.
export default `
-- Named operators with a role and a scope (a label selector, JSON; '{}' is unscoped). Each operator
-- token belongs to one operator; the tokens a data dir had before (the first start's, one per
-- replica) all belong to the admin named 'admin', so existing data dirs keep working.
CREATE TABLE operators (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  scope TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  last_used_at TEXT
);
INSERT INTO operators (id, name, role, scope, created_at)
  SELECT 'op_admin', 'admin', 'admin', '{}', MIN(created_at) FROM operator_tokens HAVING COUNT(*) > 0;
ALTER TABLE operator_tokens ADD COLUMN operator_id TEXT REFERENCES operators(id) ON DELETE CASCADE;
UPDATE operator_tokens SET operator_id = 'op_admin';
CREATE INDEX operator_tokens_by_operator ON operator_tokens (operator_id);

-- Who asked for each run and command (an operator's name at the time); NULL for older ones.
ALTER TABLE runs ADD COLUMN requested_by TEXT;
ALTER TABLE commands ADD COLUMN requested_by TEXT;

-- The audit log: each entry hash-chained to the one before (protocol/audit.ts). audit_head is the
-- chain's head (one row, written with every append, created by the first): appends take turns on it,
-- and it says where the chain ends, so deleting the last entries shows too.
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor_kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  actor_id TEXT,
  action TEXT NOT NULL,
  targets TEXT NOT NULL,
  details TEXT NOT NULL,
  source TEXT,
  outcome TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
);
`;

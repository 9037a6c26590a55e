// Migration 0004-removal-tokens. Applied once, in order; never edit one that has shipped.
export default `
-- Agents are removed softly: the row stays (its commands keep their history and agent name),
-- removed_at says when, and the name is free again for a new agent. Dropping the UNIQUE of name
-- takes a rebuild of the table (foreign keys are off meanwhile: see Migration.rebuildsTables).
CREATE TABLE agents_new (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  token TEXT NOT NULL,
  hostname TEXT NOT NULL,
  os TEXT NOT NULL,
  version TEXT NOT NULL,
  mode TEXT NOT NULL,
  web_port INTEGER,
  fingerprint TEXT,
  advertise_address TEXT,
  remote_address TEXT,
  labels TEXT NOT NULL DEFAULT '{}',
  enrolled_at TEXT NOT NULL,
  last_heartbeat_at TEXT,
  operator_labels TEXT NOT NULL DEFAULT '{}',
  removed_at TEXT
);
INSERT INTO agents_new (id, name, token_hash, token, hostname, os, version, mode, web_port, fingerprint, advertise_address,
  remote_address, labels, enrolled_at, last_heartbeat_at, operator_labels)
  SELECT id, name, token_hash, token, hostname, os, version, mode, web_port, fingerprint, advertise_address,
  remote_address, labels, enrolled_at, last_heartbeat_at, operator_labels FROM agents;
DROP TABLE agents;
ALTER TABLE agents_new RENAME TO agents;
CREATE UNIQUE INDEX agents_active_name ON agents (name) WHERE removed_at IS NULL;

-- Enrollment tokens get an id (to list and revoke them by) and can be revoked.
ALTER TABLE enrollment_tokens ADD COLUMN id TEXT;
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at TEXT;
UPDATE enrollment_tokens SET id = 'enr_' || substr(token_hash, 1, 24);
CREATE UNIQUE INDEX enrollment_tokens_by_id ON enrollment_tokens (id);
CREATE INDEX enrollment_tokens_outstanding ON enrollment_tokens (expires_at) WHERE used_at IS NULL AND revoked_at IS NULL;
CREATE INDEX enrollment_tokens_by_created ON enrollment_tokens (created_at);
`;

// Migration 0002-removal-tokens (PostgreSQL). Applied once, in order; never edit one that has shipped.
export default `
-- SQLite's migration 0004, with the same meaning.
-- Agents are removed softly: the row stays (its commands keep their history and agent name),
-- removed_at says when, and the name is free again for a new agent.
ALTER TABLE agents ADD COLUMN removed_at text COLLATE "C";
ALTER TABLE agents DROP CONSTRAINT agents_name_key;
CREATE UNIQUE INDEX agents_active_name ON agents (name) WHERE removed_at IS NULL;

-- Enrollment tokens get an id (to list and revoke them by) and can be revoked.
ALTER TABLE enrollment_tokens ADD COLUMN id text COLLATE "C";
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at text COLLATE "C";
UPDATE enrollment_tokens SET id = 'enr_' || substr(token_hash, 1, 24);
ALTER TABLE enrollment_tokens ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX enrollment_tokens_by_id ON enrollment_tokens (id);
CREATE INDEX enrollment_tokens_outstanding ON enrollment_tokens (expires_at) WHERE used_at IS NULL AND revoked_at IS NULL;
CREATE INDEX enrollment_tokens_by_created ON enrollment_tokens (created_at);
`;

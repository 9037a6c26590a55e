// Migration 0007-replicas. Applied once, in order; never edit one that has shipped.
export default `
-- Push health lives with the agent (every replica sees it, and it survives a restart): the last
-- outcome, the failures in a row and when the last one was.
ALTER TABLE agents ADD COLUMN push_state TEXT;
ALTER TABLE agents ADD COLUMN push_error TEXT;
ALTER TABLE agents ADD COLUMN push_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN push_failed_at TEXT;

-- The claim a push holds: a failed push gives back its own claim, never a later one.
ALTER TABLE commands ADD COLUMN push_claim TEXT;
-- Queued commands oldest first, for the sweeper's pushes of what no replica pushed.
CREATE INDEX commands_queued_by_created ON commands (created_at) WHERE status = 'queued';

-- The control-plane replicas alive (rows expire), and the certificate all of them present.
CREATE TABLE replicas (
  id TEXT PRIMARY KEY,
  public_url TEXT NOT NULL,
  version TEXT NOT NULL,
  started_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  sweeper INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE cluster_identity (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  fingerprint TEXT NOT NULL,
  recorded_at TEXT NOT NULL
);
`;

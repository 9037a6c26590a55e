// Migration 0005-replicas (PostgreSQL). Applied once, in order; never edit one that has shipped.
export default `
-- SQLite's migration 0007, with the same meaning.
-- Push health lives with the agent (every replica sees it, and it survives a restart): the last
-- outcome, the failures in a row and when the last one was.
ALTER TABLE agents ADD COLUMN push_state text COLLATE "C";
ALTER TABLE agents ADD COLUMN push_error bytea;
ALTER TABLE agents ADD COLUMN push_failures integer NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN push_failed_at text COLLATE "C";

-- The claim a push holds: a failed push gives back its own claim, never a later one.
ALTER TABLE commands ADD COLUMN push_claim text COLLATE "C";
-- Queued commands oldest first, for the sweeper's pushes of what no replica pushed.
CREATE INDEX commands_queued_by_created ON commands (created_at, seq) WHERE status = 'queued';

-- The control-plane replicas alive (rows expire), and the certificate all of them present.
CREATE TABLE replicas (
  id text COLLATE "C" PRIMARY KEY,
  public_url text COLLATE "C" NOT NULL,
  version text COLLATE "C" NOT NULL,
  started_at text COLLATE "C" NOT NULL,
  last_seen_at text COLLATE "C" NOT NULL,
  sweeper boolean NOT NULL DEFAULT false
);
CREATE TABLE cluster_identity (
  id integer PRIMARY KEY CHECK (id = 1),
  fingerprint text COLLATE "C" NOT NULL,
  recorded_at text COLLATE "C" NOT NULL
);
`;

// Migration 0002-delivery. Applied once, in order; never edit one that has shipped.
export default `
-- Poll delivery under leases, delivery TTL, cancel requests, and live output chunks.
ALTER TABLE commands ADD COLUMN expires_at TEXT;
ALTER TABLE commands ADD COLUMN lease_expires_at TEXT;
ALTER TABLE commands ADD COLUMN cancel_requested_at TEXT;
ALTER TABLE commands ADD COLUMN output_offset INTEGER NOT NULL DEFAULT 0;

CREATE TABLE command_output (
  command_id TEXT NOT NULL REFERENCES commands(id) ON DELETE CASCADE,
  "offset" INTEGER NOT NULL,
  stream TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (command_id, "offset")
);

CREATE INDEX commands_by_lease ON commands (lease_expires_at) WHERE status = 'dispatched';
CREATE INDEX commands_by_expiry ON commands (expires_at) WHERE status = 'queued';
`;

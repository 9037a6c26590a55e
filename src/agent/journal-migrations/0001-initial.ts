// Migration 0001-initial. Applied once, in order; never edit one that has shipped.
export default `
-- The agent's durable journal: every command id it accepted, its final result, and whether the
-- control plane has acknowledged that result (the spool).
CREATE TABLE commands (
  id TEXT PRIMARY KEY,
  request TEXT NOT NULL,
  state TEXT NOT NULL,
  accepted_at TEXT NOT NULL,
  started_at TEXT,
  result TEXT,
  finished_at TEXT,
  reported_at TEXT
);
CREATE INDEX commands_unreported ON commands (finished_at) WHERE reported_at IS NULL AND result IS NOT NULL;
`;

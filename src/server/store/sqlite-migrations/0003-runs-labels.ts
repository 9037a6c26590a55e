// Migration 0003-runs-labels. Applied once, in order; never edit one that has shipped.
export default `
-- Runs (the commands of one myx run, with their rate control) and labels set by operators.
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  command TEXT NOT NULL,
  args TEXT NOT NULL,
  target TEXT NOT NULL,
  max_concurrency INTEGER,
  max_errors INTEGER,
  created_at TEXT NOT NULL
);

ALTER TABLE commands ADD COLUMN run_id TEXT REFERENCES runs(id) ON DELETE CASCADE;
CREATE INDEX commands_by_run ON commands (run_id, status);

ALTER TABLE agents ADD COLUMN operator_labels TEXT NOT NULL DEFAULT '{}';
`;

// Migration 0003-write-probe. Applied once, in order; never edit one that has shipped.
export default `
-- One row rewritten now and then while the journal is not writable (disk full, read-only), to
-- notice as soon as it is again.
CREATE TABLE write_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  written_at TEXT NOT NULL
);
`;

// Migration 0001-initial. Applied once, in order; never edit one that has shipped.
export default `
-- The first schema: tokens, agents and the command queue.
CREATE TABLE operator_tokens (
  token_hash TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE enrollment_tokens (
  token_hash TEXT PRIMARY KEY,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT,
  used_by_agent TEXT
);

CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
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
  last_heartbeat_at TEXT
);

CREATE TABLE commands (
  id TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  command TEXT NOT NULL,
  args TEXT NOT NULL,
  timeout INTEGER NOT NULL,
  env TEXT,
  cwd TEXT,
  status TEXT NOT NULL,
  delivery TEXT,
  exit_code INTEGER,
  signal TEXT,
  stdout TEXT NOT NULL DEFAULT '',
  stderr TEXT NOT NULL DEFAULT '',
  stdout_bytes INTEGER NOT NULL DEFAULT 0,
  stderr_bytes INTEGER NOT NULL DEFAULT 0,
  stdout_truncated INTEGER NOT NULL DEFAULT 0,
  stderr_truncated INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  last_push_error TEXT,
  created_at TEXT NOT NULL,
  dispatched_at TEXT,
  started_at TEXT,
  finished_at TEXT
);

CREATE INDEX commands_by_agent_status ON commands (agent_id, status);
CREATE INDEX commands_by_created ON commands (created_at);
`;

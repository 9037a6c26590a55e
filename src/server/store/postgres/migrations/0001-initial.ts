// Migration 0001-initial (PostgreSQL). Applied once, in order; never edit one that has shipped.
export default `
-- The schema of SQLite's migrations 0001-0003, with the same meaning:
-- * Times are text as Date.toISOString() writes them, compared byte-wise as SQLite does, so both
--   backends order and compare them the same way. Every text column is COLLATE "C" for that reason.
-- * Text that may hold NUL (agent-reported facts, output, errors) is bytea: PostgreSQL text cannot
--   hold NUL, SQLite's can. The store converts at the boundary (UTF-8).
-- * commands.seq keeps insertion order (SQLite's rowid) as the tie-break for equal times.
CREATE TABLE operator_tokens (
  token_hash text COLLATE "C" PRIMARY KEY,
  name text COLLATE "C" NOT NULL,
  created_at text COLLATE "C" NOT NULL
);

CREATE TABLE enrollment_tokens (
  token_hash text COLLATE "C" PRIMARY KEY,
  created_at text COLLATE "C" NOT NULL,
  expires_at text COLLATE "C" NOT NULL,
  used_at text COLLATE "C",
  used_by_agent text COLLATE "C"
);

CREATE TABLE agents (
  id text COLLATE "C" PRIMARY KEY,
  name text COLLATE "C" NOT NULL UNIQUE,
  token_hash text COLLATE "C" NOT NULL UNIQUE,
  token text COLLATE "C" NOT NULL,
  hostname bytea NOT NULL,
  os bytea NOT NULL,
  version bytea NOT NULL,
  mode text COLLATE "C" NOT NULL,
  web_port integer,
  fingerprint bytea,
  advertise_address text COLLATE "C",
  remote_address text COLLATE "C",
  labels text COLLATE "C" NOT NULL DEFAULT '{}',
  operator_labels text COLLATE "C" NOT NULL DEFAULT '{}',
  enrolled_at text COLLATE "C" NOT NULL,
  last_heartbeat_at text COLLATE "C"
);

CREATE TABLE runs (
  id text COLLATE "C" PRIMARY KEY,
  command text COLLATE "C" NOT NULL,
  args text COLLATE "C" NOT NULL,
  target bytea NOT NULL,
  max_concurrency integer,
  max_errors integer,
  created_at text COLLATE "C" NOT NULL
);

CREATE TABLE commands (
  id text COLLATE "C" PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  run_id text COLLATE "C" REFERENCES runs(id) ON DELETE CASCADE,
  agent_id text COLLATE "C" NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  command text COLLATE "C" NOT NULL,
  args text COLLATE "C" NOT NULL,
  timeout integer NOT NULL,
  env text COLLATE "C",
  cwd text COLLATE "C",
  status text COLLATE "C" NOT NULL,
  delivery text COLLATE "C",
  exit_code integer,
  signal bytea,
  stdout bytea NOT NULL DEFAULT ''::bytea,
  stderr bytea NOT NULL DEFAULT ''::bytea,
  stdout_bytes bigint NOT NULL DEFAULT 0,
  stderr_bytes bigint NOT NULL DEFAULT 0,
  stdout_truncated boolean NOT NULL DEFAULT false,
  stderr_truncated boolean NOT NULL DEFAULT false,
  error bytea,
  last_push_error bytea,
  created_at text COLLATE "C" NOT NULL,
  expires_at text COLLATE "C",
  dispatched_at text COLLATE "C",
  lease_expires_at text COLLATE "C",
  cancel_requested_at text COLLATE "C",
  started_at text COLLATE "C",
  finished_at text COLLATE "C",
  output_offset bigint NOT NULL DEFAULT 0
);

CREATE INDEX commands_by_agent_status ON commands (agent_id, status);
CREATE INDEX commands_claimable ON commands (agent_id, created_at, seq) WHERE status = 'queued';
CREATE INDEX commands_by_created ON commands (created_at);
CREATE INDEX commands_by_run ON commands (run_id, status);
CREATE INDEX commands_by_lease ON commands (lease_expires_at) WHERE status = 'dispatched';
CREATE INDEX commands_by_expiry ON commands (expires_at) WHERE status = 'queued';
CREATE INDEX commands_cancel_pending ON commands (agent_id) WHERE cancel_requested_at IS NOT NULL AND status IN ('dispatched', 'running');

CREATE TABLE command_output (
  command_id text COLLATE "C" NOT NULL REFERENCES commands(id) ON DELETE CASCADE,
  "offset" bigint NOT NULL,
  stream text COLLATE "C" NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (command_id, "offset")
);
`;

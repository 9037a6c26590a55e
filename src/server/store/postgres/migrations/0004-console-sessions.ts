// Migration 0004-console-sessions (PostgreSQL). Applied once, in order; never edit one that has shipped.
export default `
-- SQLite's migration 0005, with the same meaning.
-- Web console sessions: an operator signs in with an operator token once and gets a session cookie.
-- Only the SHA-256 of the session id is kept (a copy of the database opens no session); the
-- operator token it was made with is named by its hash, so a token that is removed ends its sessions.
-- expires_at is the absolute end; last_seen_at with the idle limit gives the other end.
CREATE TABLE console_sessions (
  id_hash text COLLATE "C" PRIMARY KEY,
  operator_token_hash text COLLATE "C" NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  last_seen_at text COLLATE "C" NOT NULL,
  expires_at text COLLATE "C" NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
`;

// Migration 0007-complete-output (PostgreSQL). Applied once, in order; never edit one that has shipped.
export default `
-- SQLite's migration 0009, with the same meaning.
-- Complete output: each stream kept as bytes by their offset in it, up to the control plane's cap
-- (its first output_head_limit bytes, then its last output_tail_limit bytes), in chunks.
-- Per stream: head = bytes kept from the start; tail_from = where the kept tail starts (NULL: no
-- tail); end = where the kept bytes end; seen = bytes the agent said the stream had.
ALTER TABLE commands ADD COLUMN output_head_limit bigint;
ALTER TABLE commands ADD COLUMN output_tail_limit bigint;
ALTER TABLE commands ADD COLUMN stdout_head bigint NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stdout_tail_from bigint;
ALTER TABLE commands ADD COLUMN stdout_end bigint NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stdout_seen bigint NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stderr_head bigint NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stderr_tail_from bigint;
ALTER TABLE commands ADD COLUMN stderr_end bigint NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stderr_seen bigint NOT NULL DEFAULT 0;
-- Bytes in output_chunks (retention counts them), and when retention dropped them.
ALTER TABLE commands ADD COLUMN output_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN output_dropped_at text COLLATE "C";

-- "offset": where the chunk starts in its stream; at: where in the command's output as printed.
CREATE TABLE output_chunks (
  command_id text COLLATE "C" NOT NULL REFERENCES commands(id) ON DELETE CASCADE,
  stream text COLLATE "C" NOT NULL,
  "offset" bigint NOT NULL,
  at bigint NOT NULL,
  size integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (command_id, stream, "offset")
);
CREATE INDEX output_chunks_by_at ON output_chunks (command_id, at);
-- Retention: finished commands that still keep output, oldest first.
CREATE INDEX commands_with_output ON commands (finished_at, id) WHERE output_bytes > 0;

-- The live output kept so far (text by character offsets in both streams) becomes bytes.
INSERT INTO output_chunks (command_id, stream, "offset", at, size, data)
SELECT command_id, stream,
  SUM(octet_length(data)) OVER (PARTITION BY command_id, stream ORDER BY "offset") - octet_length(data),
  SUM(octet_length(data)) OVER (PARTITION BY command_id ORDER BY "offset") - octet_length(data),
  octet_length(data), data
FROM command_output WHERE octet_length(data) > 0;
UPDATE commands c SET
  stdout_head = s.stdout, stdout_end = s.stdout, stderr_head = s.stderr, stderr_end = s.stderr, output_bytes = s.stdout + s.stderr
FROM (
  SELECT command_id, COALESCE(SUM(size) FILTER (WHERE stream = 'stdout'), 0) AS stdout, COALESCE(SUM(size) FILTER (WHERE stream = 'stderr'), 0) AS stderr
  FROM output_chunks GROUP BY command_id
) s WHERE s.command_id = c.id;
DROP TABLE command_output;
`;

// Migration 0009-complete-output. Applied once, in order; never edit one that has shipped.
export default `
-- Complete output: each stream kept as bytes by their offset in it, up to the control plane's cap
-- (its first output_head_limit bytes, then its last output_tail_limit bytes), in chunks.
-- Per stream: head = bytes kept from the start; tail_from = where the kept tail starts (NULL: no
-- tail); end = where the kept bytes end; seen = bytes the agent said the stream had.
ALTER TABLE commands ADD COLUMN output_head_limit INTEGER;
ALTER TABLE commands ADD COLUMN output_tail_limit INTEGER;
ALTER TABLE commands ADD COLUMN stdout_head INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stdout_tail_from INTEGER;
ALTER TABLE commands ADD COLUMN stdout_end INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stdout_seen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stderr_head INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stderr_tail_from INTEGER;
ALTER TABLE commands ADD COLUMN stderr_end INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN stderr_seen INTEGER NOT NULL DEFAULT 0;
-- Bytes in output_chunks (retention counts them), and when retention dropped them.
ALTER TABLE commands ADD COLUMN output_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN output_dropped_at TEXT;

-- "offset": where the chunk starts in its stream; at: where in the command's output as printed.
CREATE TABLE output_chunks (
  command_id TEXT NOT NULL REFERENCES commands(id) ON DELETE CASCADE,
  stream TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  at INTEGER NOT NULL,
  size INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (command_id, stream, "offset")
);
CREATE INDEX output_chunks_by_at ON output_chunks (command_id, at);
-- Retention: finished commands that still keep output, oldest first.
CREATE INDEX commands_with_output ON commands (finished_at, id) WHERE output_bytes > 0;

-- The live output kept so far (text by character offsets in both streams) becomes bytes.
INSERT INTO output_chunks (command_id, stream, "offset", at, size, data)
SELECT command_id, stream,
  SUM(length(CAST(data AS BLOB))) OVER (PARTITION BY command_id, stream ORDER BY "offset") - length(CAST(data AS BLOB)),
  SUM(length(CAST(data AS BLOB))) OVER (PARTITION BY command_id ORDER BY "offset") - length(CAST(data AS BLOB)),
  length(CAST(data AS BLOB)), CAST(data AS BLOB)
FROM command_output WHERE length(data) > 0;
UPDATE commands SET
  stdout_head = (SELECT COALESCE(SUM(size), 0) FROM output_chunks o WHERE o.command_id = commands.id AND o.stream = 'stdout'),
  stdout_end = (SELECT COALESCE(SUM(size), 0) FROM output_chunks o WHERE o.command_id = commands.id AND o.stream = 'stdout'),
  stderr_head = (SELECT COALESCE(SUM(size), 0) FROM output_chunks o WHERE o.command_id = commands.id AND o.stream = 'stderr'),
  stderr_end = (SELECT COALESCE(SUM(size), 0) FROM output_chunks o WHERE o.command_id = commands.id AND o.stream = 'stderr'),
  output_bytes = (SELECT COALESCE(SUM(size), 0) FROM output_chunks o WHERE o.command_id = commands.id)
WHERE id IN (SELECT command_id FROM output_chunks);
DROP TABLE command_output;
`;

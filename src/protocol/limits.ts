// How much output an agent sends, and from that, the largest request bodies the control plane and
// the agent's web service need to accept: limits computed from the data, not guessed, so that a
// holder of an agent token cannot make either side parse more than a real agent could send.

/** Output bytes an agent keeps per stream of a command: the first half and the last half. */
export const OUTPUT_LIMIT_BYTES = 1024 * 1024;
/**
 * What the agent puts between head and tail of a capped stream (`\n[... N bytes omitted ...]\n`,
 * 42 characters at most for a 16-digit N).
 */
export const OMITTED_MARKER_MAX = 64;
/**
 * Characters of a result's `stdout` or `stderr`. Decoding UTF-8 never yields more UTF-16 code units
 * than it read bytes (a 4-byte sequence is 2 units, an invalid byte 1), so the kept bytes bound it.
 */
export const OUTPUT_FIELD_MAX = OUTPUT_LIMIT_BYTES + OMITTED_MARKER_MAX;
/** A result's `error` text. */
export const ERROR_TEXT_MAX = 4096;
/** Characters of text output (`chunks`) an agent from before complete output sends per command; a text chunk holds this many at most. */
export const LIVE_OUTPUT_LIMIT = 1024 * 1024;
/** Chunks (or pieces) in one progress request; an agent sends more in the next one. */
export const PROGRESS_CHUNKS_MAX = 1000;

/** The control plane keeps this many bytes of each stream of a command unless told otherwise (`myx server --output-cap`). */
export const OUTPUT_CAP_DEFAULT = 64 * 1024 * 1024;
/** The smallest --output-cap. */
export const OUTPUT_CAP_MIN = 64 * 1024;
/** Past the cap, a stream's last bytes are kept: this many at most (and half the cap at most); the rest of the cap is its head. */
export const OUTPUT_TAIL_MAX = 1024 * 1024;
/** Bytes of one piece of output an agent sends (`pieces`), and of one stored chunk. */
export const OUTPUT_PIECE_MAX = 256 * 1024;
/** Bytes of output (before base64) a current agent puts in one progress request. */
export const PROGRESS_BATCH_BYTES = 1024 * 1024;

/** What the control plane keeps of each stream under a cap: the head, and past it the tail. */
export function outputKeep(capBytes: number): { head_bytes: number; tail_bytes: number } {
  const tail = Math.min(OUTPUT_TAIL_MAX, Math.floor(capBytes / 2));
  return { head_bytes: capBytes - tail, tail_bytes: tail };
}

/** Characters of base64 that carry `bytes` bytes. */
export const base64Length = (bytes: number): number => 4 * Math.ceil(bytes / 3);

/**
 * JSON bytes one UTF-16 code unit of a string can take: a control character or a lone surrogate
 * is written `\u001b` (6 bytes); everything else takes 4 bytes or fewer.
 */
const JSON_BYTES_PER_UNIT = 6;
/** Keys, numbers, timestamps, booleans and punctuation of a body, generously. */
const ENVELOPE = 4096;
/** One chunk's keys, offset and stream name. */
const CHUNK_ENVELOPE = 64;

/** The largest body of a result (POST .../commands/:id/result on both services). */
export const RESULT_BODY_LIMIT = JSON_BYTES_PER_UNIT * (2 * OUTPUT_FIELD_MAX + ERROR_TEXT_MAX + 32) + ENVELOPE;
/** One piece's keys, offsets, stream name and flag. */
const PIECE_ENVELOPE = 128;

/**
 * The largest body of a progress report (POST /api/agents/commands/:id/progress): the text chunks
 * of an older agent, or a current agent's batch of pieces (base64, in pieces of OUTPUT_PIECE_MAX at
 * most, so a batch may end with one piece that goes past PROGRESS_BATCH_BYTES).
 */
export const PROGRESS_BODY_LIMIT = JSON_BYTES_PER_UNIT * LIVE_OUTPUT_LIMIT + PROGRESS_CHUNKS_MAX * CHUNK_ENVELOPE
  + base64Length(PROGRESS_BATCH_BYTES + OUTPUT_PIECE_MAX) + PROGRESS_CHUNKS_MAX * PIECE_ENVELOPE + ENVELOPE;

/**
 * The largest registration or heartbeat: an agent's facts (schemas.ts: names and host 255
 * characters at most, 64 labels of 63 + 255) and the enrollment token (512).
 */
export const AGENT_FACTS_BODY_LIMIT = JSON_BYTES_PER_UNIT * (64 * (63 + 255) + 3 * 255 + 64 + 128 + 63 + 512) + ENVELOPE;

/**
 * A body above this many bytes (or of unknown length) is "large": a caller may have only
 * LARGE_BODIES_IN_FLIGHT of those being received at once; more get 429 TOO_MANY_LARGE_REQUESTS.
 */
export const LARGE_BODY_BYTES = 256 * 1024;
export const LARGE_BODIES_IN_FLIGHT = 2;

// Where UTF-8 text may be cut: output is kept as bytes, and pages, pieces and events must not cut a
// character in two (a cut in the middle of one would show as two U+FFFD). Bytes that are not UTF-8
// (binary output) may be cut anywhere: they decode to U+FFFD wherever they are.

/** Bytes of the sequence a lead byte starts, or 0 when it starts none (ASCII is 1). */
function sequenceLength(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/** Whether `b` may follow the lead byte `lead` as its second byte (UTF-8 excludes overlongs, surrogates and past U+10FFFF). */
function validSecond(lead: number, b: number): boolean {
  if (lead === 0xe0) return b >= 0xa0 && b <= 0xbf;
  if (lead === 0xed) return b >= 0x80 && b <= 0x9f;
  if (lead === 0xf0) return b >= 0x90 && b <= 0xbf;
  if (lead === 0xf4) return b >= 0x80 && b <= 0x8f;
  return b >= 0x80 && b <= 0xbf;
}

const isContinuation = (b: number) => (b & 0xc0) === 0x80;

/**
 * Where the complete part of `bytes` ends: before a character whose first bytes end it and whose
 * rest has not come yet, else its length. Cutting there never changes how the whole decodes.
 */
export function completeEnd(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let k = 1; k <= 3 && k <= n; k++) {
    const b = bytes[n - k]!;
    if (isContinuation(b)) continue;
    const need = sequenceLength(b);
    if (need <= k) return n; // ASCII, a complete character, or no lead at all
    if (k >= 2 && !validSecond(b, bytes[n - k + 1]!)) return n;
    return n - k;
  }
  return n;
}

/** `at`, or the start of the character `at` falls inside (within `bytes`). */
export function charStart(bytes: Uint8Array, at: number): number {
  if (at <= 0 || at >= bytes.length || !isContinuation(bytes[at]!)) return Math.max(0, Math.min(at, bytes.length));
  for (let j = at - 1; j >= 0 && j >= at - 3; j--) {
    const b = bytes[j]!;
    if (isContinuation(b)) continue;
    const need = sequenceLength(b);
    return need > at - j && (at - j < 2 || validSecond(b, bytes[j + 1]!)) ? j : at;
  }
  return at;
}

/** The end of the character that starts at `at` (at least `at + 1`, at most the length). */
export function charEnd(bytes: Uint8Array, at: number): number {
  let i = Math.min(at + 1, bytes.length);
  while (i < bytes.length && i < at + 4 && isContinuation(bytes[i]!) && charStart(bytes, i) === at) i++;
  return i;
}

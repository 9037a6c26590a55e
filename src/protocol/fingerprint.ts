// Certificate fingerprints as users see them: SHA-256, upper-case hex pairs joined by colons
// (the form `openssl x509 -fingerprint -sha256` and Node's `fingerprint256` print).

const HEX64 = /^[0-9a-f]{64}$/;

/** Accepts `AB:CD:...`, `abcd...` or `sha256:...`; returns the canonical form or undefined. */
export function normalizeFingerprint(input: string): string | undefined {
  const hex = input.trim().toLowerCase().replace(/^sha256:/, '').replaceAll(':', '');
  if (!HEX64.test(hex)) return undefined;
  return hex.toUpperCase().match(/../g)!.join(':');
}

/** Compact form (64 hex digits, lower case) used inside enrollment tokens. */
export function compactFingerprint(canonical: string): string {
  return canonical.replaceAll(':', '').toLowerCase();
}

export function sameFingerprint(a: string, b: string): boolean {
  const na = normalizeFingerprint(a);
  return na !== undefined && na === normalizeFingerprint(b);
}

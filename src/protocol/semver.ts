// Versions compared as semver (https://semver.org): 1.10.0 is newer than 1.9.0, and a release is
// newer than its pre-releases (1.0.0-rc.1 < 1.0.0). Build metadata (+...) does not count.

const SEMVER = /^v?(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/** -1, 0 or 1 as `a` is older than, the same as or newer than `b`; null when either is not semver. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | null {
  const x = SEMVER.exec(a.trim());
  const y = SEMVER.exec(b.trim());
  if (!x || !y) return null;
  for (let i = 1; i <= 3; i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return comparePre(x[4], y[4]);
}

/** True when `version` is semver and older than `than`. */
export function isOlder(version: string, than: string): boolean {
  return compareVersions(version, than) === -1;
}

function comparePre(a: string | undefined, b: string | undefined): -1 | 0 | 1 {
  if (a === b) return 0;
  if (a === undefined) return 1; // no pre-release ranks above any pre-release
  if (b === undefined) return -1;
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const p = pa[i];
    const q = pb[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) < Number(q) ? -1 : 1;
    if (pn !== qn) return pn ? -1 : 1; // numeric identifiers rank below alphanumeric ones
    return p < q ? -1 : 1;
  }
  return 0;
}

// How a control plane URL looks (what agents and the CLI add the API's paths to), and a list of
// them as people write it: separated by commas or blanks, as `myx replicas` prints them.

/** https://HOST:PORT, an optional trailing slash; no path. */
export const SERVER_URL = /^https:\/\/[^/\s,]+\/?$/;

/**
 * The URLs in `value` (commas or blanks between them; "(this one)", as `myx replicas` marks its
 * own line, is left out), without trailing slashes or repeats; or the first word that is not one.
 */
export function splitServerUrls(value: string): { urls: string[] } | { bad: string } {
  const words = value.replaceAll('(this one)', ' ').split(/[\s,]+/).filter(Boolean);
  const bad = words.find((w) => !SERVER_URL.test(w));
  if (bad !== undefined) return { bad };
  return { urls: [...new Set(words.map((w) => w.replace(/\/$/, '')))] };
}

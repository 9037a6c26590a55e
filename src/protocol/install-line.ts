// The one line that installs an agent on a bare host: fetch the control plane's installer over
// HTTPS pinned to its public key (curl's --pinnedpubkey, so -k skips only the CA check) and run it
// as root with the enrollment token in the environment. Pure formatting; the pin is computed from
// the certificate in src/common/tls-cert.ts.

const BASE64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;

/** curl's `--pinnedpubkey` value for a base64 SHA-256 of a certificate's SubjectPublicKeyInfo (DER). */
export function curlPinnedPubkey(spkiSha256Base64: string): string {
  if (!BASE64_SHA256.test(spkiSha256Base64)) throw new Error(`not a base64 SHA-256 digest: "${spkiSha256Base64}"`);
  return `sha256//${spkiSha256Base64}`;
}

/** `value` as one word for sh: as it is when it holds nothing the shell would act on, else shellQuote(). */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_.,:/=+@%-]+$/.test(value) ? value : shellQuote(value);
}

/** `value` single-quoted for sh, whatever it holds. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export interface InstallLineInput {
  /** The control plane's public URL, `https://HOST:PORT`. */
  serverUrl: string;
  /** `sha256//…` (curlPinnedPubkey). */
  pinnedPubkey: string;
  /** The enrollment token; left out, the line is the one that uninstalls (`--uninstall`). */
  token?: string;
}

/**
 * `curl -fsS -k --pinnedpubkey 'sha256//…' https://HOST:PORT/install.sh | sudo MYX_ENROLL_TOKEN=… sh -s --`:
 * the installer's options go after the final `--`.
 */
export function installLine(i: InstallLineInput): string {
  const fetch = `curl -fsS -k --pinnedpubkey '${i.pinnedPubkey}' ${shellWord(`${i.serverUrl.replace(/\/$/, '')}/install.sh`)}`;
  return i.token === undefined ? `${fetch} | sudo sh -s -- --uninstall` : `${fetch} | sudo MYX_ENROLL_TOKEN=${shellWord(i.token)} sh -s --`;
}

// Self-signed certificates for the agent's web service and the control plane's API: generated
// on first start, reused after, and identified by their SHA-256 fingerprint for pinning.

import { createHash, X509Certificate, webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { dirname } from 'node:path';
import { fileExists, writeFileAtomic } from './files.ts';

export interface CertificateFiles {
  certPath: string;
  keyPath: string;
}

export interface LoadedCertificate extends CertificateFiles {
  certPem: string;
  keyPem: string;
  /** SHA-256 fingerprint, `AB:CD:...` */
  fingerprint: string;
  /** true when this call generated the pair. */
  generated: boolean;
}

export class CertificateError extends Error {
  readonly code = 'CERTIFICATE_ERROR';
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

/** Names a self-signed certificate should cover: the host name, localhost and every local address. */
export function localAltNames(): { dns: string[]; ips: string[] } {
  const ips = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) ips.add(a.address.split('%')[0]!);
  }
  return { dns: [...new Set([hostname(), 'localhost'])], ips: [...ips] };
}

/**
 * Loads the pair at `files`; when neither file exists, generates one there (certificate 0644,
 * key 0600). Half a pair is an error rather than silently replaced.
 */
export async function ensureSelfSigned(files: CertificateFiles, commonName: string): Promise<LoadedCertificate> {
  const [hasCert, hasKey] = await Promise.all([fileExists(files.certPath), fileExists(files.keyPath)]);
  if (hasCert && hasKey) return loadCertificate(files);
  if (hasCert !== hasKey) {
    const missing = hasCert ? files.keyPath : files.certPath;
    throw new CertificateError(`${missing} is missing while its pair exists; delete both files to generate a new pair`);
  }
  const { certPem, keyPem } = await generateSelfSigned(commonName, localAltNames());
  await mkdir(dirname(files.certPath), { recursive: true, mode: 0o700 });
  await mkdir(dirname(files.keyPath), { recursive: true, mode: 0o700 });
  await writeFileAtomic(files.keyPath, keyPem, 0o600);
  await writeFileAtomic(files.certPath, certPem, 0o644);
  return { ...files, certPem, keyPem, fingerprint: fingerprintOf(certPem), generated: true };
}

/** Loads a user-supplied or generated pair; a missing or unreadable file is a clear error. */
export async function loadCertificate(files: CertificateFiles): Promise<LoadedCertificate> {
  const certPem = await readPem(files.certPath, 'certificate');
  const keyPem = await readPem(files.keyPath, 'private key');
  let fingerprint: string;
  try {
    fingerprint = fingerprintOf(certPem);
  } catch {
    throw new CertificateError(`${files.certPath} does not hold a PEM certificate`);
  }
  if (!keyPem.includes('PRIVATE KEY-----')) throw new CertificateError(`${files.keyPath} does not hold a PEM private key`);
  return { ...files, certPem, keyPem, fingerprint, generated: false };
}

export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Base64 SHA-256 of the certificate's public key (SubjectPublicKeyInfo, DER): what curl's --pinnedpubkey pins. */
export function publicKeySha256Of(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Makes sure a key file is not readable by others (an operator may have copied it in loosely). */
export async function restrictKeyMode(keyPath: string): Promise<void> {
  await chmod(keyPath, 0o600);
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${code})`;
    throw new CertificateError(`${what} file ${path} ${why}`);
  }
}

async function generateSelfSigned(commonName: string, alt: { dns: string[]; ips: string[] }): Promise<{ certPem: string; keyPem: string }> {
  // the certificate library is loaded only to make a certificate (first start): a process that
  // reuses its certificate never holds it in memory (several MiB on an idle agent)
  const lib = await import('@peculiar/x509');
  const x509 = lib.default; // a CommonJS package: its exports, whether run from the sources or the bundle
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, '_')}`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 10 * 365 * 24 * 3600_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...alt.dns.map((value) => ({ type: 'dns' as const, value })),
        ...alt.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString('pem') + '\n', keyPem };
}

// The one identity of a control plane, whatever its number of replicas: the certificate agents
// pinned at enrollment. The store records its fingerprint at the first start; a replica of a
// shared store (PostgreSQL) started with another certificate refuses to start, saying which files
// to copy, because agents would refuse it. SQLite has one process: its fingerprint is recorded
// as it is now, so that a copy of the store to PostgreSQL carries it.

import { fileExists } from '../common/files.ts';
import { ensureSelfSigned, loadCertificate, type LoadedCertificate } from '../common/tls-cert.ts';
import { sameFingerprint } from '../protocol/fingerprint.ts';
import type { CompiledServerOptions } from './options.ts';
import type { Store } from './store/store.ts';

export class ClusterIdentityError extends Error {
  readonly code = 'CLUSTER_CERTIFICATE_MISMATCH';
}

export async function clusterCertificate(options: CompiledServerOptions, store: Store): Promise<LoadedCertificate> {
  const { tls } = options;
  if (!store.capabilities.supportsReplicas) {
    const cert = tls.userSupplied ? await loadCertificate(tls) : await ensureSelfSigned(tls, 'myx control plane');
    await store.recordClusterFingerprint(cert.fingerprint, new Date().toISOString(), true);
    return cert;
  }
  const recorded = await store.clusterFingerprint();
  const copyFrom = (why: string, fingerprint: string) => new ClusterIdentityError(
    `${why}; the replicas on this database present the certificate with fingerprint ${fingerprint}, which their agents pinned. `
    + `Copy tls/server.crt and tls/server.key from the data dir of a running replica into ${options.dataDir}/tls/ `
    + '(or pass --tls-cert and --tls-key with those files) and start again',
  );
  if (recorded !== null && !tls.userSupplied && !(await fileExists(tls.certPath)) && !(await fileExists(tls.keyPath))) {
    throw copyFrom('this replica has no certificate yet', recorded);
  }
  const cert = tls.userSupplied ? await loadCertificate(tls) : await ensureSelfSigned(tls, 'myx control plane');
  const cluster = await store.recordClusterFingerprint(cert.fingerprint, new Date().toISOString());
  if (!sameFingerprint(cluster, cert.fingerprint)) throw copyFrom(`this replica's certificate (${cert.certPath}, fingerprint ${cert.fingerprint}) is another one`, cluster);
  return cert;
}

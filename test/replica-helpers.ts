// Control-plane replicas on one PostgreSQL for tests: a first replica, others that get its
// certificate and key (as the README says to do), and an operator client for any of them.

import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { OperatorClient, resolveConnection } from '../src/cli/operator-client.ts';
import { startServer, tempDir, type TestServer } from './helpers.ts';
import { postgresServer } from './postgres-server.ts';

export type T = { after: (fn: () => void | Promise<void>) => void };

/** Copies the certificate and key of `first` into the data dir under `dir` (before its first start). */
export function copyClusterCertificate(firstDataDir: string, dataDir: string): void {
  const tls = join(dataDir, 'tls');
  mkdirSync(tls, { recursive: true, mode: 0o700 });
  copyFileSync(join(firstDataDir, 'tls', 'server.crt'), join(tls, 'server.crt'));
  copyFileSync(join(firstDataDir, 'tls', 'server.key'), join(tls, 'server.key'));
}

/** A replica of `first` on `db`: its data dir gets the first's certificate and key. */
export async function startReplica(t: T, first: TestServer, dir: string, db: string, extra: string[] = []): Promise<TestServer> {
  copyClusterCertificate(first.dataDir, join(dir, 'server'));
  const replica = await startServer(dir, ['--store', db, ...extra]);
  t.after(() => replica.proc.kill('SIGKILL'));
  return replica;
}

/** Two replicas on a fresh database. */
export async function twoReplicas(t: T, extra: string[] = []): Promise<{ r1: TestServer; r2: TestServer; db: string; dir: string }> {
  const dir = tempDir(t);
  const db = await (await postgresServer()).createDatabase();
  const r1 = await startServer(join(dir, 'r1'), ['--store', db, ...extra]);
  t.after(() => r1.proc.kill('SIGKILL'));
  const r2 = await startReplica(t, r1, join(dir, 'r2'), db, extra);
  return { r1, r2, db, dir };
}

export async function operator(t: T, server: TestServer): Promise<OperatorClient> {
  const c = new OperatorClient(await resolveConnection({ dataDir: server.dataDir }));
  t.after(() => c.close());
  return c;
}

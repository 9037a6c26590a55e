// The cluster part of the SQLite store (cluster-store.ts): one process is the whole cluster, so
// it is always the sweeper; the registry and the identity are kept all the same, so that a store
// copied to PostgreSQL carries the certificate its agents pinned, and `myx replicas` says the same.

import type { ClusterStore, ReplicaRow } from './cluster-store.ts';
import { flag, type Row } from './rows.ts';
import type { Statements } from './sqlite-statements.ts';

export class SqliteCluster implements ClusterStore {
  readonly #stmt: Statements;

  constructor(stmt: Statements) {
    this.#stmt = stmt;
  }

  async recordReplica(r: ReplicaRow): Promise<void> {
    this.#stmt.recordReplica.run({ ...r, sweeper: r.sweeper ? 1 : 0 });
  }

  async listReplicas(seenSince: string): Promise<ReplicaRow[]> {
    return (this.#stmt.listReplicas.all(seenSince) as Row[]).map((r) => ({ ...r, sweeper: flag(r.sweeper) }) as unknown as ReplicaRow);
  }

  async removeReplica(id: string): Promise<void> {
    this.#stmt.removeReplica.run(id);
  }

  async forgetReplicas(seenBefore: string): Promise<number> {
    return Number(this.#stmt.forgetReplicas.run(seenBefore).changes);
  }

  async clusterFingerprint(): Promise<string | null> {
    return (this.#stmt.clusterFingerprint.get() as { fingerprint: string } | undefined)?.fingerprint ?? null;
  }

  async recordClusterFingerprint(fingerprint: string, now: string, replace = false): Promise<string> {
    (replace ? this.#stmt.replaceClusterFingerprint : this.#stmt.recordClusterFingerprint).run(fingerprint, now);
    return (await this.clusterFingerprint())!;
  }

  async holdSweeperLock(): Promise<boolean> {
    return true;
  }
}

// The cluster part of the PostgreSQL store (cluster-store.ts): the registry and identity in
// tables every replica reads, and the sweeper's lock on this replica's own session.

import type pg from 'pg';
import type { ClusterStore, ReplicaRow } from '../cluster-store.ts';
import * as sql from './cluster-sql.ts';
import type { PostgresSession } from './session.ts';

export class PostgresCluster implements ClusterStore {
  readonly #pool: pg.Pool;
  readonly #session: PostgresSession;

  constructor(pool: pg.Pool, session: PostgresSession) {
    this.#pool = pool;
    this.#session = session;
  }

  async recordReplica(r: ReplicaRow): Promise<void> {
    await sql.upsertReplica(this.#pool, r);
  }

  async listReplicas(seenSince: string): Promise<ReplicaRow[]> {
    return sql.replicasSeenSince(this.#pool, seenSince);
  }

  async removeReplica(id: string): Promise<void> {
    await sql.deleteReplica(this.#pool, id);
  }

  async forgetReplicas(seenBefore: string): Promise<number> {
    return sql.deleteReplicasSeenBefore(this.#pool, seenBefore);
  }

  async clusterFingerprint(): Promise<string | null> {
    return sql.clusterFingerprint(this.#pool);
  }

  async recordClusterFingerprint(fingerprint: string, now: string, replace = false): Promise<string> {
    await sql.recordClusterFingerprint(this.#pool, fingerprint, now, replace);
    return (await sql.clusterFingerprint(this.#pool))!;
  }

  holdSweeperLock(): Promise<boolean> {
    return this.#session.holdSweeperLock();
  }
}

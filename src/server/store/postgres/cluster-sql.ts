// SQL for the replica registry and the cluster's identity (see cluster-store.ts).

import type { ReplicaRow } from '../cluster-store.ts';
import type { Db } from './pool.ts';

export async function upsertReplica(db: Db, r: ReplicaRow): Promise<void> {
  await db.query(
    `INSERT INTO replicas (id, public_url, version, started_at, last_seen_at, sweeper) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET public_url = excluded.public_url, version = excluded.version,
       last_seen_at = excluded.last_seen_at, sweeper = excluded.sweeper`,
    [r.id, r.public_url, r.version, r.started_at, r.last_seen_at, r.sweeper]);
}

export async function replicasSeenSince(db: Db, since: string): Promise<ReplicaRow[]> {
  return (await db.query<ReplicaRow>('SELECT * FROM replicas WHERE last_seen_at >= $1 ORDER BY public_url, id', [since])).rows;
}

export async function deleteReplica(db: Db, id: string): Promise<void> {
  await db.query('DELETE FROM replicas WHERE id = $1', [id]);
}

export async function deleteReplicasSeenBefore(db: Db, before: string): Promise<number> {
  return (await db.query('DELETE FROM replicas WHERE last_seen_at < $1', [before])).rowCount!;
}

export async function clusterFingerprint(db: Db): Promise<string | null> {
  return (await db.query<{ fingerprint: string }>('SELECT fingerprint FROM cluster_identity WHERE id = 1')).rows[0]?.fingerprint ?? null;
}

/** The first writer's fingerprint stays, unless `replace`; ON CONFLICT waits for a concurrent first writer to commit. */
export async function recordClusterFingerprint(db: Db, fingerprint: string, now: string, replace: boolean): Promise<void> {
  await db.query(
    `INSERT INTO cluster_identity (id, fingerprint, recorded_at) VALUES (1, $1, $2)
     ON CONFLICT (id) DO ${replace ? 'UPDATE SET fingerprint = excluded.fingerprint, recorded_at = excluded.recorded_at' : 'NOTHING'}`,
    [fingerprint, now]);
}

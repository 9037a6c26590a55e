// The part of the store contract that makes several control-plane replicas one control plane: who
// they are (the replica registry), what certificate they all present (the cluster's identity), and
// which one sweeps. SQLite has one process, which is always the whole cluster.

import type { ReplicaView } from '../../protocol/wire.ts';

/** A replica as it last said it was alive: what `GET /api/replicas` shows of it, but whether it answered. */
export type ReplicaRow = Omit<ReplicaView, 'self'>;

export interface ClusterStore {
  /**
   * Records the replica as alive now (an insert, then updates by id); the last writer wins.
   * Rows of replicas that stopped saying so are left out of listReplicas and removed by forgetReplicas.
   */
  recordReplica(replica: ReplicaRow): Promise<void>;
  /** Replicas seen at or after `seenSince`, by public URL, then id. */
  listReplicas(seenSince: string): Promise<ReplicaRow[]>;
  /** A replica that stops cleanly leaves at once. */
  removeReplica(id: string): Promise<void>;
  /** Deletes the rows of replicas not seen since `seenBefore`; returns how many. */
  forgetReplicas(seenBefore: string): Promise<number>;

  /** The fingerprint of the certificate every replica must present, or null before the first start recorded one. */
  clusterFingerprint(): Promise<string | null>;
  /**
   * Records `fingerprint` as the cluster's when none is recorded (or always, with `replace`), and
   * returns the recorded one. Concurrent first starts with different certificates: one
   * fingerprint is recorded and every caller gets that one (the others must refuse to start).
   */
  recordClusterFingerprint(fingerprint: string, now: string, replace?: boolean): Promise<string>;

  /**
   * Whether this instance is the one that sweeps now. PostgreSQL: a session advisory lock on a
   * connection of this instance's own, taken when free and held until that connection ends (this
   * instance closes, dies or loses the database), so another replica takes over. SQLite: always
   * true (one process). Cheap enough to ask before every sweep. The sweeps stay correct when two
   * instances run them at once (see requeueExpiredLeases); the lock saves the duplicate work.
   */
  holdSweeperLock(): Promise<boolean>;
}

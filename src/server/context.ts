// What the control plane's routes share: the store, the push client, events and options.

import type { Logger } from '../common/logger.ts';
import type { AgentClient } from './agent-client.ts';
import type { CommandEvents } from './command-events.ts';
import type { Dispatcher } from './dispatcher.ts';
import type { HeartbeatPacing } from './heartbeat-pacing.ts';
import type { ServerMetrics } from './metrics.ts';
import type { RunControl } from './run-control.ts';
import type { CompiledServerOptions } from './options.ts';
import type { ReleaseDir } from './release-dir.ts';
import type { ReplicaPresence } from './replica-presence.ts';
import type { Store } from './store/store.ts';
import type { VersionWatch } from './version-watch.ts';

export interface ServerContext {
  store: Store;
  log: Logger;
  options: CompiledServerOptions;
  agentClient: AgentClient;
  dispatcher: Dispatcher;
  events: CommandEvents;
  runs: RunControl;
  /** This replica in the replica registry, and the live replicas' URLs. */
  replicas: ReplicaPresence;
  /** The binaries this control plane hands out (install, upgrades). */
  release: ReleaseDir;
  /** Warns once per agent and version about agents older than the control plane. */
  versions: VersionWatch;
  /** The fingerprint of the control plane's own certificate (goes into enrollment tokens). */
  fingerprint: string;
  /** curl's `--pinnedpubkey` form (`sha256//BASE64`) of the certificate's public key (goes into install lines). */
  pinnedPubkey: string;
  /** The URL agents on other hosts use (goes into join lines). */
  publicUrl: () => string;
  /** Prometheus metrics: what routes count (held long polls, open streams), and GET /metrics. */
  metrics: ServerMetrics;
  /** The heartbeat interval agents are told, and when one counts as offline: both follow the fleet's size. */
  pacing: HeartbeatPacing;
}

// Warns about agents that run an older version than the control plane: one log line per agent and
// version it reports (not one per heartbeat), so a fleet left behind shows in the log once.

import type { Logger } from '../common/logger.ts';
import { displayText } from '../protocol/display-text.ts';
import { isOlder } from '../protocol/semver.ts';
import { MYX_VERSION } from '../protocol/version.ts';

export class VersionWatch {
  readonly #log: Logger;
  readonly #ownVersion: string;
  /** agent id -> the version last warned about (one entry per agent: bounded by the fleet). */
  readonly #warned = new Map<string, string>();

  constructor(log: Logger, ownVersion = MYX_VERSION) {
    this.#log = log;
    this.#ownVersion = ownVersion;
  }

  /** Called with what every registration and heartbeat reports. */
  seen(agent: { id: string; name: string; version: string }): void {
    if (!isOlder(agent.version, this.#ownVersion)) {
      this.#warned.delete(agent.id);
      return;
    }
    if (this.#warned.get(agent.id) === agent.version) return;
    this.#warned.set(agent.id, agent.version);
    this.#log.warn(
      { agent: agent.name, agent_id: agent.id, version: agent.version, control_plane_version: this.#ownVersion },
      displayText(`agent ${agent.name} runs ${agent.version}, older than the control plane (${this.#ownVersion}): upgrade it with \`myx agents upgrade --agent ${agent.name}\` (or --all)`),
    );
  }

  forget(agentId: string): void {
    this.#warned.delete(agentId);
  }
}

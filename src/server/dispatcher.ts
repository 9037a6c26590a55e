// Delivery of queued commands. Web-mode agents get a push; a push that fails leaves the command
// queued with the reason recorded (the poll path of issue 3 picks such commands up).

import type { Logger } from '../common/logger.ts';
import { RequestFailedError } from '../common/json-client.ts';
import type { CommandRecord } from '../protocol/wire.ts';
import { AgentClient } from './agent-client.ts';
import type { AgentRow, Store } from './store/store.ts';

export class Dispatcher {
  readonly #store: Store;
  readonly #client: AgentClient;
  readonly #log: Logger;

  constructor(store: Store, client: AgentClient, log: Logger) {
    this.#store = store;
    this.#client = client;
    this.#log = log;
  }

  /** Pushes each command to its agent, all at once; never throws. */
  async dispatch(commands: CommandRecord[], agents: Map<string, AgentRow>): Promise<void> {
    await Promise.all(commands.map((c) => this.#push(c, agents.get(c.agent_id))));
  }

  async #push(command: CommandRecord, agent: AgentRow | undefined): Promise<void> {
    if (!agent) return;
    const target = AgentClient.target(agent);
    if ('reason' in target) {
      await this.#store.recordPushFailure(command.id, target.reason);
      return;
    }
    try {
      await this.#client.execute(agent, target.url, {
        command_id: command.id,
        command: command.command,
        args: command.args,
        timeout: command.timeout,
        ...(command.env ? { env: command.env } : {}),
        ...(command.cwd ? { cwd: command.cwd } : {}),
      });
      await this.#store.markDispatched(command.id, 'push', new Date().toISOString());
    } catch (err) {
      const reason = err instanceof RequestFailedError ? err.message : String(err);
      const pinned = err instanceof RequestFailedError && err.code === 'CERT_PIN_MISMATCH';
      this.#log[pinned ? 'error' : 'warn'](
        { command_id: command.id, agent: agent.name, url: target.url, code: err instanceof RequestFailedError ? err.code : undefined },
        pinned ? `push refused: ${reason}` : `push failed, command stays queued: ${reason}`,
      );
      await this.#store.recordPushFailure(command.id, reason);
    }
  }
}

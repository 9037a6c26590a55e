// Delivery of queued commands. A web-mode agent gets a push: the command is claimed first (so a
// heartbeat cannot hand it out at the same time), then sent; a push that fails returns it to the
// queue, where the agent's next heartbeat or poll picks it up. Pushes to an agent whose pushes
// fail back off (1 s doubling to 60 s) and are retried after that.

import type { Logger } from '../common/logger.ts';
import { RequestFailedError } from '../common/json-client.ts';
import type { CommandRecord, PushHealth } from '../protocol/wire.ts';
import { AgentClient } from './agent-client.ts';
import { executeRequestOf } from './execute-request.ts';
import type { CommandEvents } from './command-events.ts';
import type { AgentRow, Store } from './store/store.ts';

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
/**
 * Pushes in flight at once. A fan-out to thousands of agents opens a TLS connection to each; all
 * at once they would starve each other of CPU and time out. Past this, pushes wait their turn.
 */
const MAX_PUSHES_IN_FLIGHT = 256;

/** Why a command waits while its agent upgrades (nothing is handed to it until the upgrade ends). */
const UPGRADING_NOTE = 'the agent is upgrading; the command goes to it once the upgrade has ended';

interface PushState {
  ok: boolean;
  error: string | null;
  failures: number;
  retryAt: number;
}

export class Dispatcher {
  readonly #store: Store;
  readonly #client: AgentClient;
  readonly #events: CommandEvents;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #push = new Map<string, PushState>();
  #inFlight = 0;
  readonly #turns: (() => void)[] = [];

  constructor(store: Store, client: AgentClient, events: CommandEvents, log: Logger, leaseSeconds: number) {
    this.#store = store;
    this.#client = client;
    this.#events = events;
    this.#log = log;
    this.#leaseMs = leaseSeconds * 1000;
  }

  /** Pushes each command to its agent where it can (up to MAX_PUSHES_IN_FLIGHT at once); never throws. */
  async dispatch(commands: CommandRecord[], agents: Map<string, AgentRow>): Promise<void> {
    await Promise.all(commands.map(async (c) => {
      await this.#turn();
      try {
        await this.#deliver(c, agents.get(c.agent_id));
      } finally {
        this.#inFlight--;
        this.#turns.shift()?.();
      }
    }));
  }

  #turn(): Promise<void> {
    if (this.#inFlight < MAX_PUSHES_IN_FLIGHT) {
      this.#inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#turns.push(() => {
      this.#inFlight++;
      resolve();
    }));
  }

  /** Asks a web-mode agent to cancel now; false when that did not work (the next heartbeat carries it). */
  async pushCancel(agent: AgentRow, commandId: string): Promise<boolean> {
    const target = AgentClient.target(agent);
    if ('reason' in target || !this.#pushAllowed(agent.id)) return false;
    try {
      await this.#client.cancel(agent, target.url, commandId);
      return true;
    } catch (err) {
      this.#log.warn({ command_id: commandId, agent: agent.name }, `cancel push failed, the next heartbeat carries it: ${(err as Error).message}`);
      return false;
    }
  }

  health(agent: AgentRow): PushHealth {
    if (agent.mode === 'poll') return { state: 'poll_mode', error: null, retry_at: null };
    const s = this.#push.get(agent.id);
    if (!s) return { state: 'untried', error: null, retry_at: null };
    if (s.ok) return { state: 'ok', error: null, retry_at: null };
    return { state: 'failing', error: s.error, retry_at: new Date(s.retryAt).toISOString() };
  }

  /** The agent's certificate, address or mode changed: try pushing again at once. */
  resetHealth(agentId: string): void {
    this.#push.delete(agentId);
  }

  async #deliver(command: CommandRecord, agent: AgentRow | undefined): Promise<void> {
    if (!agent) return;
    const target = AgentClient.target(agent);
    if ('reason' in target) {
      await this.#store.recordPushFailure(command.id, `${target.reason}; waiting for the agent to fetch it`);
      this.#events.wakeAgent(agent.id);
      return;
    }
    if (!this.#pushAllowed(agent.id)) {
      const s = this.#push.get(agent.id)!;
      await this.#store.recordPushFailure(command.id, `pushes to this agent are failing (${s.error}); waiting for its next heartbeat`);
      return;
    }
    const now = Date.now();
    if (!(await this.#store.claimForPush(command.id, new Date(now).toISOString(), new Date(now + this.#leaseMs).toISOString()))) {
      // handed out another way meanwhile, or held back while the agent upgrades: say so to whoever waits
      const [still] = await this.#store.getCommands([command.id]);
      if (still?.status === 'queued') await this.#store.recordPushFailure(command.id, UPGRADING_NOTE);
      return;
    }
    try {
      await this.#client.execute(agent, target.url, executeRequestOf(command));
      this.#push.set(agent.id, { ok: true, error: null, failures: 0, retryAt: 0 });
    } catch (err) {
      const reason = err instanceof RequestFailedError ? err.message : String(err);
      if (err instanceof RequestFailedError && err.code === 'AGENT_UPGRADING') {
        // Not a failing push: the agent is replacing itself. The command waits, queued, and goes
        // once the upgrade has ended (nothing is handed to an upgrading agent meanwhile).
        this.#log.info({ command_id: command.id, agent: agent.name }, 'the agent is upgrading: the command waits for its new version');
        await this.#store.releasePush(command.id, reason);
        return;
      }
      const pinned = err instanceof RequestFailedError && err.code === 'CERT_PIN_MISMATCH';
      const failures = (this.#push.get(agent.id)?.failures ?? 0) + 1;
      const backoff = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (failures - 1));
      this.#push.set(agent.id, { ok: false, error: reason, failures, retryAt: Date.now() + backoff });
      this.#log[pinned ? 'error' : 'warn'](
        { command_id: command.id, agent: agent.name, url: target.url, code: err instanceof RequestFailedError ? err.code : undefined, retry_in_ms: backoff },
        pinned ? `push refused: ${reason}` : `push failed, the command waits for the agent's heartbeat: ${reason}`,
      );
      await this.#store.releasePush(command.id, reason);
      this.#events.wakeAgent(agent.id);
    }
  }

  #pushAllowed(agentId: string): boolean {
    const s = this.#push.get(agentId);
    return !s || s.ok || Date.now() >= s.retryAt;
  }
}

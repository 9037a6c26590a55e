// Delivery of queued commands. A web-mode agent gets a push: the command is claimed first (so a
// heartbeat cannot hand it out at the same time), then sent; a push that fails gives its own claim
// back to the queue, where the agent's next heartbeat or poll picks it up. Pushes to an agent whose
// pushes fail back off (1 s doubling to 60 s) and are retried after that. Push health lives in the
// store with the agent, so every replica sees the same health and the same back-off.

import type { Logger } from '../common/logger.ts';
import { RequestFailedError } from '../common/json-client.ts';
import type { CommandRecord, PushHealth } from '../protocol/wire.ts';
import { AgentClient } from './agent-client.ts';
import { executeRequestOf } from './execute-request.ts';
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

/** When a failing agent is tried again: 1 s after the first failure, doubling to 60 s. */
export function retryAt(agent: AgentRow): number {
  const failures = Math.max(1, agent.push_failures);
  return Date.parse(agent.push_failed_at ?? '1970-01-01T00:00:00.000Z') + Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (failures - 1));
}

export class Dispatcher {
  readonly #store: Store;
  readonly #client: AgentClient;
  readonly #log: Logger;
  readonly #leaseMs: number;
  #inFlight = 0;
  readonly #turns: (() => void)[] = [];
  /** Commands this replica is about to push or pushing: a second dispatch of one (the sweeper's) waits for nothing. */
  readonly #pending = new Set<string>();

  constructor(store: Store, client: AgentClient, log: Logger, leaseSeconds: number) {
    this.#store = store;
    this.#client = client;
    this.#log = log;
    this.#leaseMs = leaseSeconds * 1000;
  }

  /**
   * Pushes each command to its agent where it can (up to MAX_PUSHES_IN_FLIGHT at once). Never
   * throws: a command whose push could not even be tried (a store error) stays queued, logged,
   * for the sweeper or the agent's heartbeat.
   */
  async dispatch(commands: CommandRecord[], agents: Map<string, AgentRow>): Promise<void> {
    await Promise.all(commands.filter((c) => !this.#pending.has(c.id)).map(async (c) => {
      this.#pending.add(c.id);
      await this.#turn();
      try {
        await this.#deliver(c, agents.get(c.agent_id));
      } catch (err) {
        this.#log.error({ err, command_id: c.id, agent: c.agent_name }, 'could not push the command (store error); it stays queued for the sweeper or the agent\'s heartbeat');
      } finally {
        this.#pending.delete(c.id);
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

  /** This replica is pushing the command, or it waits its turn here. */
  pushing(commandId: string): boolean {
    return this.#pending.has(commandId);
  }

  /** Asks a web-mode agent to cancel now; false when that did not work (the next heartbeat carries it). */
  async pushCancel(agent: AgentRow, commandId: string): Promise<boolean> {
    const target = AgentClient.target(agent);
    if ('reason' in target || !pushAllowed(agent)) return false;
    try {
      await this.#client.cancel(agent, target.url, commandId);
      return true;
    } catch (err) {
      this.#log.warn({ command_id: commandId, agent: agent.name }, `cancel push failed, the next heartbeat carries it: ${(err as Error).message}`);
      return false;
    }
  }

  async #deliver(command: CommandRecord, agent: AgentRow | undefined): Promise<void> {
    if (!agent) return;
    const target = AgentClient.target(agent);
    if ('reason' in target) {
      await this.#store.recordPushFailure(command.id, `${target.reason}; waiting for the agent to fetch it`);
      return;
    }
    if (!pushAllowed(agent)) {
      await this.#store.recordPushFailure(command.id, `pushes to this agent are failing (${agent.push_error}); waiting for its next heartbeat`);
      return;
    }
    const now = Date.now();
    const claim = await this.#store.claimForPush(command.id, new Date(now).toISOString(), new Date(now + this.#leaseMs).toISOString());
    if (claim === null) {
      // handed out another way meanwhile, or held back while the agent upgrades: say so to whoever waits
      const [still] = await this.#store.getCommands([command.id]);
      if (still?.status === 'queued') await this.#store.recordPushFailure(command.id, UPGRADING_NOTE);
      return;
    }
    try {
      await this.#client.execute(agent, target.url, executeRequestOf(command));
    } catch (err) {
      const reason = err instanceof RequestFailedError ? err.message : String(err);
      if (err instanceof RequestFailedError && err.code === 'AGENT_UPGRADING') {
        // Not a failing push: the agent is replacing itself. The command waits, queued, and goes
        // once the upgrade has ended (nothing is handed to an upgrading agent meanwhile).
        this.#log.info({ command_id: command.id, agent: agent.name }, 'the agent is upgrading: the command waits for its new version');
        await this.#store.releasePush(command.id, claim, reason);
        return;
      }
      const pinned = err instanceof RequestFailedError && err.code === 'CERT_PIN_MISMATCH';
      const backoff = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** agent.push_failures);
      this.#log[pinned ? 'error' : 'warn'](
        { command_id: command.id, agent: agent.name, url: target.url, code: err instanceof RequestFailedError ? err.code : undefined, retry_in_ms: backoff },
        pinned ? `push refused: ${reason}` : `push failed, the command waits for the agent's heartbeat: ${reason}`,
      );
      await this.#store.recordPushHealth(agent.id, { kind: 'failed', error: reason, at: new Date().toISOString() });
      await this.#store.releasePush(command.id, claim, reason);
      return;
    }
    if (agent.push_state !== 'ok' || agent.push_failures !== 0) await this.#store.recordPushHealth(agent.id, { kind: 'ok' });
  }
}

/** What `myx agents` shows: push health as the store has it, the same on every replica. */
export function pushHealth(agent: AgentRow): PushHealth {
  if (agent.mode === 'poll') return { state: 'poll_mode', error: null, retry_at: null };
  if (agent.push_state === null) return { state: 'untried', error: null, retry_at: null };
  if (agent.push_state === 'ok') return { state: 'ok', error: null, retry_at: null };
  return { state: 'failing', error: agent.push_error, retry_at: new Date(retryAt(agent)).toISOString() };
}

function pushAllowed(agent: AgentRow): boolean {
  return agent.push_state !== 'failing' || Date.now() >= retryAt(agent);
}

// Runs and their rate control, in one place: starting a run's commands, and after each command
// ends, starting the next ones (--max-concurrency) or skipping the rest (--max-errors). Waiting
// clients hear of every change from the store's event feed, not from here.

import type { Logger } from '../common/logger.ts';
import type { CommandRecord } from '../protocol/wire.ts';
import type { Dispatcher } from './dispatcher.ts';
import type { AgentRow, Store } from './store/store.ts';

export class RunControl {
  readonly #store: Store;
  readonly #dispatcher: Dispatcher;
  readonly #log: Logger;

  constructor(store: Store, dispatcher: Dispatcher, log: Logger) {
    this.#store = store;
    this.#dispatcher = dispatcher;
    this.#log = log;
  }

  /**
   * Delivers the queued ones of these commands (pushes; agents that poll hear of them from the feed).
   * `agents`: their agents as just read (a new run's targets), else they are read here.
   */
  async deliver(commands: CommandRecord[], agents?: AgentRow[]): Promise<void> {
    const queued = commands.filter((c) => c.status === 'queued');
    if (queued.length === 0) return;
    await this.#dispatcher.dispatch(queued, new Map((agents ?? await this.#store.listAgents()).map((a) => [a.id, a])));
  }

  /** This replica is pushing the command, or about to. */
  pushing(commandId: string): boolean {
    return this.#dispatcher.pushing(commandId);
  }

  /** A command reached a final state: move its run on. */
  async commandEnded(command: CommandRecord): Promise<void> {
    if (command.kind === 'upgrade') await this.#upgradeEnded(command.agent_id);
    if (command.run_id) await this.advance(command.run_id);
  }

  /**
   * Commands queued for the agent while it upgraded were held back: they go now, to the process
   * that runs the agent from here on (a new one, whatever the outcome: push health starts afresh,
   * and the reset wakes the agent's long poll on every replica).
   */
  async #upgradeEnded(agentId: string): Promise<void> {
    await this.#store.recordPushHealth(agentId, { kind: 'reset' });
    await this.deliver(await this.#store.listCommands({ agentId, status: 'queued', limit: 1000 }));
  }

  async advance(runId: string): Promise<void> {
    const { queued, skipped } = await this.#store.advanceRun(runId, new Date().toISOString());
    if (skipped.length > 0) this.#log.warn({ run_id: runId, skipped: skipped.length }, 'run stopped by --max-errors: commands not started are skipped');
    await this.deliver(queued);
  }

  /** Catches up on runs that hold commands back (after a restart, or a missed event). */
  async advanceAll(): Promise<void> {
    for (const runId of await this.#store.runsWithWaiting()) await this.advance(runId);
  }

  /**
   * `work` (a fan-out or a run's next step) after the request that started it was answered. A
   * failure is logged, never thrown: what it left queued is pushed by the sweeper (any replica's)
   * or taken by the agents' heartbeats, and what it left waiting is advanced by the sweeper.
   */
  inBackground(what: string, work: () => Promise<void>): void {
    work().catch((err: unknown) => this.#log.error({ err }, `${what} failed; the sweeper carries on with what it left`));
  }
}

/** `N` or `N%` of `total` as a count; percentages round up, so 10% of 5 agents is 1. */
export function resolveLimit(value: string | undefined, total: number): number | null {
  if (value === undefined) return null;
  const n = Number(value.replace('%', ''));
  return value.endsWith('%') ? Math.ceil((total * n) / 100) : n;
}

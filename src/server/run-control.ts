// Runs and their rate control, in one place: starting a run's commands, and after each command
// ends, starting the next ones (--max-concurrency) or skipping the rest (--max-errors).

import type { Logger } from '../common/logger.ts';
import type { CommandRecord } from '../protocol/wire.ts';
import type { CommandEvents } from './command-events.ts';
import type { Dispatcher } from './dispatcher.ts';
import type { Store } from './store/store.ts';

export class RunControl {
  readonly #store: Store;
  readonly #dispatcher: Dispatcher;
  readonly #events: CommandEvents;
  readonly #log: Logger;

  constructor(store: Store, dispatcher: Dispatcher, events: CommandEvents, log: Logger) {
    this.#store = store;
    this.#dispatcher = dispatcher;
    this.#events = events;
    this.#log = log;
  }

  /** Delivers the queued ones of these commands (pushes, or wakes the agents that poll). */
  async deliver(commands: CommandRecord[]): Promise<void> {
    const queued = commands.filter((c) => c.status === 'queued');
    if (queued.length === 0) return;
    const agents = new Map((await this.#store.listAgents()).map((a) => [a.id, a]));
    await this.#dispatcher.dispatch(queued, agents);
  }

  /** A command reached a final state: tell whoever waits, and move its run on. */
  async commandEnded(command: CommandRecord): Promise<void> {
    this.#events.finished(command.id);
    if (command.kind === 'upgrade') await this.#upgradeEnded(command.agent_id);
    if (command.run_id) await this.advance(command.run_id);
  }

  /**
   * Commands queued for the agent while it upgraded were held back: they go now, to the process
   * that runs the agent from here on (a new one, whatever the outcome: push health starts afresh).
   */
  async #upgradeEnded(agentId: string): Promise<void> {
    this.#dispatcher.resetHealth(agentId);
    this.#events.wakeAgent(agentId);
    await this.deliver(await this.#store.listCommands({ agentId, status: 'queued', limit: 1000 }));
  }

  async advance(runId: string): Promise<void> {
    const { queued, skipped } = await this.#store.advanceRun(runId, new Date().toISOString());
    if (skipped.length > 0) this.#log.warn({ run_id: runId, skipped: skipped.length }, 'run stopped by --max-errors: commands not started are skipped');
    for (const c of skipped) this.#events.finished(c.id);
    await this.deliver(queued);
  }

  /** Catches up on runs that hold commands back (after a restart, or a missed event). */
  async advanceAll(): Promise<void> {
    for (const runId of await this.#store.runsWithWaiting()) await this.advance(runId);
  }
}

/** `N` or `N%` of `total` as a count; percentages round up, so 10% of 5 agents is 1. */
export function resolveLimit(value: string | undefined, total: number): number | null {
  if (value === undefined) return null;
  const n = Number(value.replace('%', ''));
  return value.endsWith('%') ? Math.ceil((total * n) / 100) : n;
}

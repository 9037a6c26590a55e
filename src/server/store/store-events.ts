// The store's event feed: every write that changes what someone may be waiting for publishes an
// event from the write itself (STYLE.md 13), to every instance on the database. Events carry ids
// and offsets only; whoever hears one reads the rest from the store.

import { COMMAND_STATUSES, type CommandStatus } from '../../protocol/command-status.ts';

export type StoreEvent =
  /** A command changed status (created, claimed, started, ended, queued again). */
  | { kind: 'command'; id: string; agent_id: string; status: CommandStatus }
  /** Output was appended to a command: [offset, next) is new (what was kept of it is in readOutput). */
  | { kind: 'output'; command_id: string; offset: number; next: number }
  /** Something may wait for this agent that no command event says: a push failed (its heartbeat may take the command now), it was removed. */
  | { kind: 'agent'; agent_id: string }
  /** A cancel was requested for a command its agent has. */
  | { kind: 'cancel'; command_id: string; agent_id: string }
  /** The feed may have missed events (its connection was lost and is back): re-read whatever you wait for. */
  | { kind: 'resync' };

export type StoreEventListener = (event: StoreEvent) => void;

/** The listeners of one store instance. A listener that throws does not keep the event from the others. */
export class EventHub {
  readonly #listeners = new Set<StoreEventListener>();
  readonly #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  subscribe(listener: StoreEventListener): () => void {
    const entry = (e: StoreEvent) => listener(e); // one entry per subscription, even of the same function
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  publish(events: Iterable<StoreEvent>): void {
    for (const e of events) {
      for (const l of this.#listeners) {
        try {
          l(e);
        } catch (err) {
          this.#onError(err);
        }
      }
    }
  }
}

/**
 * A NOTIFY payload (postgres/events-sql.ts builds them in SQL): a JSON array, the kind's letter
 * first. Anything else (another program on the channel, a newer replica) is ignored.
 */
export function decodeEvent(payload: string): StoreEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  const str = (x: unknown) => typeof x === 'string';
  const [k, a, b, c] = v as unknown[];
  if (k === 'c' && str(a) && str(b) && COMMAND_STATUSES.includes(c as CommandStatus)) return { kind: 'command', id: a as string, agent_id: b as string, status: c as CommandStatus };
  if (k === 'o' && str(a) && Number.isSafeInteger(b) && Number.isSafeInteger(c)) return { kind: 'output', command_id: a as string, offset: b as number, next: c as number };
  if (k === 'a' && str(a)) return { kind: 'agent', agent_id: a as string };
  if (k === 'x' && str(a) && str(b)) return { kind: 'cancel', command_id: a as string, agent_id: b as string };
  return undefined;
}

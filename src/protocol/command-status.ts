// The command lifecycle, written down once. Every store backend and the agent use these states.
//
//   queued ──push accepted / poll lease──▶ dispatched ──agent starts──▶ running ──▶ succeeded | failed | timed_out | cancelled
//     │                                        │ lease expires, not started ─▶ back to queued
//     └── delivery TTL passes ─▶ expired       └── agent restarted mid-run ─▶ lost (never silently re-run)
//
// A result may arrive before the control plane saw `running` (the agent finished fast, or the
// `running` report was lost), so `dispatched` and `queued` may go straight to a final state.
//
// Rate control (--max-concurrency, --max-errors) holds a run's later commands back:
//   waiting ──a slot frees up──▶ queued            waiting ──too many errors in the run──▶ skipped

export const COMMAND_STATUSES = [
  'waiting', 'queued', 'dispatched', 'running',
  'succeeded', 'failed', 'timed_out', 'cancelled', 'expired', 'lost', 'skipped',
] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

export const FINAL_STATUSES = ['succeeded', 'failed', 'timed_out', 'cancelled', 'expired', 'lost', 'skipped'] as const;

/** Final states that count as errors for --max-errors (the command was meant to run and did not succeed). */
export const ERROR_STATUSES = ['failed', 'timed_out', 'lost', 'expired'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** What an agent may report as the outcome of a command it accepted. */
export const RESULT_STATUSES = ['succeeded', 'failed', 'timed_out', 'cancelled', 'lost'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

export type Delivery = 'push' | 'poll';

const NEXT: Record<CommandStatus, readonly CommandStatus[]> = {
  waiting: ['queued', 'skipped', 'cancelled'],
  queued: ['dispatched', 'running', 'expired', 'cancelled', ...RESULT_STATUSES],
  dispatched: ['queued', 'running', ...RESULT_STATUSES],
  running: RESULT_STATUSES,
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: [],
  expired: [],
  lost: [],
  skipped: [],
};

export function isFinal(status: CommandStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export function canTransition(from: CommandStatus, to: CommandStatus): boolean {
  return NEXT[from].includes(to);
}

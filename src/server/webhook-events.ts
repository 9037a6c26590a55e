// The JSON event a delivery carries, built when it is sent from the records in the store (final by
// then, so every attempt sends the same): a command with the names of its environment variables
// (never their values) and its output cut short, or a run with its commands in short.

import type { CommandRecord, WebhookCommand, WebhookEvent, WebhookRunCommand } from '../protocol/wire.ts';
import type { Store } from './store/store.ts';
import type { ClaimedDelivery } from './store/webhook-store.ts';

/** Characters of each stream's summary an event carries; the byte counts stay whole, the rest is in the API. */
export const EVENT_OUTPUT_CHARS = 4096;

/** The event of a delivery, or null when what it is about is gone. */
export async function webhookEvent(store: Store, d: ClaimedDelivery): Promise<WebhookEvent | null> {
  if (d.event === 'command.finished') {
    const [command] = await store.getCommands([d.subject_id]);
    return command ? { id: d.event_id, type: 'command.finished', occurred_at: command.finished_at, data: { command: eventCommand(command) } } : null;
  }
  const run = await store.getRun(d.subject_id);
  if (!run) return null;
  const commands = (await store.commandsOfRun(d.subject_id)).map(runCommand);
  return { id: d.event_id, type: 'run.finished', occurred_at: run.finished_at, data: { run, commands } };
}

function eventCommand(c: CommandRecord): WebhookCommand {
  const { env, ...rest } = c;
  return {
    ...rest, env_keys: Object.keys(env ?? {}),
    stdout: c.stdout.slice(0, EVENT_OUTPUT_CHARS), stderr: c.stderr.slice(0, EVENT_OUTPUT_CHARS),
    stdout_truncated: c.stdout_truncated || c.stdout.length > EVENT_OUTPUT_CHARS, stderr_truncated: c.stderr_truncated || c.stderr.length > EVENT_OUTPUT_CHARS,
  };
}

function runCommand(c: CommandRecord): WebhookRunCommand {
  return { id: c.id, agent_id: c.agent_id, agent_name: c.agent_name, status: c.status, exit_code: c.exit_code, error: c.error, started_at: c.started_at, finished_at: c.finished_at };
}

// `myx run`: queue the command for each target, follow the run live through the SDK's run handle
// (output as it arrives, reconnecting if the control plane restarts, or through another replica
// when its replica dies), and end with every final record.
// Exit code 0 only when every target succeeded.

import { displayJson } from '../protocol/display-text.ts';
import type { CommandRecord, RunResponse, Targets } from '../protocol/wire.ts';
import { RunHandle } from '../sdk/run-handle.ts';
import { EXIT } from './fail.ts';
import type { OperatorClient } from './operator-client.ts';
import { RunPrinter } from './run-printer.ts';

export interface RunOptions {
  targets: Targets;
  timeout?: number;
  ttl?: number;
  maxConcurrency?: string;
  maxErrors?: string;
  json: boolean;
  /** Force streaming (true) or grouping (false) of output; default by the number of targets. */
  stream?: boolean;
  /** Remove terminal control sequences from the output shown (`--strip-control`). */
  stripControl?: boolean;
  command: string;
  args: string[];
}

/** After this long, say which targets are still waiting and why; then again every minute. */
const PATIENCE_MS = 3000;

export async function runCommand(client: OperatorClient, o: RunOptions, out = process.stdout, err = process.stderr): Promise<number> {
  const created = await client.createRun({
    targets: o.targets,
    command: o.command,
    args: o.args,
    ...(o.timeout ? { timeout: o.timeout } : {}),
    ...(o.ttl ? { ttl: o.ttl } : {}),
    ...(o.maxConcurrency ? { max_concurrency: o.maxConcurrency } : {}),
    ...(o.maxErrors ? { max_errors: o.maxErrors } : {}),
  });
  return followRun(client, created, o, out, err);
}

export interface FollowOptions {
  json: boolean;
  stream?: boolean;
  stripControl?: boolean;
  /** Lines to say before the run's own, e.g. what an upgrade installs. */
  notices?: string[];
}

/**
 * Follows a run the control plane created (`myx run`, `myx agents upgrade`) through the SDK's run
 * handle: output and a status line per agent as they come, then the summary (or the records, with
 * --json). 0 only if all succeeded.
 */
export async function followRun(client: OperatorClient, created: RunResponse, o: FollowOptions, out = process.stdout, err = process.stderr): Promise<number> {
  const { run } = created;
  const handle = new RunHandle(client, created);
  const printer = new RunPrinter(created.commands, o.json ? nullStream : out, err, {
    ...(o.stream === undefined ? {} : { stream: o.stream }),
    ...(o.stripControl ? { stripControl: true } : {}),
  });
  if (!o.json) for (const line of o.notices ?? []) printer.notice(line);
  if (created.commands.length > 1 && !o.json) {
    const limits = [run.max_concurrency ? `${run.max_concurrency} at a time` : '', run.max_errors ? `stop after ${run.max_errors} error${run.max_errors === 1 ? '' : 's'}` : ''].filter(Boolean);
    printer.notice(`${run.id}: ${created.commands.length} agents (${run.target})${limits.length ? ', ' + limits.join(', ') : ''}`);
  }
  const watcher = watchWaiting(client, handle, printer);
  let lostAt = client.url;
  let final: CommandRecord[] = [];
  try {
    for await (const ev of handle.events({ output: printer.streaming && !o.json, statuses: 'final' })) {
      switch (ev.type) {
        case 'output':
          printer.output(ev.command_id, ev);
          break;
        case 'status':
          printer.final(ev.command); // commands that ended as the run was created (an upgrade with nothing to do) come first
          break;
        case 'disconnected':
          printer.notice(`lost contact with the control plane (${ev.error.message}); the commands go on, reconnecting…`);
          lostAt = client.url;
          break;
        case 'reconnected':
          printer.notice(ev.url === lostAt ? 'reconnected to the control plane' : `reconnected to the control plane, at ${ev.url}`);
          break;
        case 'end':
          final = ev.commands;
          break;
        default: {
          const _exhaustive: never = ev;
          throw new Error(`unknown run event ${JSON.stringify(_exhaustive)}`);
        }
      }
    }
  } finally {
    watcher.stop();
  }
  if (o.json) out.write(displayJson(final, 2) + '\n');
  else printer.summary(final);
  return final.every((c) => c.status === 'succeeded') ? EXIT.ok : EXIT.commandFailed;
}

/** The waiting commands the patience notices ask about, at most. */
const ASK_ABOUT = 100;

/** Tells the operator, once a while, about targets whose commands are not running yet, and why (asking about a hundred at most). */
function watchWaiting(client: OperatorClient, handle: RunHandle, printer: RunPrinter): { stop: () => void } {
  const told = new Map<string, string>();
  const look = async () => {
    const waiting = handle.commands.filter((c) => c.status === 'queued' || c.status === 'dispatched').slice(0, ASK_ABOUT);
    if (waiting.length === 0) return;
    const now = await client.wait(waiting.map((c) => c.id), 0).catch(() => undefined);
    for (const c of now?.commands ?? []) {
      if (c.status !== 'queued') continue; // waiting (rate control) and in-flight ones are on their way
      const why = c.last_push_error ?? 'waiting for the agent to come online or fetch it';
      if (told.get(c.id) === why) continue;
      told.set(c.id, why);
      printer.notice(`${c.agent_name}: not delivered yet (${why}); it stays queued until ${c.expires_at ?? 'it is delivered'}. Ctrl-C stops waiting, \`myx cancel ${c.id}\` drops it`);
    }
  };
  const first = setTimeout(() => void look(), PATIENCE_MS);
  const every = setInterval(() => void look(), 60_000);
  return { stop: () => (clearTimeout(first), clearInterval(every)) };
}

const nullStream = { write: () => true } as unknown as NodeJS.WritableStream;

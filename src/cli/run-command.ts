// `myx run`: queue the command for each target, follow the run live (output as it arrives,
// reconnecting if the control plane restarts, or through another replica when its replica dies),
// and end with every final record.
// Exit code 0 only when every target succeeded.

import { setTimeout as sleep } from 'node:timers/promises';
import { RequestFailedError } from '../common/json-client.ts';
import { isFinal } from '../protocol/command-status.ts';
import { displayJson } from '../protocol/display-text.ts';
import type { CommandBrief, CommandRecord, RunBriefResponse, RunResponse, Targets } from '../protocol/wire.ts';
import { EXIT } from './fail.ts';
import type { OperatorClient } from './operator-client.ts';
import { RunPrinter, type LiveChunk } from './run-printer.ts';

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
const MAX_RECONNECT_MS = 5000;

export async function runCommand(client: OperatorClient, o: RunOptions, out = process.stdout, err = process.stderr): Promise<number> {
  // brief: on thousands of agents the whole records would be megabytes, and they come with the run's stream anyway
  const created = await client.createRunBrief({
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

/** Past this many commands still going, a run is followed by its own stream, not by a list of ids (which must fit in a URL). */
const IDS_IN_URL = 200;
/** The waiting commands the patience notices ask about, at most. */
const ASK_ABOUT = 100;

/**
 * Follows a run the control plane created (`myx run`, `myx agents upgrade`): output and a status
 * line per agent as they come, then the summary (or the records, with --json). 0 only if all succeeded.
 * `created` may list its commands briefly (id, agent, status): their records come with the stream.
 */
export async function followRun(client: OperatorClient, { run, commands: created }: RunResponse | RunBriefResponse, o: FollowOptions, out = process.stdout, err = process.stderr): Promise<number> {
  const printer = new RunPrinter(created, o.json ? nullStream : out, err, {
    ...(o.stream === undefined ? {} : { stream: o.stream }),
    ...(o.stripControl ? { stripControl: true } : {}),
  });
  if (!o.json) for (const line of o.notices ?? []) printer.notice(line);
  if (created.length > 1 && !o.json) {
    const limits = [run.max_concurrency ? `${run.max_concurrency} at a time` : '', run.max_errors ? `stop after ${run.max_errors} error${run.max_errors === 1 ? '' : 's'}` : ''].filter(Boolean);
    printer.notice(`${run.id}: ${created.length} agents (${run.target})${limits.length ? ', ' + limits.join(', ') : ''}`);
  }
  /** Where each command is, as last heard (brief, or a whole record). */
  const states = new Map<string, CommandBrief>(created.map((c) => [c.id, c]));
  /** The final record of each command that ended. */
  const finals = new Map<string, CommandRecord>();
  const finish = (c: CommandRecord) => {
    if (finals.has(c.id)) return; // a reopened stream sends it again
    finals.set(c.id, c);
    states.set(c.id, c);
    printer.final(c);
  };
  // commands that ended as the run was created (an upgrade with nothing to do) are shown at once, when their records came along
  for (const c of created) if (isFinal(c.status) && 'stdout' in c) finish(c);
  const pending = () => created.filter((c) => !finals.has(c.id)).map((c) => c.id);

  const watcher = watchWaiting(client, states, finals, printer);
  let backoff = 0;
  let lostContact = false;
  let lostAt = client.url;
  let runStream = true;
  try {
    while (pending().length > 0) {
      try {
        const ids = pending();
        const output = printer.streaming && !o.json;
        // a few commands: by id, each from where its output was; many: the run's own stream
        const events = runStream && (ids.length > IDS_IN_URL || !output)
          ? client.runEvents(run.id, { output })
          : client.events(ids, { output, from: ids.map((id) => printer.resumeAt(id)) });
        for await (const ev of events) {
          if (lostContact) {
            printer.notice(client.url === lostAt ? 'reconnected to the control plane' : `reconnected to the control plane, at ${client.url}`);
            lostContact = false;
          }
          backoff = 0;
          if (ev.event === 'output') {
            const { command_id, ...chunk } = JSON.parse(ev.data) as LiveChunk & { command_id: string };
            printer.output(command_id, chunk);
          } else if (ev.event === 'final') {
            finish(JSON.parse(ev.data) as CommandRecord);
          }
        }
      } catch (e) {
        // a control plane from before run streams: follow by ids
        if (e instanceof RequestFailedError && e.code === 'NOT_FOUND' && runStream) {
          runStream = false;
          continue;
        }
        if (e instanceof RequestFailedError && !e.retryable) throw e;
        if (!lostContact) {
          printer.notice(`lost contact with the control plane (${(e as Error).message}); the commands go on, reconnecting…`);
          lostAt = client.url;
        }
        lostContact = true;
        backoff = Math.min(MAX_RECONNECT_MS, Math.max(250, backoff * 2));
        await sleep(backoff);
      }
    }
  } finally {
    watcher.stop();
  }
  const final = created.map((c) => finals.get(c.id)!);
  if (o.json) out.write(displayJson(final, 2) + '\n');
  else printer.summary(final);
  return final.every((c) => c.status === 'succeeded') ? EXIT.ok : EXIT.commandFailed;
}

/** Tells the operator, once a while, about targets whose commands are not running yet, and why (asking about a hundred at most). */
function watchWaiting(client: OperatorClient, states: Map<string, CommandBrief>, finals: Map<string, CommandRecord>, printer: RunPrinter): { stop: () => void } {
  const told = new Map<string, string>();
  const look = async () => {
    const waiting = [...states.values()].filter((c) => !finals.has(c.id) && (c.status === 'queued' || c.status === 'dispatched')).slice(0, ASK_ABOUT);
    if (waiting.length === 0) return;
    const now = await client.wait(waiting.map((c) => c.id), 0).catch(() => undefined);
    for (const c of now?.commands ?? []) {
      if (!finals.has(c.id)) states.set(c.id, c);
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

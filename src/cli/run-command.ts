// `myx run`: queue the command for each target, wait for every result, print output and status.
// Exit code 0 only when every target succeeded.

import { isFinal } from '../protocol/command-status.ts';
import type { CommandRecord } from '../protocol/wire.ts';
import { EXIT } from './fail.ts';
import type { OperatorClient } from './operator-client.ts';

export interface RunOptions {
  agents: string[];
  all: boolean;
  timeout?: number;
  json: boolean;
  command: string;
  args: string[];
}

/** How long one wait request is held open by the control plane. */
const WAIT_SLICE_SECONDS = 20;
/** After this long, say which targets are still not delivered and why. */
const PATIENCE_MS = 3000;

export async function runCommand(client: OperatorClient, o: RunOptions, out = process.stdout, err = process.stderr): Promise<number> {
  const created = await client.createCommands({
    targets: o.all ? { all: true } : { agents: o.agents },
    command: o.command,
    args: o.args,
    ...(o.timeout ? { timeout: o.timeout } : {}),
  });
  const multi = created.length > 1;
  const printed = new Set<string>();
  const startedAt = Date.now();
  let warned = false;
  let latest = created;
  for (;;) {
    const pending = latest.filter((c) => !isFinal(c.status)).map((c) => c.id);
    if (pending.length === 0) break;
    const res = await client.wait(pending, WAIT_SLICE_SECONDS);
    const byId = new Map(latest.map((c) => [c.id, c]));
    for (const c of res.commands) byId.set(c.id, c);
    latest = created.map((c) => byId.get(c.id)!);
    if (!o.json) {
      for (const c of latest) {
        if (isFinal(c.status) && !printed.has(c.id)) {
          printed.add(c.id);
          printResult(c, multi, out, err);
        }
      }
      if (!warned && Date.now() - startedAt > PATIENCE_MS) {
        const stuck = latest.filter((c) => c.status === 'queued' && c.last_push_error);
        if (stuck.length > 0) {
          warned = true;
          for (const c of stuck) err.write(`${c.agent_name}: not delivered yet (${c.last_push_error}); still waiting, Ctrl-C stops waiting\n`);
        }
      }
    }
  }
  if (o.json) {
    out.write(JSON.stringify(latest, null, 2) + '\n');
  } else if (multi) {
    err.write(summary(latest) + '\n');
  }
  return latest.every((c) => c.status === 'succeeded') ? EXIT.ok : EXIT.commandFailed;
}

function printResult(c: CommandRecord, multi: boolean, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  if (!multi) {
    out.write(c.stdout);
    err.write(c.stderr);
    if (c.status !== 'succeeded') err.write(`${c.agent_name}: ${describe(c)}\n`);
    return;
  }
  const prefix = `${c.agent_name}: `;
  out.write(prefixLines(c.stdout, prefix));
  err.write(prefixLines(c.stderr, prefix));
  (c.status === 'succeeded' ? out : err).write(`${prefix}[${describe(c)}]\n`);
}

export function describe(c: CommandRecord): string {
  const parts: string[] = [c.status];
  if (c.exit_code !== null) parts.push(`exit ${c.exit_code}`);
  if (c.signal) parts.push(c.signal);
  if (c.started_at && c.finished_at) parts.push(`${Date.parse(c.finished_at) - Date.parse(c.started_at)} ms`);
  if (c.stdout_truncated || c.stderr_truncated) parts.push(`output truncated, ${c.stdout_bytes + c.stderr_bytes} bytes in all`);
  if (c.error && c.status !== 'succeeded') parts.push(c.error);
  return parts.join(', ');
}

function prefixLines(text: string, prefix: string): string {
  if (text.length === 0) return '';
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  return body.split('\n').map((l) => prefix + l).join('\n') + '\n';
}

function summary(commands: CommandRecord[]): string {
  const counts = new Map<string, number>();
  for (const c of commands) counts.set(c.status, (counts.get(c.status) ?? 0) + 1);
  return [...counts.entries()].map(([s, n]) => `${n} ${s.replace('_', ' ')}`).join(', ');
}

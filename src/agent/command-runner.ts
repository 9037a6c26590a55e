// Runs what the agent accepts, exactly once per command id: the id is journaled before the
// process starts, the result is journaled before it is reported. While the journal cannot be
// written (disk full, read-only), new commands are refused (JournalUnwritableError, HTTP 507) and
// results of commands already running are held in memory and sent all the same.

import type { Logger } from '../common/logger.ts';
import type { AgentCounters } from './agent-counters.ts';
import { ApiError } from '../protocol/errors.ts';
import { ERROR_TEXT_MAX } from '../protocol/limits.ts';
import type { AgentCommandState, CommandResult, Delivery, ExecuteRequest } from '../protocol/wire.ts';
import { OutputStreamer, type SendProgress } from './output-streamer.ts';
import { killStaleGroup, processStartTime } from './process-group.ts';
import { startExecution, type ExecResult, type Execution } from './executor.ts';
import { unlessUnwritable } from './journal-health.ts';
import type { Journal, JournalEntry } from './journal.ts';
import type { ResultReporter } from './result-reporter.ts';
import { upgradeResult } from './upgrade-state.ts';

const DEFAULT_TIMEOUT_SECONDS = 300;

/** Who carries out upgrade commands (Upgrader): they replace the agent instead of running a program. */
export interface UpgradeHandler {
  start(request: ExecuteRequest, startedAt: string): void;
  cancel(id: string): boolean;
}

interface Running {
  execution: Execution;
  request: ExecuteRequest;
  started_at: string;
  streamer: OutputStreamer;
}

export interface RunnerOptions {
  /** Per stream, @default OUTPUT_LIMIT_BYTES (1 MiB), which is also the most. */
  outputLimitBytes?: number;
  /** TERM, then KILL after this, @default 5000 */
  killGraceMs?: number;
  /** Where accepted and finished commands are counted (the metrics). */
  counters?: AgentCounters;
}

export class CommandRunner {
  readonly #journal: Journal;
  readonly #reporter: ResultReporter;
  readonly #log: Logger;
  readonly #opts: RunnerOptions;
  readonly #running = new Map<string, Running>();
  #recovered = false;
  /** Why new commands are refused just now (an upgrade is under way), or null. */
  #refusing: string | null = null;
  #upgrades: UpgradeHandler | null = null;

  readonly #sendProgress: SendProgress;

  constructor(journal: Journal, reporter: ResultReporter, sendProgress: SendProgress, log: Logger, opts: RunnerOptions = {}) {
    this.#journal = journal;
    this.#reporter = reporter;
    this.#sendProgress = sendProgress;
    this.#log = log;
    this.#opts = opts;
  }

  /** Whatever way a delivery came (push, heartbeat reply, long poll), it is handled here. */
  handleDelivery(d: Delivery): void {
    for (const c of d.commands) {
      // Not journaled, so not run: the control plane queues it again when its lease runs out.
      try {
        if (!unlessUnwritable(() => this.execute(c))) this.#log.debug({ command_id: c.command_id }, 'command refused: the journal is not writable');
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 'AGENT_UPGRADING')) throw err;
        this.#log.debug({ command_id: c.command_id }, 'command refused: the agent is upgrading');
      }
    }
    for (const id of d.cancel) this.cancel(id);
  }

  handleUpgradesWith(handler: UpgradeHandler): void {
    this.#upgrades = handler;
  }

  /**
   * While an upgrade is under way (`reason`), new commands are refused with AGENT_UPGRADING: not
   * journaled, so the control plane keeps them queued and they run once, on the new version.
   * A command seen before is still answered from the journal. null: commands are taken again.
   */
  refuse(reason: string | null): void {
    this.#refusing = reason;
  }

  /** Upgrade commands the journal has as running: they are finished by the upgrade, never reported `lost`. */
  unfinishedUpgrades(): JournalEntry[] {
    return unlessUnwritable(() => this.#journal.interrupted().filter((e) => e.request.upgrade !== undefined)) ?? [];
  }

  /** An upgrade command's result, journaled (or held, on a full disk) and reported like any other. */
  finishUpgrade(id: string, result: CommandResult): void {
    if (this.#spool(id, result)) this.#reporter.enqueue(id);
    else this.#reporter.hold(id, result);
  }

  /** Cancels a running command; unknown or finished ones are left alone (a cancel may arrive twice). */
  cancel(id: string): boolean {
    if (this.#upgrades?.cancel(id)) return true;
    const run = this.#running.get(id);
    if (!run) return false;
    this.#log.info({ command_id: id }, 'cancelling command');
    run.execution.cancel();
    return true;
  }

  /**
   * Commands that were running when the agent last stopped are `lost`: their process died with
   * the agent, and running them again could repeat side effects, so they are reported, not re-run.
   */
  recoverInterrupted(): void {
    if (this.#recovered) return;
    // an unwritable journal stops this part way: resume() tries again once it is writable
    unlessUnwritable(() => {
      for (const entry of this.#journal.interrupted()) {
        if (this.#running.has(entry.id) || this.#reporter.heldResult(entry.id)) continue; // this run's own
        if (entry.request.upgrade) continue; // the upgrade itself restarts the agent: UpgradeRecovery finishes it
        const killed = entry.pid !== null && entry.pid_start !== null && killStaleGroup(entry.pid, entry.pid_start);
        this.#log.warn({ command_id: entry.id, killed_leftover_process_group: killed }, 'command was running when the agent stopped: reporting it as lost');
        this.#complete(entry.id, lostResult(entry));
      }
      this.#recovered = true;
    });
  }

  /** The journal is writable again: finish what had to wait for it. */
  resume(): void {
    this.recoverInterrupted();
    this.#reporter.catchUp();
  }

  /** Starts the command unless this id was accepted before; either way says where it stands. */
  execute(request: ExecuteRequest): { duplicate: boolean; state: AgentCommandState } {
    if (this.#refusing !== null) {
      const seen = this.#journal.get(request.command_id);
      if (seen) return { duplicate: true, state: seen.state };
      throw new ApiError('AGENT_UPGRADING', `this agent is ${this.#refusing} and takes no new command until it runs its new version; the command stays queued`);
    }
    const now = new Date().toISOString();
    const { created, entry } = this.#journal.accept(request, now);
    if (!created) return { duplicate: true, state: entry.state };
    if (this.#opts.counters) this.#opts.counters.accepted++;
    if (request.upgrade) {
      if (this.#upgrades) this.#upgrades.start(request, now);
      else this.finishUpgrade(request.command_id, upgradeResult('failed', '', 'this agent cannot upgrade itself', now));
      return { duplicate: false, state: 'running' };
    }
    let streamer: OutputStreamer | undefined;
    const execution = startExecution({
      command: request.command,
      args: request.args ?? [],
      timeoutSeconds: request.timeout ?? DEFAULT_TIMEOUT_SECONDS,
      ...(request.env ? { env: request.env } : {}),
      ...(request.cwd ? { cwd: request.cwd } : {}),
      ...(this.#opts.outputLimitBytes ? { outputLimitBytes: this.#opts.outputLimitBytes } : {}),
      ...(this.#opts.killGraceMs ? { killGraceMs: this.#opts.killGraceMs } : {}),
    }, (stream, chunk) => streamer?.push(stream, chunk));
    const id = request.command_id;
    streamer = new OutputStreamer(id, now, this.#sendProgress, () => this.cancel(id), this.#log, execution);
    this.#running.set(id, { execution, request, started_at: now, streamer });
    if (execution.pid !== undefined) this.#rememberProcess(id, execution.pid);
    this.#log.info({ command_id: id, command: request.command, pid: execution.pid }, 'command started');
    void execution.done.then(async (r) => {
      this.#log.info({ command_id: id, status: r.status, exit_code: r.exit_code }, 'command finished');
      const result = toResult(r);
      const spooled = this.#spool(id, result); // durable first; the output is sent while the control plane takes it
      await streamer.finish();
      if (spooled) this.#reporter.enqueue(id);
      else this.#reporter.hold(id, result);
      this.#running.delete(id);
    }).catch((err: unknown) => this.#log.error({ err, command_id: id }, 'reporting the result failed'));
    return { duplicate: false, state: 'running' };
  }

  /** Throws unless a result from outside may be recorded for `id` (checked before its body is read). */
  checkExternal(id: string): JournalEntry {
    const entry = this.#journal.get(id);
    if (!entry) throw new ApiError('COMMAND_NOT_FOUND', `this agent has no command ${id}`);
    if (this.#running.has(id)) throw new ApiError('COMMAND_STILL_RUNNING');
    return entry;
  }

  /** A final result recorded from outside (POST /api/commands/:id/result on the agent). */
  recordExternal(id: string, result: CommandResult): JournalEntry {
    const entry = this.checkExternal(id);
    if (!entry.result) this.#complete(id, result);
    return this.#journal.get(id)!;
  }

  get(id: string): JournalEntry | undefined {
    const entry = this.#journal.get(id);
    const held = this.#reporter.heldResult(id);
    return entry && held ? { ...entry, state: held.status, result: held } : entry;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  running(): { command_id: string; command: string; started_at: string }[] {
    return [...this.#running.values()].map((r) => ({ command_id: r.request.command_id, command: r.request.command, started_at: r.started_at }));
  }

  /** Stops everything still running (agent shutdown); their results go to the spool as usual. */
  async stopAll(): Promise<void> {
    const runs = [...this.#running.values()];
    for (const r of runs) r.execution.cancel();
    await Promise.all(runs.map((r) => r.execution.done));
  }

  #complete(id: string, result: CommandResult): void {
    if (!this.#journal.finish(id, result)) return;
    this.#opts.counters?.finishedOne(result.status);
    this.#reporter.enqueue(id);
  }

  /** Journals the result; false when the journal cannot take it (the reporter holds it instead). */
  #spool(id: string, result: CommandResult): boolean {
    this.#opts.counters?.finishedOne(result.status);
    return unlessUnwritable(() => this.#journal.finish(id, result)) !== undefined;
  }

  /** Best effort: without it, only a restart after a crash loses the chance to stop a leftover group. */
  #rememberProcess(id: string, pid: number): void {
    unlessUnwritable(() => this.#journal.setProcess(id, pid, processStartTime(pid)));
  }
}

export function toResult(r: ExecResult): CommandResult {
  return {
    status: r.status, exit_code: r.exit_code, signal: r.signal,
    stdout: r.stdout.text, stderr: r.stderr.text,
    stdout_bytes: r.stdout.total_bytes, stderr_bytes: r.stderr.total_bytes,
    stdout_truncated: r.stdout.truncated, stderr_truncated: r.stderr.truncated,
    // an error naming a 4 KiB command would be longer than a result may carry, and refused for good
    error: r.error === null ? null : r.error.slice(0, ERROR_TEXT_MAX), started_at: r.started_at, finished_at: r.finished_at,
  };
}

function lostResult(entry: JournalEntry): CommandResult {
  return {
    status: 'lost', exit_code: null, signal: null, stdout: '', stderr: '', stdout_bytes: 0, stderr_bytes: 0,
    stdout_truncated: false, stderr_truncated: false, error: 'the agent stopped while the command ran; it was not run again',
    started_at: entry.started_at, finished_at: new Date().toISOString(),
  };
}

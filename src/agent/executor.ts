// Runs one command: no shell, its own process group, a timeout that kills the whole group
// (TERM, then KILL after a grace period), output captured per stream with a cap.

import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { OUTPUT_LIMIT_BYTES } from '../protocol/limits.ts';
import { OutputCapture, type CapturedOutput } from './output-capture.ts';

export type ExecStatus = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

export interface ExecSpec {
  command: string;
  args: string[];
  /** Kill the whole process group after this many seconds. */
  timeoutSeconds: number;
  /** Merged over the agent's own environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Per stream, @default OUTPUT_LIMIT_BYTES (1 MiB), which is also the most: results are sized for it. */
  outputLimitBytes?: number;
  /** TERM, then KILL after this, @default 5000 */
  killGraceMs?: number;
}

export interface ExecResult {
  status: ExecStatus;
  exit_code: number | null;
  signal: string | null;
  stdout: CapturedOutput;
  stderr: CapturedOutput;
  error: string | null;
  started_at: string;
  finished_at: string;
}

export interface Execution {
  readonly pid: number | undefined;
  readonly done: Promise<ExecResult>;
  cancel(): void;
  /**
   * Back-pressure: stop reading the command's output (it blocks once the pipes are full) until
   * resumeOutput. A no-op once the command has exited: its pipes are drained whatever happens.
   */
  pauseOutput(): void;
  resumeOutput(): void;
}

/** After the main process exits, how long a background grandchild may keep our pipes open. */
const DRAIN_MS = 1000;

export function startExecution(spec: ExecSpec, onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void): Execution {
  const started_at = new Date().toISOString();
  const limit = Math.min(spec.outputLimitBytes ?? OUTPUT_LIMIT_BYTES, OUTPUT_LIMIT_BYTES);
  const grace = spec.killGraceMs ?? 5000;
  const out = new OutputCapture(limit);
  const err = new OutputCapture(limit);
  let stopReason: 'timed_out' | 'cancelled' | null = null;
  let killTimer: NodeJS.Timeout | undefined;
  let finished = false;

  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      shell: false,
      detached: true, // its own process group, so the whole tree can be signalled at once
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
      env: spec.env ? { ...process.env, ...spec.env } : process.env,
    });
  } catch (e) {
    // spawn refuses some input before any process exists (a NUL byte, say): the command failed
    const error = `could not start ${spec.command}: ${(e as Error).message}`;
    const none = out.result();
    const result: ExecResult = { status: 'failed', exit_code: null, signal: null, stdout: none, stderr: none, error, started_at, finished_at: new Date().toISOString() };
    return { pid: undefined, done: Promise.resolve(result), cancel: () => {}, pauseOutput: () => {}, resumeOutput: () => {} };
  }

  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // ESRCH: the group is already gone
    }
  };

  let markKilled: () => void = () => {};
  const killed = new Promise<void>((r) => (markKilled = r));
  const stop = (reason: 'timed_out' | 'cancelled') => {
    if (finished || stopReason) return;
    stopReason = reason;
    signalGroup('SIGTERM');
    // KILL the group after the grace period even if the leader died: a child may ignore TERM.
    killTimer = setTimeout(() => {
      signalGroup('SIGKILL');
      markKilled();
    }, grace);
  };
  const groupAlive = () => {
    try {
      process.kill(-child.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };

  const timeout = setTimeout(() => stop('timed_out'), spec.timeoutSeconds * 1000);

  let exited = false;
  const pauseOutput = () => {
    if (exited) return;
    child.stdout!.pause();
    child.stderr!.pause();
  };
  const resumeOutput = () => {
    child.stdout!.resume();
    child.stderr!.resume();
  };

  child.stdout!.on('data', (c: Buffer) => {
    out.push(c);
    onOutput?.('stdout', c);
  });
  child.stderr!.on('data', (c: Buffer) => {
    err.push(c);
    onOutput?.('stderr', c);
  });

  const done = new Promise<ExecResult>((resolve) => {
    const finish = (fields: Pick<ExecResult, 'status' | 'exit_code' | 'signal' | 'error'>) => {
      if (finished) return;
      finished = true;
      clearTimeout(timeout);
      resolve({ ...fields, stdout: out.result(), stderr: err.result(), started_at, finished_at: new Date().toISOString() });
    };

    child.once('error', (e: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a late error from a process that started: 'exit' reports it
      clearTimeout(killTimer);
      finish({ status: 'failed', exit_code: null, signal: null, error: spawnError(e, spec) });
    });

    child.once('exit', (code, signal) => {
      exited = true;
      resumeOutput();
      // Wait for the pipes to drain, but not for a background process that inherited them.
      const streamsClosed = new Promise<void>((r) => child.once('close', () => r()));
      const drained = new Promise<void>((r) => setTimeout(r, DRAIN_MS).unref());
      void Promise.race([streamsClosed, drained]).then(async () => {
        child.stdout!.destroy();
        child.stderr!.destroy();
        if (stopReason) {
          // The leader is gone; nothing of its group may outlive a timeout or cancel.
          if (groupAlive()) await killed;
          else clearTimeout(killTimer);
          finish({
            status: stopReason, exit_code: null, signal: signal ?? (code !== null ? null : 'SIGKILL'),
            error: stopReason === 'timed_out' ? `timed out after ${spec.timeoutSeconds} s` : 'cancelled',
          });
          return;
        }
        clearTimeout(killTimer);
        if (code === 0) finish({ status: 'succeeded', exit_code: 0, signal: null, error: null });
        else if (code !== null) finish({ status: 'failed', exit_code: code, signal: null, error: null });
        else finish({ status: 'failed', exit_code: null, signal, error: `killed by ${signal}` });
      });
    });
  });

  return {
    pid: child.pid,
    done,
    cancel: () => stop('cancelled'),
    pauseOutput,
    resumeOutput,
  };
}

function spawnError(e: NodeJS.ErrnoException, spec: ExecSpec): string {
  if (e.code === 'ENOENT') {
    return spec.cwd && !existsDir(spec.cwd) ? `working directory does not exist: ${spec.cwd}` : `executable not found: ${spec.command}`;
  }
  if (e.code === 'EACCES') return `permission denied: ${spec.command}`;
  if (e.code === 'ENOTDIR') return `working directory is not a directory: ${spec.cwd}`;
  return `could not start ${spec.command}: ${e.message}`;
}

function existsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

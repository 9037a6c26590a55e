// What keeps the agent running, and how to bring it back: systemd (the agent is the main process of
// a service unit with Restart=always: exiting is enough, systemd starts the binary again), or nothing
// (started by hand: whoever restarts it spawns the binary again, detached, with the same arguments,
// environment and folder, and the same stdout/stderr, so its log goes where it went).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Supervision } from './upgrade-state.ts';

const run = promisify(execFile);
const SYSTEMCTL_TIMEOUT_MS = 15_000;

/** How this agent process is kept running. */
export async function detectSupervision(): Promise<Supervision> {
  const unit = systemdUnit();
  if (unit !== null) {
    // INVOCATION_ID is inherited by anything a service starts: only the unit's main process is "the agent of the unit"
    const state = await unitState(unit).catch(() => null);
    if (state && state.mainPid === process.pid) return { mode: 'systemd', unit };
  }
  return { mode: 'spawn', args: process.argv.slice(2) };
}

/** The service unit this process runs in (systemd sets INVOCATION_ID; the cgroup names the unit), or null. */
function systemdUnit(): string | null {
  if (!process.env.INVOCATION_ID) return null;
  try {
    const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
    const unit = line?.split('/').pop() ?? '';
    return /^[A-Za-z0-9:_.@\\-]+\.service$/.test(unit) ? unit : null;
  } catch {
    return null;
  }
}

export interface UnitState {
  activeState: string;
  mainPid: number;
  restarts: number;
  /** How the main process last ended: `exited with code 1`, `killed by SIGSEGV`. */
  lastExit: string | null;
}

export async function unitState(unit: string): Promise<UnitState> {
  const { stdout } = await run('systemctl', ['show', unit, '-p', 'ActiveState,MainPID,NRestarts,ExecMainCode,ExecMainStatus'], { timeout: SYSTEMCTL_TIMEOUT_MS });
  const v = Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  // ExecMainCode: 1 = exited, 2 = killed, 3 = dumped core (CLD_* codes)
  const code = Number(v.ExecMainCode);
  const lastExit = code === 1 ? `exited with code ${v.ExecMainStatus}` : code === 2 || code === 3 ? `killed by signal ${v.ExecMainStatus}` : null;
  return { activeState: v.ActiveState ?? '', mainPid: Number(v.MainPID) || 0, restarts: Number(v.NRestarts) || 0, lastExit };
}

/** Starts the unit again from its binary (after a rollback put the old one back), clearing a start-limit failure first. */
export async function restartUnit(unit: string): Promise<void> {
  await run('systemctl', ['reset-failed', unit], { timeout: SYSTEMCTL_TIMEOUT_MS }).catch(() => undefined);
  await run('systemctl', ['restart', unit], { timeout: SYSTEMCTL_TIMEOUT_MS });
}

/**
 * Makes sure the unit runs: a no-op when it does, at once when it waits to be restarted (whatever
 * its Restart= says). Leaves NRestarts alone (reset-failed would zero it).
 */
export async function startUnit(unit: string): Promise<void> {
  await run('systemctl', ['start', unit], { timeout: SYSTEMCTL_TIMEOUT_MS });
}

/** Starts the agent binary detached (its own session), with this process's environment, folder and stdout/stderr. */
export function spawnAgent(binary: string, args: string[]): ChildProcess {
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', 'inherit', 'inherit'], env: process.env, cwd: process.cwd() });
  child.once('error', () => {}); // reported through 'exit' / the caller's checks
  return child;
}

/**
 * Starts the upgrade guard (this binary, `upgrade-guard --state FILE`) so that it outlives the
 * agent: under systemd in a transient unit of its own (stopping or restarting the agent's unit kills
 * every process in it), otherwise detached in its own session.
 */
export async function startGuard(binary: string, planPath: string, supervision: Supervision, commandId: string): Promise<void> {
  const args = ['upgrade-guard', '--state', planPath];
  if (supervision.mode === 'systemd') {
    const unit = `myx-agent-upgrade-guard-${commandId.replace(/[^A-Za-z0-9_-]/g, '')}`;
    await run('systemd-run', [`--unit=${unit}`, '--collect', '--quiet', '--service-type=exec', '--', binary, ...args], { timeout: SYSTEMCTL_TIMEOUT_MS });
    return;
  }
  spawnAgent(binary, args).unref();
}

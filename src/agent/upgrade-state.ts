// The on-disk state of an agent upgrade, in the agent's state dir, shared by the three processes
// that take part: the old agent, the upgrade guard (the old binary, `myx-agent upgrade-guard`, in a
// process of its own) and the new agent. Whatever dies at whatever step, the next one to start reads
// these files and ends with a working agent; the agent's journal says how the upgrade ended.
//
//   upgrade.json           the plan, written by the old agent just before it switches binaries
//   upgrade-decision.json  how it ended, created once (atomically, first writer wins): `confirmed`
//                          by the new agent, or `rolled_back` (with the reason) by whoever gives up
//   upgrade-guard.json     the guard is up and watching (the old agent waits for it before switching)
//
// States, as the files and the binary show them (B = the new version, A = the old one):
//
//   idle ──upgrade command──▶ preparing (download, check, wait for running commands; no file yet)
//     preparing ──plan written, guard up──▶ switching ──binary renamed to B──▶ switched ──A exits──▶ starting B
//     starting B ──B's first heartbeat: decision `confirmed`──▶ confirmed ──journal: succeeded, files removed──▶ idle
//     starting B ──B exits / restarts keep failing / deadline: decision `rolled_back`──▶ rolling back
//     rolling back ──backup renamed over the binary, A started──▶ A: journal failed (reason), files removed──▶ idle
//
// Who finishes what after a crash (each step is idempotent, so doing one twice is harmless):
//   - preparing: no plan. The agent that starts next fails the upgrade command ("stopped before it
//     switched") and removes the half-downloaded file.
//   - switching, binary still A: whoever sees it first (the guard when A's process is gone, or A
//     starting again) decides `rolled_back`; A reports it.
//   - switched or starting B without a guard: B confirms itself after its first heartbeat; if it
//     does not within the deadline (+ a grace), B decides `rolled_back` itself and restores A.
//   - a decision `rolled_back` seen by B when it starts: B restores the backup and restarts into A.
//   - a decision `confirmed` seen when starting: the journal entry is finished (if it was not) and
//     the files removed.

import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ERROR_TEXT_MAX } from '../protocol/limits.ts';
import type { CommandResult } from '../protocol/wire.ts';

/** How the agent comes back after it exits: systemd restarts the unit, or someone spawns the binary. */
export type Supervision =
  | { mode: 'systemd'; unit: string }
  | { mode: 'spawn'; /** the agent's arguments (argv without the binary) */ args: string[] };

export interface UpgradePlan {
  command_id: string;
  from: string;
  to: string;
  sha256: string;
  /** The binary being replaced (the running agent's). */
  binary: string;
  /** Where the previous binary is kept. */
  backup: string;
  /** The checked new binary before it takes the binary's place (same folder). */
  download: string;
  /** Inode of the new binary: the binary has it once the switch happened. */
  new_inode: number;
  supervision: Supervision;
  /** The old agent's process (pid and start time, so a reused pid is not mistaken for it). */
  old_pid: number;
  old_start: string | null;
  /** How long the new version has to reach the control plane. */
  confirm_seconds: number;
  /** What the upgrade command printed so far: its result's output starts with it. */
  log: string;
  written_at: string;
}

export type UpgradeDecision =
  | { outcome: 'confirmed'; at: string }
  | { outcome: 'rolled_back'; reason: string; at: string };

export class UpgradeFiles {
  readonly planPath: string;
  readonly decisionPath: string;
  readonly guardPath: string;
  readonly #dir: string;

  constructor(stateDir: string) {
    this.#dir = stateDir;
    this.planPath = join(stateDir, 'upgrade.json');
    this.decisionPath = join(stateDir, 'upgrade-decision.json');
    this.guardPath = join(stateDir, 'upgrade-guard.json');
  }

  readPlan(): UpgradePlan | null {
    return readJson<UpgradePlan>(this.planPath);
  }

  writePlan(plan: UpgradePlan): void {
    writeAtomic(this.#dir, this.planPath, plan);
  }

  readDecision(): UpgradeDecision | null {
    return readJson<UpgradeDecision>(this.decisionPath);
  }

  /**
   * Decides how the upgrade ended, unless that is decided already: the decision in force comes back
   * (`decision` itself when this call made it). A hard link either creates the name or fails, so two
   * processes deciding at once cannot both win, and the file is never seen half written.
   */
  decide(decision: UpgradeDecision): { decision: UpgradeDecision; ours: boolean } {
    const tmp = this.#temp('decision');
    writeFull(tmp, decision);
    try {
      linkSync(tmp, this.decisionPath);
      return { decision, ours: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const existing = this.readDecision();
      if (existing) return { decision: existing, ours: false };
      throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** The guard says it is watching the upgrade `commandId`. */
  markGuardReady(commandId: string, pid: number): void {
    writeAtomic(this.#dir, this.guardPath, { command_id: commandId, pid });
  }

  guardReady(commandId: string): boolean {
    return readJson<{ command_id: string }>(this.guardPath)?.command_id === commandId;
  }

  /** The plan first: without it nothing acts on a leftover decision. */
  clear(): void {
    for (const path of [this.planPath, this.decisionPath, this.guardPath]) rmSync(path, { force: true });
  }

  #temp(what: string): string {
    return join(this.#dir, `.upgrade-${what}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  }
}

function readJson<T>(path: string): T | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    return null; // written atomically, so only a hand-edited file is unreadable: treated as absent
  }
}

function writeFull(path: string, value: unknown): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAtomic(dir: string, path: string, value: unknown): void {
  const tmp = join(dir, `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  writeFull(tmp, value);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** How the agent process should end after an upgrade step: exit, and (started by hand) start this binary first. */
export interface ExitRequest {
  reason: string;
  spawn?: { binary: string; args: string[] };
}

/** An upgrade command's result: no process ran, so no exit code; the output says what happened. */
export function upgradeResult(status: 'succeeded' | 'failed' | 'cancelled', stdout: string, error: string | null, startedAt: string | null): CommandResult {
  return {
    status, exit_code: null, signal: null, stdout, stderr: '', stdout_bytes: Buffer.byteLength(stdout), stderr_bytes: 0,
    stdout_truncated: false, stderr_truncated: false, error: error === null ? null : error.slice(0, ERROR_TEXT_MAX),
    started_at: startedAt, finished_at: new Date().toISOString(),
  };
}

// What an agent does about an upgrade when it starts (the states are in upgrade-state.ts). The new
// version takes no command until its first heartbeat went through; then it decides `confirmed` and
// reports the upgrade `succeeded`. The old version, started again after a rollback (or a crash before
// the switch), reports it `failed` with the reason. Either way the upgrade command's journal entry is
// finished here, never reported `lost`: a restart is what an upgrade is for.

import { rmSync } from 'node:fs';
import type { Logger } from '../common/logger.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import type { CommandResult } from '../protocol/wire.ts';
import { agentBinary, binaryAt, removeStaleDownloads, restoreBinary } from './agent-binary.ts';
import type { JournalEntry } from './journal.ts';
import { detectSupervision } from './supervision.ts';
import { upgradeResult, type ExitRequest, type UpgradeFiles, type UpgradePlan } from './upgrade-state.ts';

/** After the guard's deadline, how long the new version waits before it rolls itself back (the guard is gone). */
const SELF_ROLLBACK_GRACE_SECONDS = 15;

export type StartOutcome =
  /** Nothing pending: start as usual. */
  | { kind: 'none' }
  /** This is the new version of an upgrade: take no command until the first heartbeat confirms it. */
  | { kind: 'unconfirmed'; plan: UpgradePlan }
  /** The upgrade was rolled back and the old binary is in place again: end this process and start that one. */
  | { kind: 'restart'; exit: ExitRequest };

export interface RecoveryDeps {
  files: UpgradeFiles;
  log: Logger;
  /** Upgrade commands the journal still has as running. */
  unfinishedUpgrades: () => JournalEntry[];
  /** When the journal says the command started (its result says so too). */
  startedAt: (id: string) => string | null;
  /** The upgrade this process is carrying out now, if any (its entry is running, and rightly so). */
  inProgress: () => string | null;
  finish: (id: string, result: CommandResult) => void;
}

export class UpgradeRecovery {
  readonly #deps: RecoveryDeps;
  #plan: UpgradePlan | null = null;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: RecoveryDeps) {
    this.#deps = deps;
  }

  /** Reads the upgrade state left by the previous process and finishes what can be finished now. */
  async atStart(): Promise<StartOutcome> {
    const { files, log } = this.#deps;
    const plan = files.readPlan();
    this.finishInterrupted(plan?.command_id ?? null);
    if (!plan) {
      files.clear();
      const binary = agentBinary();
      if (binary) removeStaleDownloads(binary);
      return { kind: 'none' };
    }
    const decision = files.readDecision();
    if (MYX_VERSION === plan.to) {
      if (decision?.outcome === 'confirmed') {
        this.#succeed(plan);
        return { kind: 'none' };
      }
      if (decision?.outcome === 'rolled_back') {
        // the one who decided did not get to put the old binary back (or is doing it now: restoring is idempotent)
        log.warn({ command_id: plan.command_id, reason: decision.reason }, `upgrade to ${plan.to} was rolled back: restoring ${plan.from} and restarting into it`);
        return { kind: 'restart', exit: await this.#rollBack(plan) };
      }
      this.#plan = plan;
      log.info({ command_id: plan.command_id, from: plan.from, to: plan.to }, `upgraded from ${plan.from}: taking no command until the control plane is reached (within ${plan.confirm_seconds} s, or ${plan.from} comes back)`);
      this.#timer = setTimeout(() => void this.#giveUp(plan), (plan.confirm_seconds + SELF_ROLLBACK_GRACE_SECONDS) * 1000);
      this.#timer.unref();
      return { kind: 'unconfirmed', plan };
    }
    // The old version (or another one) runs: whatever happened, the upgrade did not take.
    const final = decision ?? files.decide({
      outcome: 'rolled_back', at: new Date().toISOString(), reason: `the agent was started again on ${MYX_VERSION} before ${plan.to} took over`,
    }).decision;
    const reason = final.outcome === 'rolled_back'
      ? final.reason
      : `${plan.to} was confirmed, but the agent runs ${MYX_VERSION} now (was the binary replaced by hand?)`;
    this.#fail(plan, reason);
    return { kind: 'none' };
  }

  /**
   * Upgrade commands the journal has as running but no plan names: the agent stopped before it
   * switched (while it downloaded, or waited for commands). Called at start, and again once a
   * journal that could not be read becomes readable; finishing one twice changes nothing.
   */
  finishInterrupted(planned: string | null = this.#plan?.command_id ?? null): void {
    for (const e of this.#deps.unfinishedUpgrades()) {
      if (planned === e.id || this.#deps.inProgress() === e.id) continue;
      const reason = `the agent stopped during the upgrade to ${e.request.upgrade?.version ?? '?'}, before it switched: still on ${MYX_VERSION}`;
      this.#deps.log.warn({ command_id: e.id }, reason);
      this.#deps.finish(e.id, upgradeResult('failed', `${reason}\n`, reason, e.started_at));
    }
  }

  /**
   * The new version reached the control plane: the upgrade succeeded, unless it was rolled back
   * meanwhile (then this process must end: the guard puts the old version back).
   */
  confirm(): 'confirmed' | 'rolled_back' | 'none' {
    const plan = this.#plan;
    if (!plan) return 'none';
    const { decision } = this.#deps.files.decide({ outcome: 'confirmed', at: new Date().toISOString() });
    this.#plan = null;
    clearTimeout(this.#timer);
    if (decision.outcome === 'rolled_back') {
      this.#deps.log.error({ command_id: plan.command_id, reason: decision.reason }, `the upgrade to ${plan.to} was rolled back before it reached the control plane: ${decision.reason}`);
      return 'rolled_back';
    }
    this.#succeed(plan);
    return 'confirmed';
  }

  /** Set by the daemon: how this process ends when it rolls itself back. */
  onGiveUp: (exit: ExitRequest) => void = () => {};

  stop(): void {
    clearTimeout(this.#timer);
  }

  /** No confirmation long after the guard's deadline: the guard is gone, so this version rolls itself back. */
  async #giveUp(plan: UpgradePlan): Promise<void> {
    if (this.#plan !== plan) return;
    const reason = `version ${plan.to} did not reach the control plane within ${plan.confirm_seconds} s`;
    const { decision, ours } = this.#deps.files.decide({ outcome: 'rolled_back', at: new Date().toISOString(), reason });
    if (decision.outcome === 'confirmed') return;
    this.#plan = null;
    this.#deps.log.error({ command_id: plan.command_id }, `${reason}: rolling back to ${plan.from}`);
    this.onGiveUp(ours ? await this.#rollBack(plan) : { reason: 'upgrade rolled back by the guard' });
  }

  async #rollBack(plan: UpgradePlan): Promise<ExitRequest> {
    restoreBinary(binaryAt(plan.binary));
    const supervision = await detectSupervision();
    return {
      reason: `rolled back to ${plan.from}`,
      ...(supervision.mode === 'spawn' ? { spawn: { binary: plan.binary, args: supervision.args } } : {}),
    };
  }

  #succeed(plan: UpgradePlan): void {
    const line = `upgraded ${plan.from} -> ${plan.to}`;
    this.#deps.log.info({ command_id: plan.command_id }, line);
    this.#deps.finish(plan.command_id, upgradeResult('succeeded', `${plan.log}${line}\n`, null, this.#deps.startedAt(plan.command_id)));
    this.#deps.files.clear();
  }

  #fail(plan: UpgradePlan, reason: string): void {
    const error = `${reason}; rolled back to ${MYX_VERSION}`;
    this.#deps.log.error({ command_id: plan.command_id }, `upgrade to ${plan.to} failed: ${error}`);
    this.#deps.finish(plan.command_id, upgradeResult('failed', `${plan.log}${error}\n`, error, this.#deps.startedAt(plan.command_id)));
    this.#deps.files.clear();
    rmSync(plan.download, { force: true });
  }
}

// `myx-agent upgrade-guard --state FILE`: the watcher of an upgrade, run from the OLD binary in a
// process of its own (a transient systemd unit, or its own session), so that a new version that
// crashes at start, hangs or cannot reach the control plane is rolled back without anyone logging
// in. It waits for the old agent to exit, sees the new version start (starting it itself when the
// agent was started by hand), and waits for the new version's confirmation in the state files. No
// confirmation by the deadline, or the new process dying first: it decides `rolled_back`, puts the
// previous binary back and starts it; that agent reports the upgrade failed with the reason.

import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../common/logger.ts';
import { binaryAt, inodeOf, restoreBinary } from './agent-binary.ts';
import { processAlive } from './process-group.ts';
import { restartUnit, spawnAgent, startUnit, unitState } from './supervision.ts';
import { UpgradeFiles, type UpgradePlan } from './upgrade-state.ts';

/** The old agent has this long to exit after the guard is up; then it is killed (its commands are done). */
const OLD_EXIT_MS = 60_000;
/** systemd restarts of the new version (after the guard's own start) that mean "it keeps dying". */
const RESTARTS_GIVING_UP = 2;
/** A new version being stopped for a rollback gets this long before SIGKILL. */
const STOP_GRACE_MS = 10_000;

export async function runUpgradeGuard(planPath: string, log: Logger): Promise<void> {
  const files = new UpgradeFiles(dirname(planPath));
  const plan = files.readPlan();
  if (!plan) {
    log.info({ state: planPath }, 'no upgrade in progress: nothing to watch');
    return;
  }
  const stillPlanned = () => files.readPlan()?.command_id === plan.command_id;
  files.markGuardReady(plan.command_id, process.pid);
  log.info({ command_id: plan.command_id, from: plan.from, to: plan.to, supervision: plan.supervision.mode }, `watching the upgrade from ${plan.from} to ${plan.to}`);

  // 1. The old agent switches binaries and exits (or gives up, and removes the plan).
  const exitBy = Date.now() + OLD_EXIT_MS;
  while (processAlive(plan.old_pid, plan.old_start)) {
    if (!stillPlanned()) return log.info({ command_id: plan.command_id }, 'the upgrade was given up before the switch: nothing to do');
    if (Date.now() > exitBy) {
      log.warn({ pid: plan.old_pid }, `the old agent did not exit within ${OLD_EXIT_MS / 1000} s: killing it`);
      try {
        process.kill(plan.old_pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await sleep(100);
  }
  if (!stillPlanned() || files.readDecision()) return;
  if (inodeOf(plan.binary) !== plan.new_inode) {
    // it stopped before the switch: the old binary is in place, and it only has to run again
    const { ours } = files.decide({ outcome: 'rolled_back', at: new Date().toISOString(), reason: `the agent stopped before it switched to ${plan.to}` });
    if (ours) await startAgain(plan, log, false);
    return;
  }

  // 2. The new version comes back and confirms, or it does not.
  const watch = await watchNewVersion(plan, files, log);
  if (watch.reason === null) return;
  const { ours } = files.decide({ outcome: 'rolled_back', at: new Date().toISOString(), reason: watch.reason });
  if (!ours) {
    watch.child?.unref(); // it confirmed just now
    return;
  }
  log.error({ command_id: plan.command_id }, `${watch.reason}: rolling back to ${plan.from}`);
  if (watch.child) await stopChild(watch.child);
  restoreBinary(binaryAt(plan.binary));
  await startAgain(plan, log, true);
  log.info({ command_id: plan.command_id }, `${plan.from} is back in place and started`);
}

/** Why the new version is given up, or null when it confirmed (or someone else decided). */
async function watchNewVersion(plan: UpgradePlan, files: UpgradeFiles, log: Logger): Promise<{ reason: string | null; child?: ChildProcess }> {
  let exited: string | null = null;
  let child: ChildProcess | undefined;
  let restartsBefore = 0;
  if (plan.supervision.mode === 'systemd') {
    // systemd restarts the unit itself (Restart=always); starting it here changes nothing then, and
    // makes the new version start whatever Restart= says, without waiting out RestartSec
    const unit = plan.supervision.unit;
    await startUnit(unit).catch((err: unknown) => log.warn({ err }, `systemctl start ${unit} failed`));
    restartsBefore = (await unitState(unit).catch(() => null))?.restarts ?? 0;
    log.info({ unit }, `${unit} started with ${plan.to}`);
  } else {
    child = spawnAgent(plan.binary, plan.supervision.args);
    child.once('exit', (code, signal) => (exited = code !== null ? `exited with code ${code}` : `was killed by ${signal}`));
    child.once('error', (err) => (exited = `could not start: ${err.message}`));
    log.info({ agent_pid: child.pid }, `started ${plan.to}`);
  }
  const deadline = Date.now() + plan.confirm_seconds * 1000;
  for (;;) {
    if (files.readDecision() || files.readPlan()?.command_id !== plan.command_id) {
      child?.unref();
      return { reason: null };
    }
    if (exited) return { reason: `version ${plan.to} did not come back: it ${exited} before it reached the control plane`, ...(child ? { child } : {}) };
    if (plan.supervision.mode === 'systemd') {
      const state = await unitState(plan.supervision.unit).catch(() => null);
      const restarts = state ? state.restarts - restartsBefore : 0;
      if (state && (state.activeState === 'failed' || restarts >= RESTARTS_GIVING_UP)) {
        return { reason: `version ${plan.to} did not come back: it ${state.lastExit ?? 'stopped'} (restarted ${restarts} times) before it reached the control plane` };
      }
    }
    if (Date.now() >= deadline) return { reason: `version ${plan.to} did not reach the control plane within ${plan.confirm_seconds} s`, ...(child ? { child } : {}) };
    await sleep(plan.supervision.mode === 'systemd' ? 500 : 100);
  }
}

/**
 * The old binary runs again: by hand, the guard starts it; under systemd, the unit is restarted
 * (`replace`: the new version may still run in it, and a failed unit is reset) or just started.
 */
async function startAgain(plan: UpgradePlan, log: Logger, replace: boolean): Promise<void> {
  const s = plan.supervision;
  if (s.mode === 'systemd') {
    if (!replace) return startUnit(s.unit);
    if ((await unitState(s.unit).catch(() => null))?.activeState === 'inactive') {
      // stopped on purpose (`systemctl stop`) while the new version started: the old binary is back, and stays stopped
      log.info({ unit: s.unit }, `${s.unit} was stopped: ${plan.from} is back in place, not started`);
      return;
    }
    await restartUnit(s.unit).catch(async (err: unknown) => {
      log.error({ err }, `restarting ${s.unit} failed; trying to start it`);
      await startUnit(s.unit);
    });
    return;
  }
  const child = spawnAgent(plan.binary, s.args);
  log.info({ agent_pid: child.pid }, `started ${plan.from} again`);
  child.unref();
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // gone
    }
  };
  group('SIGTERM');
  const timer = setTimeout(() => group('SIGKILL'), STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

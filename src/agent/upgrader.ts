// The old agent's part of an upgrade (the states are in upgrade-state.ts): fetch the release's
// binary over the pinned channel and check it, take no new command and let the running ones finish
// (bounded: past the limit the upgrade fails and nothing is killed), write the plan, start the guard
// that will watch the new version, switch binaries with one rename, and exit. The new version (or
// the old one, rolled back) reports how it ended: this process never sees the end of its upgrade.

import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../common/logger.ts';
import { MYX_VERSION } from '../protocol/version.ts';
import type { CommandResult, ExecuteRequest, UpgradeSpec } from '../protocol/wire.ts';
import { agentBinary, inodeOf, switchBinary, type AgentBinary } from './agent-binary.ts';
import type { ControlClient } from './control-client.ts';
import { OutputStreamer, type SendProgress } from './output-streamer.ts';
import { processStartTime } from './process-group.ts';
import { downloadRelease } from './release-download.ts';
import { detectSupervision, startGuard } from './supervision.ts';
import { upgradeResult, type ExitRequest, type UpgradeFiles, type UpgradePlan } from './upgrade-state.ts';

/** How long the guard may take to say it is watching before the upgrade is given up (nothing switched). */
const GUARD_READY_MS = 15_000;

export interface UpgradeTimes {
  /** How long the new version has to reach the control plane before it is rolled back. @default 60 */
  confirmSeconds: number;
  /** How long running commands may take to finish before the upgrade gives up. @default 300 */
  drainSeconds: number;
}

export interface UpgraderDeps {
  log: Logger;
  client: ControlClient;
  files: UpgradeFiles;
  times: UpgradeTimes;
  sendProgress: SendProgress;
  /** How many commands run now. */
  running: () => number;
  /** Take no new command (`reason`), or take them again (null). */
  refuse: (reason: string | null) => void;
  /** Journals and reports the upgrade command's result. */
  finish: (id: string, result: CommandResult) => void;
  /** The switch is done: the agent process should end now. */
  exit: (request: ExitRequest) => void;
}

class Cancelled extends Error {}

export class Upgrader {
  readonly #deps: UpgraderDeps;
  #current: { id: string; abort: AbortController } | null = null;
  #stopped = false;

  constructor(deps: UpgraderDeps) {
    this.#deps = deps;
  }

  /** The id of the upgrade in progress, if any. */
  get current(): string | null {
    return this.#current?.id ?? null;
  }

  /** The command was just journaled; its upgrade runs in the background. */
  start(request: ExecuteRequest, startedAt: string): void {
    const abort = new AbortController();
    this.#current = { id: request.command_id, abort };
    void this.#run(request.command_id, request.upgrade!, startedAt, abort.signal).catch((err: unknown) => {
      this.#deps.log.error({ err, command_id: request.command_id }, 'the upgrade failed unexpectedly');
    });
  }

  /**
   * The agent is stopping (SIGTERM, `systemctl stop`): an upgrade not switched yet is given up,
   * silently (the next start reports it failed), so that nothing starts the agent again behind the
   * operator's back.
   */
  stop(): void {
    this.#stopped = true;
    this.#current?.abort.abort();
  }

  /** Before the switch an upgrade can be cancelled (`myx cancel`); after it, it is too late. */
  cancel(id: string): boolean {
    if (this.#current?.id !== id || this.#current.abort.signal.aborted) return false;
    this.#current.abort.abort();
    return true;
  }

  async #run(id: string, spec: UpgradeSpec, startedAt: string, signal: AbortSignal): Promise<void> {
    const { log, files } = this.#deps;
    const out = new OutputStreamer(id, startedAt, this.#deps.sendProgress, () => this.cancel(id), log);
    let text = '';
    const say = (line: string) => {
      text += `${line}\n`;
      out.push('stdout', Buffer.from(`${line}\n`));
      log.info({ command_id: id, version: spec.version }, `upgrade: ${line}`);
    };
    const end = async (status: 'succeeded' | 'failed' | 'cancelled', error: string | null) => {
      if (error) say(error);
      await out.finish();
      this.#current = null;
      this.#deps.refuse(null);
      this.#deps.finish(id, upgradeResult(status, text, error, startedAt));
    };

    if (spec.version === MYX_VERSION) {
      say(`already on ${spec.version}`);
      return end('succeeded', null);
    }
    const binary = agentBinary();
    if (!binary) {
      return end('failed', `this agent runs from sources (${process.argv[1] ?? 'node'}), not the myx-agent binary, so it cannot replace itself: upgrade it with your package manager or git`);
    }
    this.#deps.refuse(`upgrading to ${spec.version}`);
    const download = binary.downloadFor(id);
    let planned = false;
    try {
      say(`downloading myx-agent ${spec.version} (${spec.size >= 2 ** 20 ? `${(spec.size / 2 ** 20).toFixed(1)} MiB` : `${spec.size} bytes`}) from the control plane`);
      rmSync(download, { force: true });
      await downloadRelease(this.#deps.client, spec, download, signal);
      say(`checked: ${spec.size} bytes, SHA-256 ${spec.sha256}`);
      await runsHere(download, spec.version);
      check(signal);
      await this.#drain(say, signal);
      const supervision = await detectSupervision();
      say(`switching ${binary.path} from ${MYX_VERSION} to ${spec.version} and restarting (${supervision.mode === 'systemd' ? `systemd unit ${supervision.unit}` : 'started by hand'}); `
        + `the previous binary stays at ${binary.backup}`);
      await out.finish(); // the plan's log is what the operator saw: the result's output goes on from there
      check(signal);
      const plan = this.#plan(id, spec, binary, download, supervision, text);
      files.clear(); // what a finished upgrade could have left
      files.writePlan(plan);
      planned = true;
      await startGuard(process.execPath, files.planPath, supervision, id);
      await this.#guardReady(id);
      check(signal);
      switchBinary(binary, download);
      log.info({ command_id: id, from: MYX_VERSION, to: spec.version }, `switched to ${spec.version}: restarting into it`);
      this.#deps.exit({ reason: `upgrade to ${spec.version}` });
    } catch (err) {
      if (planned) files.clear(); // the guard, seeing no plan, leaves
      rmSync(download, { force: true });
      if (this.#stopped) return; // the journal is closing: the next start finishes the command
      if (err instanceof Cancelled || signal.aborted) return end('cancelled', `cancelled before the switch: still on ${MYX_VERSION}`);
      return end('failed', `not upgraded, still on ${MYX_VERSION}: ${(err as Error).message}`);
    }
  }

  /** Running commands finish first (never killed): past the limit, the upgrade gives up. */
  async #drain(say: (line: string) => void, signal: AbortSignal): Promise<void> {
    const { running, times } = this.#deps;
    if (running() === 0) return;
    say(`waiting for ${running()} running command${running() === 1 ? '' : 's'} to finish (up to ${times.drainSeconds} s); new commands wait for the new version`);
    const until = Date.now() + times.drainSeconds * 1000;
    while (running() > 0) {
      check(signal);
      if (Date.now() >= until) {
        throw new Error(`${running()} command${running() === 1 ? ' was' : 's were'} still running after ${times.drainSeconds} s (nothing was stopped); try again when they are done`);
      }
      await sleep(200);
    }
    say('no command running any more');
  }

  #plan(id: string, spec: UpgradeSpec, binary: AgentBinary, download: string, supervision: UpgradePlan['supervision'], log: string): UpgradePlan {
    return {
      command_id: id, from: MYX_VERSION, to: spec.version, sha256: spec.sha256, binary: binary.path, backup: binary.backup, download,
      new_inode: inodeOf(download)!, supervision, old_pid: process.pid, old_start: processStartTime(process.pid),
      confirm_seconds: this.#deps.times.confirmSeconds, log, written_at: new Date().toISOString(),
    };
  }

  async #guardReady(id: string): Promise<void> {
    const until = Date.now() + GUARD_READY_MS;
    while (!this.#deps.files.guardReady(id)) {
      if (Date.now() >= until) throw new Error(`the upgrade guard did not start within ${GUARD_READY_MS / 1000} s, so nothing was switched`);
      await sleep(50);
    }
  }
}

function check(signal: AbortSignal): void {
  if (signal.aborted) throw new Cancelled('cancelled');
}

/** The new binary must at least start here and know its version before anything depends on it. */
function runsHere(path: string, version: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(path, ['--version'], { timeout: 30_000, env: { PATH: '/usr/bin:/bin' } }, (err, stdout, stderr) => {
      const said = stdout.trim();
      if (!err && said === version) return resolve();
      const why = err ? `${err.message.split('\n')[0]}${stderr.trim() ? `: ${stderr.trim().slice(0, 300)}` : ''}` : `it says it is ${JSON.stringify(said.slice(0, 64))}`;
      reject(new Error(`the new binary does not run on this host (\`myx-agent --version\`: ${why})`));
    });
  });
}

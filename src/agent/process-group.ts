// Finding and stopping a process group a previous run of the agent left behind. A pid alone may
// have been reused since, so it is matched with the process's start time from /proc.

import { readFileSync } from 'node:fs';

/** Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), or null. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Kills the group led by `pid` if that is still the process that was started then. */
export function killStaleGroup(pid: number, startTime: string): boolean {
  if (processStartTime(pid) !== startTime) return false;
  try {
    process.kill(-pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** True while the process started then as `pid` runs (a zombie, or another process that got its pid, is not it). */
export function processAlive(pid: number, startTime: string | null): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] !== 'Z' && fields[0] !== 'X' && (startTime === null || fields[19] === startTime);
}

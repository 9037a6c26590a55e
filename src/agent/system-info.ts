// Facts about this host that the agent reports: name and operating system.

import { readFileSync } from 'node:fs';
import { arch, hostname, release, type } from 'node:os';

let cachedOs: string | undefined;

export function hostName(): string {
  return hostname();
}

/** "Debian GNU/Linux 12 (bookworm), Linux 6.1.0 x64" where /etc/os-release tells, else the kernel. */
export function osDescription(): string {
  if (cachedOs) return cachedOs;
  let pretty = '';
  try {
    pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // not Linux, or a minimal image: the kernel line is enough
  }
  cachedOs = `${pretty ? pretty + ', ' : ''}${type()} ${release()} ${arch()}`.slice(0, 255);
  return cachedOs;
}

/** An agent name from the host name: what the control plane accepts as a name. */
export function defaultAgentName(): string {
  const name = hostname().replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return name.length > 0 ? name : 'agent';
}

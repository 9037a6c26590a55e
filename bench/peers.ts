// The tools operators use today, set up on this machine by ../shared/peers/sshd-up.sh (a private
// sshd on 127.0.0.0/8:2222), so the benchmarks measure them in the same run as myx.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib.ts';

export interface Peers {
  dir: string;
  env: NodeJS.ProcessEnv;
  ssho: string;
  pdsh: boolean;
  ansible: boolean;
}

const SETUP = join(ROOT, '..', 'shared', 'peers', 'sshd-up.sh');

/** Starts the peers' sshd (installing it on first use); null, with the reason printed, when it cannot. */
export function setUpPeers(dir = '/tmp/myx-peers'): Peers | null {
  if (process.env.MYX_BENCH_PEERS === '0') return note('MYX_BENCH_PEERS=0');
  if (!existsSync(SETUP)) return note(`${SETUP} not found`);
  const r = spawnSync('bash', [SETUP, dir], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return note(`sshd-up.sh failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
  const envText = readFileSync(join(dir, 'env.sh'), 'utf8');
  const ssho = /export SSHO="([^"]*)"/.exec(envText)![1]!;
  const env: NodeJS.ProcessEnv = {
    ...process.env, SSHO: ssho, PEERS_DIR: dir, ANSIBLE_CONFIG: join(dir, 'ansible.cfg'),
    PDSH_SSH_ARGS: `-a -x -p 2222 ${ssho} -l%u %h`, ANSIBLE_HOST_KEY_CHECKING: 'False',
  };
  const has = (c: string) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0;
  return { dir, env, ssho, pdsh: has('pdsh'), ansible: has('ansible') };
}

/** An Ansible inventory of `n` loopback hosts 127.0.0.1..n. */
export function inventory(peers: Peers, n: number): string {
  const path = join(peers.dir, `inv_${n}.ini`);
  const hosts = Array.from({ length: n }, (_, i) => `127.0.0.${i + 1} ansible_port=2222 ansible_user=root ansible_ssh_private_key_file=${peers.dir}/id_ed25519`);
  writeFileSync(path, `[all]\n${hosts.join('\n')}\n`);
  return path;
}

function note(why: string): null {
  console.log(`(peers skipped: ${why})`);
  return null;
}

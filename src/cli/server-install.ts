// `myx server install`: the control plane as a systemd service. Copies the release (myx, myx-agent,
// SHA256SUMS, each checked) to /usr/local/lib/myx, so the control plane hands out the agent from its
// own folder; links /usr/local/bin/myx; creates the `myx` system user; writes myx-server.service
// (sandboxed, data in /var/lib/myx) and starts it. Running it again updates what changed.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readFile, readlink, realpath, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/files.ts';
import { SERVER_DATA_DIR, SERVER_ENV_FILE, SERVER_UNIT_NAME, SERVER_USER, serverUnit } from '../server/install/server-unit.ts';
import { parseHostPort, redactUrl } from '../server/options.ts';
import { checksumOf } from '../server/release-dir.ts';
import { CliError } from './fail.ts';

export interface ServerInstallOptions {
  /** Every path under this folder (tests, images); '' or undefined: the real system. */
  prefix?: string;
  /** The release to install: myx, myx-agent, SHA256SUMS. */
  releaseDir: string;
  listen: string;
  publicUrl?: string;
  /**
   * A PostgreSQL URL: written to the unit's environment file (0600) as MYX_DATABASE_URL. Unset:
   * that file is left as it is (none: SQLite in the data dir).
   */
  databaseUrl?: string;
  noStart: boolean;
}

const FILES = ['myx', 'myx-agent', 'SHA256SUMS'] as const;
type State = 'installed' | 'updated' | 'unchanged';

export async function installServer(o: ServerInstallOptions): Promise<string> {
  const prefix = checkPrefix(o.prefix ?? '');
  if (!prefix && process.getuid?.() !== 0) {
    throw new CliError('this needs root (it writes /usr/local, /etc/systemd and creates the myx user): run it with sudo, or pass --prefix DIR to install under DIR');
  }
  const { port } = parseHostPort(o.listen, '--listen');
  if (o.publicUrl !== undefined && !/^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$|^https:\/\/\[[0-9A-Fa-f:.]+\](:\d{1,5})?\/?$/.test(o.publicUrl)) {
    throw new CliError(`--public-url must look like https://HOST:PORT, got "${o.publicUrl}"`);
  }
  const systemd = systemdRunning();
  if (!o.noStart && !systemd) {
    throw new CliError('systemd is not running on this host, so the control plane cannot be started as a service: add --no-start to install it anyway');
  }
  const libDir = `${prefix}/usr/local/lib/myx`;
  const binLink = `${prefix}/usr/local/bin/myx`;
  const unitPath = `${prefix}/etc/systemd/system/${SERVER_UNIT_NAME}`;
  const envFile = `${prefix}${SERVER_ENV_FILE}`;
  // Render before anything is written: a value the unit cannot hold stops us here.
  const unit = serverUnit({ libDir, listen: o.listen, port, envFile, ...(o.publicUrl ? { publicUrl: o.publicUrl.replace(/\/$/, '') } : {}) });
  const envText = o.databaseUrl === undefined ? null : environmentFile(o.databaseUrl);
  const sums = await checkRelease(o.releaseDir);

  await mkdir(libDir, { recursive: true, mode: 0o755 });
  const states: Record<string, State> = {};
  for (const name of FILES) states[name] = await place(join(o.releaseDir, name), join(libDir, name), name === 'SHA256SUMS' ? 0o644 : 0o755, sums[name]);
  const linkState = await placeLink(binLink, '../lib/myx/myx');
  const userState = prefix ? 'not created: --prefix' : ensureUser();
  const unitState = await placeText(unitPath, unit);
  const envState = envText === null ? null : await placeText(envFile, envText, 0o600);
  const store = envText !== null ? `PostgreSQL ${redactUrl(new URL(o.databaseUrl!))}: MYX_DATABASE_URL in ${envFile} (0600, ${envState})`
    : existsSync(envFile) ? `as ${envFile} says (left as it is)` : `SQLite in ${SERVER_DATA_DIR}`;

  let service = 'not started (--no-start)';
  if (!o.noStart) {
    if (prefix) systemctl(['link', unitPath]);
    systemctl(['daemon-reload']);
    const changed = Object.values(states).some((s) => s !== 'unchanged') || unitState !== 'unchanged' || (envState !== null && envState !== 'unchanged');
    if (changed && spawnSync('systemctl', ['is-active', '--quiet', SERVER_UNIT_NAME]).status === 0) {
      systemctl(['restart', SERVER_UNIT_NAME]);
      service = 'restarted (new release or unit), enabled at boot';
    } else {
      service = 'started, enabled at boot';
    }
    systemctl(['enable', '--now', '--quiet', SERVER_UNIT_NAME]);
  }

  const start = prefix ? `systemctl link ${unitPath} && systemctl enable --now ${SERVER_UNIT_NAME}` : `systemctl daemon-reload && systemctl enable --now ${SERVER_UNIT_NAME}`;
  return [
    'myx control plane installed:',
    `  release  ${libDir}/{myx,myx-agent,SHA256SUMS} (myx ${states.myx}, myx-agent ${states['myx-agent']}, SHA256SUMS ${states.SHA256SUMS}); installers download the agent from here`,
    `  command  ${binLink} -> ../lib/myx/myx (${linkState})`,
    `  user     ${SERVER_USER} (${userState}); data in ${SERVER_DATA_DIR}, created by systemd for it (0700)`,
    `  unit     ${unitPath} (${unitState}): listens on ${o.listen}${o.publicUrl ? `, public URL ${o.publicUrl}` : ''}`,
    `  store    ${store}`,
    `  service  ${service}`,
    ...(o.noStart ? [`Start it with:  ${start}`] : [`Check it:  systemctl status ${SERVER_UNIT_NAME}; journalctl -u ${SERVER_UNIT_NAME} -f`]),
    `Then enroll hosts:  sudo myx token create --data-dir ${SERVER_DATA_DIR}   (prints the install line)`,
    '',
  ].join('\n');
}

function checkPrefix(raw: string): string {
  if (raw === '') return '';
  if (!raw.startsWith('/')) throw new CliError(`--prefix must be an absolute path, got "${raw}"`);
  if (!/^[A-Za-z0-9/._-]+$/.test(raw)) throw new CliError(`--prefix may hold only letters, digits and / . _ - (it goes into the systemd unit), got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

/** Every file of the release is there and matches SHA256SUMS; returns each one's checksum. */
async function checkRelease(dir: string): Promise<Record<string, string>> {
  const sumsPath = join(dir, 'SHA256SUMS');
  if (!existsSync(sumsPath)) throw new CliError(`${sumsPath} is missing: pass --release-dir DIR, the folder \`npm run package\` writes (myx, myx-agent, SHA256SUMS)`);
  const sums = await readFile(sumsPath, 'utf8');
  const out: Record<string, string> = { SHA256SUMS: sha256OfText(sums) };
  for (const name of ['myx', 'myx-agent']) {
    const expected = checksumOf(sums, name);
    if (!expected) throw new CliError(`${sumsPath} has no line for ${name}`);
    const path = join(dir, name);
    if (!existsSync(path)) throw new CliError(`${path} is missing`);
    const actual = await sha256Of(path);
    if (actual !== expected) throw new CliError(`${path} does not match ${sumsPath} (SHA-256 ${actual}, expected ${expected}): rebuild the release or copy it again`);
    out[name] = actual;
  }
  return out;
}

/** Puts `src` at `dest` by a rename of a full copy beside it, unless it is that file or its copy already. */
async function place(src: string, dest: string, mode: number, sha256: string | undefined): Promise<State> {
  const exists = existsSync(dest);
  if (exists && (await realpath(src)) === (await realpath(dest))) return 'unchanged';
  if (exists && (await sha256Of(dest)) === sha256) {
    await chmod(dest, mode);
    return 'unchanged';
  }
  const tmp = `${dest}.${process.pid}.tmp`;
  try {
    await copyFile(src, tmp);
    await chmod(tmp, mode);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return exists ? 'updated' : 'installed';
}

async function placeLink(path: string, target: string): Promise<State> {
  const current = await lstat(path).catch(() => null);
  if (current?.isSymbolicLink() && (await readlink(path)) === target) return 'unchanged';
  await mkdir(join(path, '..'), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  await rename(tmp, path);
  return current ? 'updated' : 'installed';
}

async function placeText(path: string, text: string, mode = 0o644): Promise<'written' | 'rewritten' | 'unchanged'> {
  const current = await readFile(path, 'utf8').catch(() => null);
  if (current === text) {
    await chmod(path, mode);
    return 'unchanged';
  }
  await mkdir(join(path, '..'), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, text, mode);
  return current === null ? 'written' : 'rewritten';
}

/**
 * The unit's environment file with the database URL. systemd reads such a file with quoting and
 * escapes of its own: a URL holding a quote, a backslash, a blank or a control character is
 * refused (percent-encode them) rather than written in a form systemd might read otherwise.
 */
function environmentFile(url: string): string {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new CliError('--store must be a PostgreSQL URL like postgres://myx@db.example:5432/myx');
  if (/[\s"'\\\x00-\x1f\x7f]/.test(url)) throw new CliError('the database URL holds a quote, backslash, blank or control character: percent-encode it (%22, %27, %5C, %20)');
  return `# Written by \`myx server install\`: the control plane's PostgreSQL database (replicas share it).\nMYX_DATABASE_URL=${url}\n`;
}

function ensureUser(): string {
  if (spawnSync('id', ['-u', SERVER_USER], { stdio: 'ignore' }).status === 0) return 'exists';
  const r = spawnSync('useradd', ['--system', '--user-group', '--home-dir', SERVER_DATA_DIR, '--no-create-home', '--shell', '/usr/sbin/nologin', SERVER_USER], { encoding: 'utf8' });
  if (r.status !== 0) throw new CliError(`useradd ${SERVER_USER} failed: ${(r.stderr || r.error?.message || '').trim()}`);
  return 'created';
}

function systemdRunning(): boolean {
  return existsSync('/run/systemd/system') && spawnSync('systemctl', ['--version'], { stdio: 'ignore' }).status === 0;
}

function systemctl(args: string[]): void {
  const r = spawnSync('systemctl', args, { stdio: 'inherit' });
  if (r.status !== 0) throw new CliError(`systemctl ${args.join(' ')} failed (exit ${r.status})`);
}

function sha256OfText(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('error', reject).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex')));
  });
}

// A private PostgreSQL server for the tests of one process: initdb in a temp dir, started on a
// free loopback port, a fresh database per test (cloned from a migrated template), gone when the
// process exits. Missing PostgreSQL skips loudly, and fails when MYX_REQUIRE_POSTGRES=1.

import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { migratePostgres } from '../src/server/store/postgres/migrate.ts';
import { freePort } from './helpers.ts';

/** Set by .ci/run: a machine without PostgreSQL fails the tests that need it instead of skipping them. */
export const POSTGRES_REQUIRED = process.env.MYX_REQUIRE_POSTGRES === '1';

export interface PostgresServer {
  /** A URL for the server's admin database (trust auth on loopback). */
  url: (database: string) => string;
  /** A new database of its own: migrated (cloned from a template), or empty. */
  createDatabase: (opts?: { empty?: boolean }) => Promise<string>;
}

/**
 * The skip reason for tests that need PostgreSQL, or false when they run. Missing PostgreSQL skips
 * them loudly; with MYX_REQUIRE_POSTGRES=1 they run, and each fails saying what is missing.
 */
export function postgresSkip(): string | false {
  const found = findBinDir();
  if ('dir' in found || POSTGRES_REQUIRED) return false;
  const reason = `PostgreSQL tests SKIPPED: ${found.missing} (apt-get install postgresql; .ci/run does it and sets MYX_REQUIRE_POSTGRES=1)`;
  console.warn(`\n*** ${reason} ***\n`);
  return reason;
}

let started: Promise<PostgresServer> | undefined;

/** The server of this process, started on first use. */
export function postgresServer(): Promise<PostgresServer> {
  started ??= start();
  return started;
}

function findBinDir(): { dir: string } | { missing: string } {
  const has = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'));
  const candidates: string[] = [];
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (pgConfig.status === 0) candidates.push(pgConfig.stdout.trim());
  try {
    const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch { /* not the Debian layout */ }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (existsSync(join(dir, 'initdb'))) candidates.push(dirname(realpathSync(join(dir, 'initdb'))));
  }
  const dir = candidates.find(has);
  return dir ? { dir } : { missing: 'no initdb and postgres binaries found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH)' };
}

/** Runs as the `postgres` user when we are root (PostgreSQL refuses to run as root). */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

async function start(): Promise<PostgresServer> {
  const found = findBinDir();
  if (!('dir' in found)) throw new Error(`PostgreSQL is required here (MYX_REQUIRE_POSTGRES=1) but ${found.missing}`);
  let lastLog = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    // A port free a moment ago may be taken before postgres binds it: then a new cluster on another.
    const port = await freePort();
    const ready = await launch(found.dir, initCluster(found.dir), port);
    if (ready === true) return serverOn(port);
    lastLog = ready;
  }
  throw new Error(`postgres did not start:\n${lastLog}`);
}

/** initdb in a new temp dir owned by the server's user; returns the dir. */
function initCluster(bin: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'myx-pg-'));
  if (process.getuid?.() === 0) {
    const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const [cmd, args] = asServerUser(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  const init = spawnSync(cmd, args, { encoding: 'utf8' });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  return dir;
}

/**
 * Starts postgres under a small shell that stops it (immediate shutdown) as soon as our stdin
 * closes, which happens however this process ends, even by SIGKILL, and removes the cluster's
 * dir once postgres is gone, whyever it went.
 */
async function launch(bin: string, dir: string, port: number): Promise<true | string> {
  const script = `
    exec 3<&0
    "$1/postgres" -D "$2/data" -p "$3" -c listen_addresses=127.0.0.1 -k "$2" \\
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 </dev/null 2>"$2/postgres.log" &
    pid=$!
    ( read -r _ <&3; kill -QUIT "$pid" 2>/dev/null ) &
    wait "$pid"; code=$?
    cat "$2/postgres.log" >&2
    rm -rf "$2"
    exit "$code"`;
  const [cmd, args] = asServerUser('sh', ['-c', script, 'sh', bin, dir, String(port)]);
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  child.unref();
  for (const pipe of [child.stdin, child.stderr]) (pipe as unknown as { unref: () => void }).unref();
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  const closed = new Promise((r) => child.once('close', r));
  const deadline = Date.now() + 60_000;
  while (!exited && Date.now() < deadline) {
    // Ours, not a server of another test process that got this port first.
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
      await client.end();
      if (rows[0]?.data_directory === join(dir, 'data')) return true;
    } catch {
      await client.end().catch(() => {});
    }
    await sleep(50);
  }
  child.stdin!.destroy(); // ends the watcher, and postgres if it still runs
  if (!exited) throw new Error(`postgres did not accept connections on port ${port} within 60 s`);
  await closed;
  return log || `postgres exited before accepting connections on port ${port}`;
}

function serverOn(port: number): PostgresServer {
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let template: Promise<void> | undefined;
  let n = 0;
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: url('postgres') });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  const makeTemplate = async () => {
    // An ICU collation ('en') where the platform has one: SQL that forgets COLLATE "C" sorts differently here than in SQLite.
    await admin(async (c) => {
      try {
        await c.query(`CREATE DATABASE myx_template TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'en'`);
      } catch {
        await c.query(`CREATE DATABASE myx_template TEMPLATE template0 ENCODING 'UTF8'`);
      }
    });
    const pool = new pg.Pool({ connectionString: url('myx_template'), max: 1 });
    try {
      await migratePostgres(pool);
    } finally {
      await pool.end();
    }
  };
  return {
    url,
    async createDatabase(opts = {}) {
      const name = `myx_test_${process.pid}_${++n}`;
      if (opts.empty) {
        await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`));
      } else {
        template ??= makeTemplate();
        await template;
        await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE myx_template`));
      }
      return url(name);
    },
  };
}

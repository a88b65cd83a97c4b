// The PostgreSQL and Redis a pipeline benchmark runs against, and which of their processes count
// as this run's CPU. Two kinds:
// - shared: the test PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL) in a fresh schema
//   and queue prefix; PostgreSQL CPU counts only the backends whose application_name is this
//   run's (other users of the server are not ours), Redis CPU is the whole redis-server's;
// - private: a throwaway PostgreSQL cluster (Debian's /usr/lib/postgresql/<v>/bin, run as the
//   `postgres` user when the bench runs as root) with pg_stat_statements preloaded, and a
//   throwaway redis-server, both on free loopback ports: every process of theirs is this run's,
//   and the cluster can report statement statistics. Removed afterwards.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { flushPrefix, freePort, removeQueues, sleep } from '../test/helpers/e2e.js';
import { createTestSchema, TEST_REDIS_URL } from '../test/helpers/test-db.js';
import { findPidsByCommand, listProcessTree, logProgress } from './lib.js';

const run = promisify(execFile);

export interface BenchServices {
  kind: 'shared' | 'private';
  /** DATABASE_URL for the program (its schema or database, tagged with this run's application_name). */
  databaseUrl: string;
  redisUrl: string;
  /** What `-c` settings and version the cluster runs: printed beside durability figures. */
  describe(): string;
  /** PostgreSQL processes that count as this run's (call while the run's connections are open). */
  postgresPids(): number[];
  redisPids(): number[];
  /** Refreshes postgresPids() from pg_stat_activity (shared kind); a no-op for private. */
  refreshBackends(): Promise<void>;
  /** pg_stat_statements is loaded (private kind). */
  hasStatementStats: boolean;
  close(queuePrefix: string): Promise<void>;
}

const APPLICATION_NAME_PREFIX = 'leadrelay_bench_';
/** The system's redis-server (Debian's redis-server package; the tests' Redis comes from it too). */
const REDIS_SERVER_BIN = process.env.BENCH_REDIS_SERVER ?? 'redis-server';

function withParams(url: string, params: Record<string, string>): string {
  const sep = url.includes('?') ? '&' : '?';
  return `${url}${sep}${Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&')}`;
}

async function openSharedServices(): Promise<BenchServices> {
  const schema = await createTestSchema('bench');
  const applicationName = `${APPLICATION_NAME_PREFIX}${schema.schema}`;
  // pg lets the connection string's application_name override the pool's own ('leadrelay').
  const databaseUrl = withParams(schema.url, { application_name: applicationName });
  const probe = new pg.Client({ connectionString: schema.url });
  await probe.connect();
  const backends = new Set<number>();
  return {
    kind: 'shared',
    databaseUrl,
    redisUrl: TEST_REDIS_URL,
    hasStatementStats: false,
    describe: () => `shared test PostgreSQL (schema ${schema.schema}) and Redis; PostgreSQL CPU = this run's backends only`,
    postgresPids: () => [...backends],
    redisPids: () => findPidsByCommand(['redis-server']),
    async refreshBackends() {
      const r = await probe.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [applicationName]);
      for (const row of r.rows) backends.add(row.pid);
    },
    async close(queuePrefix) {
      await probe.end().catch(() => {});
      if (queuePrefix) await Promise.all([flushPrefix(queuePrefix), removeQueues('postgres', queuePrefix)]).catch(() => {});
      // BENCH_KEEP_SCHEMA=1: the run's rows stay (its schema is printed in the report) for a run that needs explaining.
      if (process.env.BENCH_KEEP_SCHEMA === '1') logProgress(`kept schema ${schema.schema} (BENCH_KEEP_SCHEMA=1); drop it when done`);
      else await schema.drop().catch(() => {});
    },
  };
}

/** The newest Debian PostgreSQL server binaries on this machine. */
function findPostgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length) throw new Error(`no PostgreSQL server binaries under ${root} (a private cluster needs initdb and postgres)`);
  return join(root, versions[0], 'bin');
}

/** PostgreSQL refuses to run as root: run its binaries as the `postgres` user then. */
function asPostgresUser(bin: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

async function waitForPort(url: string, timeoutMs: number, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      return;
    } catch (err) {
      await c.end().catch(() => {});
      if (exited() || Date.now() > deadline) throw new Error(`private PostgreSQL did not accept connections: ${(err as Error).message}`);
      await sleep(100);
    }
  }
}

/**
 * A throwaway PostgreSQL cluster with pg_stat_statements and a throwaway redis-server. The cluster
 * keeps PostgreSQL's durable defaults (fsync, synchronous_commit on), like the shared one.
 */
async function openPrivateServices(): Promise<BenchServices> {
  const bin = findPostgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'leadrelay-bench-pg-'));
  const dataDir = join(dir, 'data');
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  let postmaster: ChildProcess | undefined;
  let redis: ChildProcess | undefined;
  const cleanup = async () => {
    if (redis && redis.exitCode === null) {
      redis.kill('SIGTERM');
      await new Promise((r) => redis!.once('exit', r));
    }
    if (postmaster && postmaster.exitCode === null && postmaster.signalCode === null) {
      // SIGINT = fast shutdown; runuser passes it on to the postmaster.
      const [cmd, args] = asPostgresUser(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w']);
      await run(cmd, args).catch(() => postmaster!.kill('SIGKILL'));
      await new Promise((r) => (postmaster!.exitCode !== null || postmaster!.signalCode !== null ? r(null) : postmaster!.once('exit', r)));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    logProgress(`private PostgreSQL: initdb (${bin})`);
    const [initCmd, initArgs] = asPostgresUser(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await run(initCmd, initArgs);
    const pgPort = await freePort();
    const settings = [
      'shared_preload_libraries=pg_stat_statements',
      'pg_stat_statements.track=all',
      'pg_stat_statements.track_planning=on',
      'pg_stat_statements.max=5000',
      'track_io_timing=on',
      `port=${pgPort}`,
      'listen_addresses=127.0.0.1',
      `unix_socket_directories=${dir}`,
      'max_connections=200',
    ];
    const [pgCmd, pgArgs] = asPostgresUser(join(bin, 'postgres'), ['-D', dataDir, ...settings.flatMap((s) => ['-c', s])]);
    postmaster = spawn(pgCmd, pgArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
    let pgLog = '';
    postmaster.stderr!.on('data', (d) => (pgLog = (pgLog + d).slice(-4000)));
    const adminUrl = `postgres://postgres@127.0.0.1:${pgPort}/postgres`;
    await waitForPort(adminUrl, 30_000, () => postmaster!.exitCode !== null).catch((err) => {
      throw new Error(`${(err as Error).message}\n${pgLog}`);
    });
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query('create database bench');
    await admin.end();
    const databaseUrl = `postgres://postgres@127.0.0.1:${pgPort}/bench`;
    const stats = new pg.Client({ connectionString: databaseUrl });
    await stats.connect();
    await stats.query('create extension pg_stat_statements');
    await stats.end();

    const redisPort = await freePort();
    redis = spawn(REDIS_SERVER_BIN, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    for (let i = 0; ; i++) {
      const c = new Redis(redisUrl, { maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
      c.on('error', () => {});
      try {
        await c.connect();
        await c.ping();
        c.disconnect();
        break;
      } catch {
        c.disconnect();
        if (i > 100 || redis.exitCode !== null) throw new Error('private redis-server did not start');
        await sleep(50);
      }
    }
    // runuser forks the postmaster as its child: the cluster is the tree under runuser.
    const postmasterTree = () => listProcessTree(postmaster!.pid!);
    return {
      kind: 'private',
      databaseUrl,
      redisUrl,
      hasStatementStats: true,
      describe: () => `private PostgreSQL (${bin}, pg_stat_statements) and redis-server on 127.0.0.1; CPU = their whole process trees`,
      postgresPids: postmasterTree,
      redisPids: () => [redis!.pid!],
      refreshBackends: async () => {},
      close: () => cleanup(),
    };
  } catch (err) {
    await cleanup().catch(() => {});
    throw err;
  }
}

export function openServices(kind: 'shared' | 'private'): Promise<BenchServices> {
  return kind === 'private' ? openPrivateServices() : openSharedServices();
}

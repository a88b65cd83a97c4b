// Runs the real program (the compiled binary) against loopback fakes, as an operator would.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { computeSignature256 } from '../../src/meta/signature.js';
import { TEST_REDIS_URL } from './test-db.js';

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

/** Starts `leadrelay <role>` and waits until it answers (serve/start) or has started (work). */
export async function startProgram(role: 'start' | 'serve' | 'work', env: Record<string, string>): Promise<RunningProgram> {
  const port = await freePort();
  const proc = spawn(process.execPath, [BIN, role], { env: { ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const program: RunningProgram = {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    output: () => out,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      await exited;
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`leadrelay ${role} exited with ${proc.exitCode}:\n${out}`);
    if (role === 'work') {
      if (/workers started/.test(out) || Date.now() > deadline - 15_000) break;
    } else {
      try {
        const res = await fetch(`${program.url}/healthz`);
        if (res.ok) break;
      } catch {
        /* not yet listening */
      }
    }
    if (Date.now() > deadline) throw new Error(`leadrelay ${role} did not start:\n${out}`);
    await sleep(100);
  }
  return program;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolveRun) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs the CLI and returns its trimmed stdout; throws with stderr when it fails. */
export async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const r = await runCli(args, env);
  if (r.code !== 0) throw new Error(`leadrelay ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

/** POSTs a leadgen webhook for one lead, signed with the test app secret, as Meta would. */
export async function postLeadgen(baseUrl: string, lead: { pageId: string; formId: string; leadgenId: string }): Promise<Response> {
  const raw = JSON.stringify({
    object: 'page',
    entry: [{ id: lead.pageId, time: 1, changes: [{ field: 'leadgen', value: { leadgen_id: lead.leadgenId, page_id: lead.pageId, form_id: lead.formId, created_time: Math.floor(Date.now() / 1000) } }] }],
  });
  return fetch(`${baseUrl}/webhooks/meta`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': computeSignature256(Buffer.from(raw), TEST_APP_SECRET) }, body: raw });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
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

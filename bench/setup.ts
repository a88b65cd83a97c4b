// What every benchmark sets up around the real program: its environment, a SQL connection to
// its schema, and the figures read back from PostgreSQL and Redis afterwards.
import pg from 'pg';
import { Redis } from 'ioredis';
import { baseEnv } from '../test/helpers/e2e.js';

export interface BenchOptions {
  /** Extra or replaced environment for the program under test (`--env KEY=VALUE`). */
  envOverrides: Record<string, string>;
  /** Closed-loop connections for the intake maximum-throughput run. */
  connections: number;
  /** e2e: leads per second, and for how long. */
  ratePerSecond: number;
  seconds: number;
  /** Shared test PostgreSQL/Redis, or a private cluster and redis-server (see services.ts). */
  services: 'shared' | 'private';
  /** burst: leads released at once, and how long to wait for them to drain. */
  burstLeads: number;
  drainSeconds: number;
  /** sustained: seconds per rate step (the issue's figure is 60), first rate, and the factor between steps. */
  stepSeconds: number;
  startRate: number;
}

const BENCH_METRICS_TOKEN = 'bench-metrics-token-0123456789';

/**
 * The program's environment for a benchmark: the e2e helpers' base, but with the shipped
 * defaults instead of the tests' shortened sweep, lock, retry and backoff timings (an empty
 * value means "unset" to src/config/env.ts), then the caller's overrides.
 */
export function buildBenchEnv(extra: Record<string, string>, overrides: Record<string, string>): Record<string, string> {
  return baseEnv({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    OUTBOX_SWEEP_INTERVAL_MS: '',
    OUTBOX_MIN_AGE_MS: '',
    WORKER_LOCK_DURATION_MS: '',
    DELIVERY_BACKOFF_BASE_MS: '',
    DELIVERY_BACKOFF_MAX_MS: '',
    FETCH_BACKOFF_BASE_MS: '',
    META_GRAPH_RETRIES: '',
    META_GRAPH_RETRY_MIN_DELAY_MS: '',
    DELIVERY_TIMEOUT_MS: '',
    QUEUE_PREFIX: `bench${Math.random().toString(16).slice(2, 10)}`,
    // The benches read the program's path counters (readPathCounters) from /metrics.
    METRICS_TOKEN: BENCH_METRICS_TOKEN,
    ...extra,
    ...overrides,
  });
}

/** Leadgen ids of run `k` start here, so no two runs of one bench share an id. */
export function getFirstLeadgenIdOfRun(k: number): string {
  return String(7_100_000_000_000_000_000n + BigInt(k) * 1_000_000_000n);
}

export async function connectSql(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

export interface StatementFigures {
  statements: number;
  rows: number;
  meanRowsPerStatement: number;
  p50RowsPerStatement: number;
  maxRowsPerStatement: number;
}

/**
 * How many INSERT statements recorded the events of one run, and how many rows each carried.
 * Each intake statement is its own transaction, and `received_at` defaults to now() (the
 * transaction's start time), so rows sharing a received_at came from one statement.
 */
export async function measureIntakeStatements(sql: pg.Client, firstLeadgenId: string, count: number): Promise<StatementFigures> {
  const r = await sql.query<{ n: string }>(
    `select count(*) as n from leadgen_events
      where leadgen_id::numeric >= $1::numeric and leadgen_id::numeric < $1::numeric + $2
      group by received_at order by n`,
    [firstLeadgenId, count],
  );
  const sizes = r.rows.map((x) => Number(x.n));
  const rows = sizes.reduce((a, b) => a + b, 0);
  return {
    statements: sizes.length,
    rows,
    meanRowsPerStatement: sizes.length ? rows / sizes.length : NaN,
    p50RowsPerStatement: sizes.length ? sizes[Math.ceil(sizes.length / 2) - 1] : NaN,
    maxRowsPerStatement: sizes.length ? sizes[sizes.length - 1] : NaN,
  };
}

/** Jobs waiting in a BullMQ queue of this prefix (nothing consumes them under `serve`). */
export async function countWaitingJobs(redisUrl: string, prefix: string, queue: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    return await redis.llen(`${prefix}:${queue}:wait`);
  } finally {
    redis.disconnect();
  }
}

/** The settings that decide whether a committed row survives a crash (reported beside the counts). */
export async function readDurabilitySettings(sql: pg.Client): Promise<string> {
  const names = ['synchronous_commit', 'fsync'];
  const values: string[] = [];
  for (const n of names) values.push(`${n}=${(await sql.query<Record<string, string>>(`show ${n}`)).rows[0][n]}`);
  return values.join(', ');
}

export function describeOverrides(overrides: Record<string, string>): string {
  const entries = Object.entries(overrides);
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(' ') : 'none (shipped defaults, LOG_LEVEL=warn)';
}

/** The program's counters of which way new leads went (from /metrics), summed over both processes of `start`. */
export interface PathCounters {
  /** New events: handed to the worker process over its channel, or put in a fetch job. */
  fetch: { worker_process: number; queue: number };
  /** Deliveries of just-fetched leads: a place was free, waited in the line, taken by a batch run, or a delivery job. */
  delivery: { place: number; line: number; batch: number; job: number };
}

export async function readPathCounters(programUrl: string, token = BENCH_METRICS_TOKEN): Promise<PathCounters | undefined> {
  const res = await fetch(`${programUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
  if (!res?.ok) return undefined;
  const text = await res.text();
  const read = (name: string, path: string) => {
    let sum = 0;
    for (const line of text.split('\n'))
      if (line.startsWith(`${name}{`) && line.includes(`path="${path}"`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    return sum;
  };
  return {
    fetch: { worker_process: read('leadrelay_fetch_dispatch_total', 'worker_process'), queue: read('leadrelay_fetch_dispatch_total', 'queue') },
    delivery: {
      place: read('leadrelay_delivery_handoff_total', 'place'),
      line: read('leadrelay_delivery_handoff_total', 'line'),
      batch: read('leadrelay_delivery_handoff_total', 'batch'),
      job: read('leadrelay_delivery_handoff_total', 'job'),
    },
  };
}

/** What `after` counted since `before`, as one report line. */
export function describePathCounters(before: PathCounters | undefined, after: PathCounters | undefined): string {
  if (!before || !after) return 'n/a (/metrics did not answer)';
  const d = (a: number, b: number) => a - b;
  return [
    `fetch: handed ${d(after.fetch.worker_process, before.fetch.worker_process)}, fetch jobs ${d(after.fetch.queue, before.fetch.queue)}`,
    `delivery: place ${d(after.delivery.place, before.delivery.place)}, line ${d(after.delivery.line, before.delivery.line)}, batch run ${d(after.delivery.batch, before.delivery.batch)}, job ${d(after.delivery.job, before.delivery.job)}`,
  ].join('; ');
}

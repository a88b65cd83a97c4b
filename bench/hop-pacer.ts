// The benchmarks' bare references, run as their own process (bench/lib.ts):
// - `hops` (measureHopFloor): three open loops at one rate, one after another, each of `count`
//   operations paced by the same timer loop: nothing (what the pacing itself costs, subtracted
//   from the other two); one signed webhook POSTed to the bare HMAC server over a keep-alive
//   connection (the server's CPU read from /proc); one trivial prepared statement over one
//   PostgreSQL connection (its backend's CPU read from /proc). Each loop runs WARMUP_OPERATIONS
//   unmeasured first, so neither side is measured cold;
// - `commits` (measureCommitReference): one-row inserts, each its own committed transaction, sent
//   at their scheduled times whatever the earlier ones did, over a small pool; latency from the
//   scheduled time.
import http from 'node:http';
import pg from 'pg';
import {
  BENCH_FORM_ID,
  BENCH_PAGE_ID,
  postSignedWebhook,
  readProcCpuTicks,
  signLeadgenBody,
  summarizeLatencies,
  type CommitJob,
  type CommitResult,
  type HopJob,
  type HopResult,
} from './lib.js';

const TICK_MS = 10;
/** Operations each loop runs unmeasured before its measured ones (JIT, first connections). */
const WARMUP_OPERATIONS = 100;

/** CPU of another process (/proc ticks), ms. */
function readCpuMs(pid: number): number {
  const ticks = readProcCpuTicks(pid);
  if (ticks === undefined) throw new Error(`cannot read /proc/${pid}/stat`);
  return ticks * TICK_MS;
}

/** Runs `op` `count` times, operation i due at start + i / rate; one at a time (one due while another runs goes right after it). Returns the CPU spent, ms. */
async function pace(count: number, ratePerSecond: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const intervalMs = 1000 / ratePerSecond;
  const cpuAtStart = process.cpuUsage();
  const startedAt = performance.now();
  let next = 0;
  let chain: Promise<unknown> = Promise.resolve();
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      while (next < count && startedAt + next * intervalMs <= now) {
        const i = next++;
        chain = chain.then(() => op(i));
      }
      if (next < count) setTimeout(tick, Math.max(0, startedAt + next * intervalMs - performance.now()));
      else done();
    };
    tick();
  });
  await chain;
  const cpu = process.cpuUsage(cpuAtStart);
  return (cpu.user + cpu.system) / 1000;
}

async function run(job: HopJob): Promise<HopResult> {
  const target = new URL(job.url);
  if (target.hostname !== '127.0.0.1') throw new Error(`the bare server must be on 127.0.0.1, got ${target.hostname}`);
  const warmup = Math.min(WARMUP_OPERATIONS, job.count);
  const empty = async () => {};
  await pace(warmup, job.ratePerSecond, empty);
  const timerCpuMs = await pace(job.count, job.ratePerSecond, empty);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const signed = signLeadgenBody(job.appSecret, BENCH_PAGE_ID, BENCH_FORM_ID, '7198000000000000000', Math.floor(Date.now() / 1000));
  const post = () =>
    new Promise<void>((resolvePost, reject) => {
      postSignedWebhook(agent, target, signed, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolvePost() : reject(new Error(`the bare server answered ${res.statusCode}`))));
      }).on('error', reject);
    });
  await pace(warmup, job.ratePerSecond, post);
  const serverAtStart = readCpuMs(job.serverPid);
  const requestCpuMs = await pace(job.count, job.ratePerSecond, post);
  const serverCpuMs = readCpuMs(job.serverPid) - serverAtStart;
  agent.destroy();

  const client = new pg.Client({ connectionString: job.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const backendPid = rows[0].pid;
    const statement = (i: number) => client.query({ name: 'floor', text: 'select $1::int as n', values: [i] });
    await pace(warmup, job.ratePerSecond, statement);
    const backendAtStart = readCpuMs(backendPid);
    const statementCpuMs = await pace(job.count, job.ratePerSecond, statement);
    const backendCpuMs = readCpuMs(backendPid) - backendAtStart;
    return { count: job.count, serverCpuMs, timerCpuMs, requestCpuMs, statementCpuMs, backendCpuMs };
  } finally {
    await client.end();
  }
}

async function runCommits(job: CommitJob): Promise<CommitResult> {
  const pool = new pg.Pool({ connectionString: job.databaseUrl, max: job.connections });
  // A table of its own, WAL-logged as leadgen_events is (a temporary table would skip the WAL flush).
  const table = `bench_commit_probe_${process.pid}`;
  await pool.query(`create table ${table} (id bigserial primary key, v text not null)`);
  try {
    // Every connection opened before the clock starts.
    await Promise.all(Array.from({ length: job.connections }, () => pool.query('select 1')));
    const intervalMs = 1000 / job.ratePerSecond;
    const latencies = new Float64Array(job.count);
    const startedAt = performance.now() + 20;
    const inserts: Promise<unknown>[] = [];
    let failure: unknown;
    let next = 0;
    await new Promise<void>((done) => {
      const tick = () => {
        const now = performance.now();
        while (next < job.count && startedAt + next * intervalMs <= now) {
          const i = next++;
          const dueAt = startedAt + i * intervalMs;
          inserts.push(
            pool.query(`insert into ${table} (v) values ($1)`, [`row ${i}`]).then(
              () => (latencies[i] = performance.now() - dueAt),
              (err: unknown) => (failure ??= err),
            ),
          );
        }
        if (next < job.count) setTimeout(tick, Math.max(0, startedAt + next * intervalMs - performance.now()));
        else done();
      };
      setTimeout(tick, 20);
    });
    await Promise.all(inserts);
    if (failure) throw failure;
    return { latency: summarizeLatencies(latencies) };
  } finally {
    await pool.query(`drop table if exists ${table}`).catch(() => {});
    await pool.end();
  }
}

process.once('message', (msg: { type: string; job: HopJob | CommitJob }) => {
  if (msg?.type !== 'run') return;
  const job = msg.job;
  (job.kind === 'hops' ? run(job) : runCommits(job)).then(
    (result) => process.send!({ type: 'result', result }, () => process.exit(0)),
    (err: unknown) => process.send!({ type: 'error', error: err instanceof Error ? err.message : String(err) }, () => process.exit(1)),
  );
});

// The floor's references (measureHopFloor, bench/lib.ts), run as their own process: three open
// loops at one rate, one after another, each of `count` operations paced by the same timer loop:
// 1. nothing (what the pacing itself costs, subtracted from the other two);
// 2. one signed webhook POSTed to the bare HMAC server over a keep-alive connection;
// 3. one trivial prepared statement over one PostgreSQL connection (its backend's CPU read from /proc).
import http from 'node:http';
import pg from 'pg';
import { BENCH_FORM_ID, BENCH_PAGE_ID, readProcCpuTicks, signLeadgenBody, type HopJob, type HopResult } from './lib.js';

const TICK_MS = 10;

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
  const timerCpuMs = await pace(job.count, job.ratePerSecond, async () => {});

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const { body, signature } = signLeadgenBody(job.appSecret, BENCH_PAGE_ID, BENCH_FORM_ID, '7198000000000000000', Math.floor(Date.now() / 1000));
  const post = () =>
    new Promise<void>((resolvePost, reject) => {
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-hub-signature-256': signature },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolvePost() : reject(new Error(`the bare server answered ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  await post();
  const requestCpuMs = await pace(job.count, job.ratePerSecond, post);
  agent.destroy();

  const client = new pg.Client({ connectionString: job.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const backendPid = rows[0].pid;
    const ticksAtStart = readProcCpuTicks(backendPid);
    if (ticksAtStart === undefined) throw new Error(`cannot read /proc/${backendPid}/stat of the PostgreSQL backend`);
    const statementCpuMs = await pace(job.count, job.ratePerSecond, (i) => client.query({ name: 'floor', text: 'select $1::int as n', values: [i] }));
    const backendCpuMs = ((readProcCpuTicks(backendPid) ?? ticksAtStart) - ticksAtStart) * TICK_MS;
    return { count: job.count, timerCpuMs, requestCpuMs, statementCpuMs, backendCpuMs };
  } finally {
    await client.end();
  }
}

process.once('message', (msg: { type: string; job: HopJob }) => {
  if (msg?.type !== 'run') return;
  run(msg.job).then(
    (result) => process.send!({ type: 'result', result }, () => process.exit(0)),
    (err: unknown) => process.send!({ type: 'error', error: err instanceof Error ? err.message : String(err) }, () => process.exit(1)),
  );
});

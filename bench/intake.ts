// `npm run bench -- intake`: signed leadgen webhooks against `leadrelay serve` (the HTTP role
// alone) from a separate load process on loopback. Every request carries a distinct leadgen id,
// so every 200 must be one new row in leadgen_events: the bench counts them afterwards.
import type pg from 'pg';
import { sleep, startProgram, TEST_APP_SECRET, type RunningProgram } from '../test/helpers/e2e.js';
import { openServices } from './services.js';
import {
  BENCH_FORM_ID,
  BENCH_PAGE_ID,
  formatInt,
  formatMb,
  formatMs,
  logProgress,
  buildMachineBusyRow,
  printReport,
  sampleMachineBusy,
  readProcStatusMb,
  runLoadJob,
  RssSampler,
  makeLeadgenId,
  measureBareServer,
  measureCommitReference,
  type CommitResult,
  type Calibration,
  startCpuWindow,
  formatCpu,
  computeCpuMicrosPerRequest,
  type CpuFigures,
  type JobShape,
  type LoadJob,
  type LoadResult,
  type ReportRow,
} from './lib.js';
import {
  buildBenchEnv,
  connectSql,
  describeOverrides,
  readDurabilitySettings,
  countWaitingJobs,
  getFirstLeadgenIdOfRun,
  measureIntakeStatements,
  type BenchOptions,
  type StatementFigures,
} from './setup.js';

const TARGET_MAX_PER_SECOND = 10_000;
const TARGET_P99_AT_1000_MS = 10;
const TARGET_RSS_MB = 150;
/** The open-loop run's rate and length, and the closed-loop run's length (intake-start runs the same). */
export const FIXED_RATE = 1000;
export const FIXED_SECONDS = 10;
export const MAX_SECONDS = 10;
const WARMUP_REQUESTS = 15_000;
// Long enough that connection set-up and JIT warm-up of both processes do not dominate.
const CALIBRATION_REQUESTS = 120_000;
/** Intake in serve against the bare server measured in the same run. */
const TARGET_SHARE_OF_BARE = 0.5;
/** The SIGKILL run: how long the generator sends, and when the server is killed. */
const KILL_RUN_MS = 4000;
const KILL_AFTER_MS = 1500;

interface RunFigures {
  name: string;
  load: LoadResult;
  /** Ids that got a 2xx but have no leadgen_events row: lost acknowledgements (must be 0). */
  missingAckedIds: number;
  /** Ids stored without a 2xx reaching the generator (answer lost to a timeout or the kill): harmless. */
  storedUnacked: number;
  cpu: CpuFigures;
  statements?: StatementFigures;
  /** The server's VmHWM right after the run: which run drove the peak. */
  serverPeakRssMb: number;
}

export async function runIntakeBench(opts: BenchOptions): Promise<void> {
  const quiet = await sampleMachineBusy(1000);
  const calibration = await measureBareServer(TEST_APP_SECRET, CALIBRATION_REQUESTS, opts.connections);
  const services = await openServices(opts.services);
  const env = buildBenchEnv({ DATABASE_URL: services.databaseUrl, REDIS_URL: services.redisUrl }, opts.envOverrides);
  let program: RunningProgram | undefined;
  let sql: Awaited<ReturnType<typeof connectSql>> | undefined;
  let rss: RssSampler | undefined;
  const runs: RunFigures[] = [];
  let memory: ReturnType<RssSampler['stop']> = [];
  let queuedFetchJobs = NaN;
  let durability = 'unknown';
  let commits: CommitResult | Error | undefined;
  try {
    logProgress(`starting leadrelay serve (${services.describe()}, queue prefix ${env.QUEUE_PREFIX})`);
    program = await startProgram('serve', env);
    const serverPid = program.proc.pid!;
    rss = new RssSampler(new Map([['leadrelay serve', serverPid]])).start();
    sql = await connectSql(services.databaseUrl);
    const db = sql;
    durability = await readDurabilitySettings(db);
    const url = `${program.url}/webhooks/meta`;
    let runIndex = 0;

    const measure = async (name: string, job: JobShape, withStatements: boolean, during?: () => Promise<void>): Promise<RunFigures> => {
      const firstLeadgenId = getFirstLeadgenIdOfRun(runIndex++);
      const full = { ...job, url, appSecret: TEST_APP_SECRET, pageId: BENCH_PAGE_ID, formId: BENCH_FORM_ID, firstLeadgenId } as LoadJob;
      logProgress(`${name}: ${formatInt(full.count)} signed webhooks…`);
      await services.refreshBackends();
      const cpu = startCpuWindow(serverPid, services);
      const [load] = await Promise.all([runLoadJob(full, 120_000), during?.()]);
      await services.refreshBackends();
      const cpuFigures = cpu.stop();
      const check = await checkAckedIds(db, firstLeadgenId, load.acked);
      const statements = withStatements ? await measureIntakeStatements(db, firstLeadgenId, full.count) : undefined;
      const figures = { name, load, ...check, cpu: cpuFigures, statements, serverPeakRssMb: readProcStatusMb(serverPid, 'VmHWM') ?? NaN };
      runs.push(figures);
      logProgress(
        `${name}: ${formatInt(load.okPerSecond)} 2xx/s, p99 ${formatMs(load.latency.p99)}, ${formatInt(load.ok)} 2xx, ${formatInt(check.missingAckedIds)} of them missing in PostgreSQL`,
      );
      return figures;
    };

    const warm = await measure('warm-up', { kind: 'autocannon', connections: opts.connections, count: WARMUP_REQUESTS }, false);
    await measure(`open loop ${FIXED_RATE}/s`, { kind: 'paced', ratePerSecond: FIXED_RATE, count: FIXED_RATE * FIXED_SECONDS, maxSockets: 64 }, true);
    await measure(
      `autocannon overallRate ${FIXED_RATE}/s`,
      { kind: 'autocannon', connections: 10, overallRate: FIXED_RATE, count: FIXED_RATE * FIXED_SECONDS },
      false,
    );
    // Sized from the warm-up so the run lasts about MAX_SECONDS and every answer is awaited.
    const maxCount = Math.min(400_000, Math.max(30_000, Math.round(warm.load.okPerSecond * MAX_SECONDS)));
    await measure('max throughput', { kind: 'autocannon', connections: opts.connections, count: maxCount }, true);

    memory = rss.stop();
    rss = undefined;
    queuedFetchJobs = await countWaitingJobs(services.redisUrl, env.QUEUE_PREFIX, 'fetch');

    // Last: SIGKILL the server while webhooks pour in. Every id that got a 200 before the kill
    // must be in PostgreSQL; the requests after it fail (no answer), which is not a loss.
    const victim = program;
    const killRate = Math.max(FIXED_RATE, Math.min(5000, Math.round(warm.load.okPerSecond * 0.8)));
    await measure(
      `SIGKILL mid-load (${formatInt(killRate)}/s, killed after ${KILL_AFTER_MS / 1000} s)`,
      { kind: 'paced', ratePerSecond: killRate, count: Math.round((killRate * KILL_RUN_MS) / 1000), maxSockets: 128, startDelayMs: 200 },
      false,
      async () => {
        await sleep(200 + KILL_AFTER_MS);
        await victim.kill('SIGKILL');
      },
    );
    // The server is gone; its database is not: what a durable acknowledgement waits for at least.
    commits = await measureCommitReference(services.databaseUrl, FIXED_RATE, FIXED_SECONDS);
  } finally {
    rss?.stop();
    await program?.kill().catch(() => {});
    await sql?.end().catch(() => {});
    await services.close(env.QUEUE_PREFIX);
  }

  printReport('LeadRelay intake benchmark (leadrelay serve, real PostgreSQL + Redis, load from a separate process on 127.0.0.1)', [
    buildMachineBusyRow(quiet),
    { label: 'program environment overrides', value: describeOverrides(opts.envOverrides) },
    { label: 'PostgreSQL and Redis', value: services.describe() },
    { label: 'PostgreSQL durability settings (a 200 means committed under these)', value: durability },
    ...buildCalibrationRows(calibration, opts),
    ...buildIntakeReportRows(runs, memory, queuedFetchJobs, opts, calibration, commits),
  ]);
}

/**
 * Looks every acknowledged leadgen id of a run up in leadgen_events: a 200 must mean a committed
 * row for that very id (a count would not notice a server that acks one id and stores another).
 */
export async function checkAckedIds(sql: pg.Client, firstLeadgenId: string, acked: Uint8Array): Promise<{ missingAckedIds: number; storedUnacked: number }> {
  const r = await sql.query<{ leadgen_id: string }>(
    `select distinct leadgen_id from leadgen_events where leadgen_id::numeric >= $1::numeric and leadgen_id::numeric < $1::numeric + $2`,
    [firstLeadgenId, acked.length],
  );
  const stored = new Set(r.rows.map((x) => x.leadgen_id));
  let missingAckedIds = 0;
  let storedUnacked = 0;
  for (let i = 0; i < acked.length; i++) {
    const isStored = stored.has(makeLeadgenId(firstLeadgenId, i));
    if (acked[i] === 1 && !isStored) missingAckedIds++;
    if (acked[i] === 0 && isStored) storedUnacked++;
  }
  return { missingAckedIds, storedUnacked };
}

function buildCalibrationRows(c: Calibration, opts: BenchOptions): ReportRow[] {
  return [
    {
      label: `calibration: bare HMAC-only node:http server, same generator, ${opts.connections} connections`,
      value: `${formatInt(c.load.okPerSecond)} req/s`,
    },
    { label: 'calibration: bare server CPU per request', value: `${formatInt(computeCpuMicrosPerRequest(c.cpu.server, c.cpu.seconds, c.load.ok))} µs` },
    // When the generator nears 100 %, the calibration measures the generator, not the machine.
    { label: 'calibration: CPU, % of one core', value: formatCpu(c.cpu, 'bare', computeLoadGeneratorCpu(c.load)) },
  ];
}

function buildIntakeReportRows(
  runs: RunFigures[],
  memory: ReturnType<RssSampler['stop']>,
  queuedFetchJobs: number,
  opts: BenchOptions,
  calibration: Calibration,
  commits: CommitResult | Error | undefined,
): ReportRow[] {
  const rows: ReportRow[] = [];
  const byName = (prefix: string) => runs.find((r) => r.name.startsWith(prefix))!;
  const max = byName('max throughput');
  const open = byName('open loop');
  const cannonRate = byName('autocannon overallRate');
  const isDurable = (r: RunFigures) => r.missingAckedIds === 0;
  const share = max.load.okPerSecond / calibration.load.okPerSecond;

  rows.push({
    label: `intake max (${opts.connections} connections, ${formatInt(max.load.sent)} requests)`,
    value: `${formatInt(max.load.okPerSecond)} req/s`,
    target: `≥ ${formatInt(TARGET_MAX_PER_SECOND)} req/s, durable`,
    isMet: max.load.okPerSecond >= TARGET_MAX_PER_SECOND && isDurable(max) && max.load.non2xx === 0 && max.load.errors === 0,
  });
  rows.push({
    label: 'intake max / bare server measured in this run',
    value: `${(100 * share).toFixed(1)} %`,
    target: `≥ ${100 * TARGET_SHARE_OF_BARE} %`,
    isMet: share >= TARGET_SHARE_OF_BARE,
  });
  rows.push({
    label: 'intake max: 2xx / non-2xx / socket errors',
    value: `${formatInt(max.load.ok)} / ${formatInt(max.load.non2xx)} / ${formatInt(max.load.errors)}`,
  });
  rows.push({
    label: 'intake max: ack latency p50 / p99 / max',
    value: `${formatMs(max.load.latency.p50)} / ${formatMs(max.load.latency.p99)} / ${formatMs(max.load.latency.max)}`,
  });
  if (max.statements) {
    const s = max.statements;
    rows.push({
      label: 'intake max: INSERT statements, rows per statement mean / p50 / max',
      value: `${formatInt(s.statements)}, ${s.meanRowsPerStatement.toFixed(1)} / ${s.p50RowsPerStatement} / ${s.maxRowsPerStatement}`,
    });
  }
  rows.push({ label: 'intake max: CPU, % of one core', value: formatCpu(max.cpu, 'serve', computeLoadGeneratorCpu(max.load)) });
  rows.push({
    // Robust to contention: what one webhook costs, whatever share of the machine the run got.
    label: 'intake max: CPU per acknowledged webhook: serve / postgres / redis',
    value: [max.cpu.server, max.cpu.postgres, max.cpu.redis]
      .map((p) => `${formatInt(computeCpuMicrosPerRequest(p, max.cpu.seconds, max.load.ok))} µs`)
      .join(' / '),
    target: `serve < ${formatInt(1e6 / TARGET_MAX_PER_SECOND)} µs to allow ${formatInt(TARGET_MAX_PER_SECOND)}/s on one core`,
    isMet: computeCpuMicrosPerRequest(max.cpu.server, max.cpu.seconds, max.load.ok) < 1e6 / TARGET_MAX_PER_SECOND,
  });

  rows.push({
    label: `ack p99 at ${FIXED_RATE}/s, open loop (${formatInt(open.load.sent)} requests, ${formatInt(open.load.okPerSecond)} 2xx/s)`,
    value: formatMs(open.load.latency.p99),
    target: `≤ ${TARGET_P99_AT_1000_MS} ms`,
    isMet: open.load.latency.p99 <= TARGET_P99_AT_1000_MS && open.load.non2xx === 0 && open.load.errors === 0,
  });
  rows.push({
    label: `ack at ${FIXED_RATE}/s, open loop: p50 / p90 / max`,
    value: `${formatMs(open.load.latency.p50)} / ${formatMs(open.load.latency.p90)} / ${formatMs(open.load.latency.max)}`,
  });
  if (open.load.sendLag) rows.push({ label: `ack at ${FIXED_RATE}/s, open loop: generator send lag p99`, value: formatMs(open.load.sendLag.p99) });
  if (commits)
    rows.push({
      label: `reference, same run: a one-row insert committed at ${FIXED_RATE}/s (4 connections), from its scheduled time: p50 / p90 / p99`,
      value:
        commits instanceof Error
          ? `n/a (${commits.message})`
          : `${formatMs(commits.latency.p50)} / ${formatMs(commits.latency.p90)} / ${formatMs(commits.latency.p99)}`,
    });
  rows.push({ label: `ack at ${FIXED_RATE}/s, open loop: CPU, % of one core`, value: formatCpu(open.cpu, 'serve', computeLoadGeneratorCpu(open.load)) });
  if (open.statements)
    rows.push({
      label: `ack at ${FIXED_RATE}/s: rows per INSERT statement mean / max`,
      value: `${open.statements.meanRowsPerStatement.toFixed(2)} / ${open.statements.maxRowsPerStatement}`,
    });
  rows.push({
    label: `ack at ${FIXED_RATE}/s, autocannon overallRate (10 connections): p50 / p99 / max`,
    value: `${formatMs(cannonRate.load.latency.p50)} / ${formatMs(cannonRate.load.latency.p99)} / ${formatMs(cannonRate.load.latency.max)}`,
  });

  for (const r of runs) {
    rows.push({
      label: `durable: ${r.name}: acknowledged ids missing in PostgreSQL (of ${formatInt(r.load.ok)} 2xx; ${formatInt(r.storedUnacked)} stored unacked)`,
      value: formatInt(r.missingAckedIds),
      target: '0, each id looked up',
      isMet: isDurable(r),
    });
  }
  if (Number.isFinite(queuedFetchJobs)) {
    const acknowledged = runs.reduce((a, r) => a + r.load.ok, 0);
    rows.push({ label: 'fetch jobs waiting in Redis (no worker runs under serve) / 2xx', value: `${formatInt(queuedFetchJobs)} / ${formatInt(acknowledged)}` });
  }
  for (const m of memory) {
    rows.push({
      label: `peak RSS ${m.name} (VmHWM; sampled VmRSS max ${formatMb(m.sampledPeakRssMb)})`,
      value: formatMb(m.peakRssMb),
      target: `≤ ${TARGET_RSS_MB} MB`,
      isMet: m.peakRssMb <= TARGET_RSS_MB,
    });
  }
  rows.push({ label: 'serve VmHWM after each run, in order', value: runs.map((r) => formatMb(r.serverPeakRssMb)).join(' / ') });
  rows.push({ label: 'peak RSS load generator (max-throughput run)', value: formatMb(max.load.worker.peakRssMb) });
  return rows;
}

export function computeLoadGeneratorCpu(load: LoadResult): number {
  return (100 * load.worker.cpuMs) / load.durationMs;
}

// `npm run bench -- intake`: signed leadgen webhooks against `leadrelay serve` (the HTTP role
// alone) from a separate load process on loopback. Every request carries a distinct leadgen id,
// so every 200 must be one new row in leadgen_events: the bench counts them afterwards.
import { startProgram, TEST_APP_SECRET, flushPrefix, removeQueues, type RunningProgram } from '../test/helpers/e2e.js';
import { createTestSchema } from '../test/helpers/test-db.js';
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
  startBareServer,
  startCpuWindow,
  formatCpu,
  computeCpuMicrosPerRequest,
  type CpuFigures,
  type LoadJob,
  type LoadResult,
  type ReportRow,
} from './lib.js';
import {
  buildBenchEnv,
  connectSql,
  describeOverrides,
  readDurabilitySettings,
  countLeadgenEvents,
  countWaitingJobs,
  getFirstLeadgenIdOfRun,
  measureIntakeStatements,
  type BenchOptions,
  type StatementFigures,
} from './setup.js';

const TARGET_MAX_PER_SECOND = 10_000;
const TARGET_P99_AT_1000_MS = 10;
const TARGET_RSS_MB = 150;
const FIXED_RATE = 1000;
const FIXED_SECONDS = 10;
const MAX_SECONDS = 10;
const WARMUP_REQUESTS = 15_000;
// Long enough that connection set-up and JIT warm-up of both processes do not dominate.
const CALIBRATION_REQUESTS = 120_000;
/** The figure for a bare HMAC-checking Node server on this machine, idle. */
const BARE_REFERENCE_PER_SECOND = 49_000;

/** A load job without its target: the part each run chooses. */
type JobShape = LoadJob extends infer J ? (J extends LoadJob ? Omit<J, 'url' | 'appSecret' | 'pageId' | 'formId' | 'firstLeadgenId'> : never) : never;

interface RunFigures {
  name: string;
  load: LoadResult;
  /** New leadgen_events rows written during the run. */
  recordedRows: number;
  cpu: CpuFigures;
  statements?: StatementFigures;
  /** The server's VmHWM right after the run: which run drove the peak. */
  serverPeakRssMb: number;
}

export async function runIntakeBench(opts: BenchOptions): Promise<void> {
  const quiet = await sampleMachineBusy(1000);
  const calibration = await measureBareServer(opts.connections);
  const schema = await createTestSchema('bench');
  const env = buildBenchEnv({ DATABASE_URL: schema.url }, opts.envOverrides);
  let program: RunningProgram | undefined;
  let sql: Awaited<ReturnType<typeof connectSql>> | undefined;
  let rss: RssSampler | undefined;
  const runs: RunFigures[] = [];
  let memory: ReturnType<RssSampler['stop']> = [];
  let queuedFetchJobs = NaN;
  let durability = 'unknown';
  try {
    logProgress(`starting leadrelay serve (schema ${schema.schema}, queue prefix ${env.QUEUE_PREFIX})`);
    program = await startProgram('serve', env);
    const serverPid = program.proc.pid!;
    rss = new RssSampler(new Map([['leadrelay serve', serverPid]])).start();
    sql = await connectSql(schema.url);
    const db = sql;
    durability = await readDurabilitySettings(db);
    const url = `${program.url}/webhooks/meta`;
    let runIndex = 0;

    const measure = async (name: string, job: JobShape, withStatements: boolean): Promise<RunFigures> => {
      const firstLeadgenId = getFirstLeadgenIdOfRun(runIndex++);
      const full = { ...job, url, appSecret: TEST_APP_SECRET, pageId: BENCH_PAGE_ID, formId: BENCH_FORM_ID, firstLeadgenId } as LoadJob;
      logProgress(`${name}: ${formatInt(full.count)} signed webhooks…`);
      const before = await countLeadgenEvents(db);
      const cpu = startCpuWindow(serverPid);
      const load = await runLoadJob(full, 120_000);
      const cpuFigures = cpu.stop();
      const recordedRows = (await countLeadgenEvents(db)) - before;
      const statements = withStatements ? await measureIntakeStatements(db, firstLeadgenId, full.count) : undefined;
      const figures = { name, load, recordedRows, cpu: cpuFigures, statements, serverPeakRssMb: readProcStatusMb(serverPid, 'VmHWM') ?? NaN };
      runs.push(figures);
      logProgress(
        `${name}: ${formatInt(load.okPerSecond)} 2xx/s, p99 ${formatMs(load.latency.p99)}, ${formatInt(load.ok)} 2xx / ${formatInt(recordedRows)} rows`,
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
    queuedFetchJobs = await countWaitingJobs(env.QUEUE_PREFIX, 'fetch');
  } finally {
    rss?.stop();
    await program?.kill().catch(() => {});
    await sql?.end().catch(() => {});
    await Promise.all([flushPrefix(env.QUEUE_PREFIX), removeQueues('postgres', env.QUEUE_PREFIX)]).catch(() => {});
    await schema.drop().catch(() => {});
  }

  printReport('LeadRelay intake benchmark (leadrelay serve, real PostgreSQL + Redis, load from a separate process on 127.0.0.1)', [
    buildMachineBusyRow(quiet),
    { label: 'program environment overrides', value: describeOverrides(opts.envOverrides) },
    { label: 'PostgreSQL durability settings (a 200 means committed under these)', value: durability },
    ...buildCalibrationRows(calibration, opts),
    ...buildIntakeReportRows(runs, memory, queuedFetchJobs, opts),
  ]);
}

/** The same load generator against a server that only checks the HMAC: what this machine gives right now. */
async function measureBareServer(connections: number): Promise<{ load: LoadResult; cpu: CpuFigures }> {
  logProgress(`calibration: ${formatInt(CALIBRATION_REQUESTS)} signed webhooks against a bare HMAC-only node:http server…`);
  const bare = await startBareServer(TEST_APP_SECRET);
  try {
    const window = startCpuWindow(bare.pid);
    const load = await runLoadJob(
      {
        kind: 'autocannon',
        url: bare.url,
        appSecret: TEST_APP_SECRET,
        pageId: BENCH_PAGE_ID,
        formId: BENCH_FORM_ID,
        firstLeadgenId: getFirstLeadgenIdOfRun(99),
        count: CALIBRATION_REQUESTS,
        connections,
      },
      60_000,
    );
    const cpu = window.stop();
    logProgress(`calibration: ${formatInt(load.okPerSecond)} 2xx/s`);
    return { load, cpu };
  } finally {
    await bare.close();
  }
}

function buildCalibrationRows(c: { load: LoadResult; cpu: CpuFigures }, opts: BenchOptions): ReportRow[] {
  return [
    {
      label: `calibration: bare HMAC-only node:http server, same generator, ${opts.connections} connections`,
      value: `${formatInt(c.load.okPerSecond)} req/s`,
      target: `reference ≈ ${formatInt(BARE_REFERENCE_PER_SECOND)} on an idle machine`,
    },
    { label: 'calibration: bare server CPU per request', value: `${formatInt(computeCpuMicrosPerRequest(c.cpu.server, c.cpu.seconds, c.load.ok))} µs` },
    // When the generator nears 100 %, the calibration measures the generator, not the machine.
    { label: 'calibration: CPU, % of one core', value: formatCpu(c.cpu, 'bare', computeLoadGeneratorCpu(c.load)) },
  ];
}

function buildIntakeReportRows(runs: RunFigures[], memory: ReturnType<RssSampler['stop']>, queuedFetchJobs: number, opts: BenchOptions): ReportRow[] {
  const rows: ReportRow[] = [];
  const byName = (prefix: string) => runs.find((r) => r.name.startsWith(prefix))!;
  const max = byName('max throughput');
  const open = byName('open loop');
  const cannonRate = byName('autocannon overallRate');
  const isDurable = (r: RunFigures) => r.recordedRows === r.load.ok;

  rows.push({
    label: `intake max (${opts.connections} connections, ${formatInt(max.load.sent)} requests)`,
    value: `${formatInt(max.load.okPerSecond)} req/s`,
    target: `≥ ${formatInt(TARGET_MAX_PER_SECOND)} req/s, durable`,
    isMet: max.load.okPerSecond >= TARGET_MAX_PER_SECOND && isDurable(max) && max.load.non2xx === 0 && max.load.errors === 0,
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
      label: `durable: ${r.name}: rows recorded = 2xx acknowledged`,
      value: `${formatInt(r.recordedRows)} = ${formatInt(r.load.ok)}`,
      target: 'equal',
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

function computeLoadGeneratorCpu(load: LoadResult): number {
  return (100 * load.worker.cpuMs) / load.durationMs;
}

// `npm run bench -- intake-start`: webhook intake of `leadrelay start` while its workers are
// saturated. The e2e set-up (fake Graph serving every lead, webhook receiver as the destination)
// gets a backlog first, far more leads than the workers can fetch and deliver during the runs;
// then the same closed-loop and open-loop runs as `bench intake` measure what the HTTP process
// still acknowledges, beside the bare server measured in the same run. Every acknowledged id is
// looked up in PostgreSQL. The backlog is left undelivered: the program is stopped after the runs.
import { readFileSync } from 'node:fs';
import { TEST_APP_SECRET } from '../test/helpers/e2e.js';
import { checkAckedIds, computeLoadGeneratorCpu, FIXED_RATE, FIXED_SECONDS, MAX_SECONDS } from './intake.js';
import {
  BENCH_FORM_ID,
  BENCH_PAGE_ID,
  buildMachineBusyRow,
  computeCpuMicrosPerRequest,
  formatCpu,
  formatInt,
  formatMs,
  listProcessTree,
  logProgress,
  measureBareServer,
  printReport,
  runLoadJob,
  sampleMachineBusy,
  startCpuWindow,
  type Calibration,
  type CpuFigures,
  type JobShape,
  type LoadJob,
  type LoadResult,
  type ReportRow,
} from './lib.js';
import { addGraphLeads, openPipeline, type Pipeline } from './pipeline.js';
import { connectSql, describeOverrides, getFirstLeadgenIdOfRun, type BenchOptions } from './setup.js';

/** Intake in `start` under full worker load, against the bare server measured in the same run (the target). */
const TARGET_SHARE_OF_BARE = 0.25;
const CALIBRATION_REQUESTS = 60_000;
/** The backlog sent first: at ~100–200 leads/s of worker throughput, minutes of work. */
const BACKLOG_REQUESTS = 10_000;
/** The fake Graph keeps every lead in memory: the closed-loop run is capped at this many. */
const MAX_REQUESTS = 100_000;
/** Run indexes of this bench's leadgen ids: clear of the pipeline's own runs. */
const FIRST_RUN_INDEX = 100;

interface RunFigures {
  name: string;
  load: LoadResult;
  missingAckedIds: number;
  /** The whole `start` tree, and its worker process alone. */
  cpu: CpuFigures;
  workerCpu: CpuFigures | undefined;
}

/** `start`'s worker process (`work --supervised`) among the descendants of its HTTP process. */
function findWorkerPid(serverPid: number): number | undefined {
  for (const pid of listProcessTree(serverPid).slice(1)) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.includes('work') && argv.includes('--supervised')) return pid;
    } catch {
      // Gone already.
    }
  }
  return undefined;
}

export async function runIntakeStartBench(opts: BenchOptions): Promise<void> {
  const quiet = await sampleMachineBusy(1000);
  const calibration = await measureBareServer(TEST_APP_SECRET, CALIBRATION_REQUESTS, opts.connections);
  let pipeline: Pipeline | undefined;
  let sql: Awaited<ReturnType<typeof connectSql>> | undefined;
  const runs: RunFigures[] = [];
  let backlogAfter = NaN;
  let describeServices = '';
  try {
    pipeline = await openPipeline({ services: opts.services, envOverrides: opts.envOverrides });
    describeServices = pipeline.services.describe();
    const p = pipeline;
    const serverPid = p.program.proc.pid!;
    sql = await connectSql(p.services.databaseUrl);
    const db = sql;
    const url = `${p.program.url}/webhooks/meta`;
    let runIndex = FIRST_RUN_INDEX;

    const measure = async (name: string, job: JobShape): Promise<RunFigures> => {
      const firstLeadgenId = getFirstLeadgenIdOfRun(runIndex++);
      addGraphLeads(p.graph, firstLeadgenId, job.count);
      const full = { ...job, url, appSecret: TEST_APP_SECRET, pageId: BENCH_PAGE_ID, formId: BENCH_FORM_ID, firstLeadgenId } as LoadJob;
      logProgress(`${name}: ${formatInt(full.count)} signed webhooks…`);
      const workerPid = findWorkerPid(serverPid);
      await p.services.refreshBackends();
      const cpu = startCpuWindow(serverPid, p.services);
      const workerWindow = workerPid === undefined ? undefined : startCpuWindow(workerPid);
      const load = await runLoadJob(full, 180_000);
      await p.services.refreshBackends();
      const workerFigures = workerWindow?.stop();
      // A worker process replaced during the run has no figure of its own for the whole run.
      const workerCpu = workerPid !== undefined && findWorkerPid(serverPid) === workerPid ? workerFigures : undefined;
      const figures: RunFigures = { name, load, cpu: cpu.stop(), workerCpu, ...(await checkAckedIds(db, firstLeadgenId, load.acked)) };
      runs.push(figures);
      logProgress(
        `${name}: ${formatInt(load.okPerSecond)} 2xx/s, p99 ${formatMs(load.latency.p99)}, ${formatInt(figures.missingAckedIds)} acknowledged ids missing in PostgreSQL`,
      );
      return figures;
    };

    const backlog = await measure('backlog', { kind: 'autocannon', connections: 64, count: BACKLOG_REQUESTS });
    const maxCount = Math.min(MAX_REQUESTS, Math.max(20_000, Math.round(backlog.load.okPerSecond * MAX_SECONDS)));
    await measure('max throughput', { kind: 'autocannon', connections: opts.connections, count: maxCount });
    await measure(`open loop ${FIXED_RATE}/s`, { kind: 'paced', ratePerSecond: FIXED_RATE, count: FIXED_RATE * FIXED_SECONDS, maxSockets: 64 });
    const left = await db.query<{ n: string }>(`select count(*) as n from leadgen_events where status = 'received'`);
    backlogAfter = Number(left.rows[0].n);
  } finally {
    await sql?.end().catch(() => {});
    logProgress('stopping leadrelay start (its backlog is left undelivered)');
    await pipeline?.close();
  }
  printReport('LeadRelay intake under full worker load (leadrelay start with a backlog, fake Graph + webhook receiver on 127.0.0.1)', [
    buildMachineBusyRow(quiet),
    { label: 'program environment overrides', value: describeOverrides(opts.envOverrides) },
    { label: 'PostgreSQL and Redis', value: describeServices },
    ...buildRows(runs, calibration, opts, backlogAfter),
  ]);
}

function buildRows(runs: RunFigures[], calibration: Calibration, opts: BenchOptions, backlogAfter: number): ReportRow[] {
  const byName = (prefix: string) => runs.find((r) => r.name.startsWith(prefix))!;
  const max = byName('max throughput');
  const open = byName('open loop');
  const share = max.load.okPerSecond / calibration.load.okPerSecond;
  const workerShare = (r: RunFigures) => (r.workerCpu ? `${r.workerCpu.server.toFixed(0)} % of one core` : 'n/a (not found, or replaced during the run)');
  const rows: ReportRow[] = [
    {
      label: `reference, same run: bare HMAC-only node:http server (${opts.connections} connections)`,
      value: `${formatInt(calibration.load.okPerSecond)} req/s`,
    },
    { label: `intake max in start (${opts.connections} connections, ${formatInt(max.load.sent)} requests)`, value: `${formatInt(max.load.okPerSecond)} req/s` },
    {
      label: 'intake max in start / bare server measured in this run',
      value: `${(100 * share).toFixed(1)} %`,
      target: `≥ ${100 * TARGET_SHARE_OF_BARE} %`,
      isMet: share >= TARGET_SHARE_OF_BARE && max.load.non2xx === 0 && max.load.errors === 0,
    },
    { label: 'intake max: 2xx / non-2xx / socket errors', value: `${formatInt(max.load.ok)} / ${formatInt(max.load.non2xx)} / ${formatInt(max.load.errors)}` },
    {
      label: 'intake max: ack latency p50 / p99 / max',
      value: `${formatMs(max.load.latency.p50)} / ${formatMs(max.load.latency.p99)} / ${formatMs(max.load.latency.max)}`,
    },
    { label: 'intake max: CPU, % of one core', value: formatCpu(max.cpu, 'start', computeLoadGeneratorCpu(max.load)) },
    {
      // The tree less its worker process: what acknowledging cost.
      label: "intake max: CPU per acknowledged webhook, start's HTTP process",
      value: max.workerCpu
        ? `${formatInt(computeCpuMicrosPerRequest(max.cpu.server - max.workerCpu.server, max.cpu.seconds, max.load.ok))} µs`
        : 'n/a (the worker process was not found, or was replaced during the run)',
    },
    {
      label: `ack at ${FIXED_RATE}/s, open loop: p50 / p90 / p99 / max`,
      value: `${formatMs(open.load.latency.p50)} / ${formatMs(open.load.latency.p90)} / ${formatMs(open.load.latency.p99)} / ${formatMs(open.load.latency.max)}`,
    },
  ];
  if (open.load.sendLag) rows.push({ label: `ack at ${FIXED_RATE}/s, open loop: generator send lag p99`, value: formatMs(open.load.sendLag.p99) });
  for (const r of runs) rows.push({ label: `worker process during ${r.name} (the load it was under)`, value: workerShare(r) });
  rows.push({ label: 'events still waiting to be fetched when the runs ended (the backlog)', value: formatInt(backlogAfter) });
  for (const r of runs) {
    rows.push({
      label: `durable: ${r.name}: acknowledged ids missing in PostgreSQL (of ${formatInt(r.load.ok)} 2xx)`,
      value: formatInt(r.missingAckedIds),
      target: '0, each id looked up',
      isMet: r.missingAckedIds === 0,
    });
  }
  return rows;
}

// `npm run bench -- e2e`: webhook → destination latency through `leadrelay start` (HTTP role and
// workers in one process), with the loopback fake Graph API serving each lead and the loopback
// webhook receiver standing in for the CRM. Leads are sent at a fixed rate from a separate load
// process, which reports when each webhook was due; the receiver notes when each lead arrived.
// Latency counts from the scheduled send time (the generator's own lag is inside it and reported),
// and only ids whose webhook got a 200 are awaited, each by id.
import { TEST_APP_SECRET } from '../test/helpers/e2e.js';
import {
  formatInt,
  formatMb,
  formatMs,
  logProgress,
  buildMachineBusyRow,
  buildCalibrationRow,
  measureBareServer,
  printReport,
  sampleMachineBusy,
  readProcStatusMb,
  listProcessTree,
  RssSampler,
  startCpuWindow,
  summarizeLatencies,
  formatCpu,
  computeCpuMicrosPerRequest,
  measureHopFloor,
  buildHopFloorRows,
  type CpuFigures,
  type ReportRow,
} from './lib.js';
import { openPipeline, type ArrivalIndex, type PaceFigures, type Pipeline } from './pipeline.js';
import { connectSql, describeOverrides, describePathCounters, readPathCounters, type BenchOptions } from './setup.js';

/** Warm-up at the measured rate, so JIT, pool sizes and sockets are those of a running service. */
const WARMUP_SECONDS = 3;
/**
 * How long to wait after the last send for every acknowledged lead to arrive. Long: late leads
 * count with their real lateness, and CPU per lead is only right when every lead went through
 * every stage inside the window (a backlog left over would charge fetch work to fewer deliveries).
 */
const STRAGGLER_WAIT_MS = 120_000;
const TARGET_P50_MS = 100;
const TARGET_P99_MS = 500;
const TARGET_RSS_MB = 150;
/** The same-run reference: a bare HMAC server, briefly (the intake bench measures it at length). */
const CALIBRATION_REQUESTS = 30_000;
const CALIBRATION_CONNECTIONS = 64;
const TARGET_CPU_PER_LEAD_MS = 2;
/** The floor's references run this long at the measured rate (enough CPU ticks at 100/s). */
const FLOOR_SECONDS = 10;

export async function runE2eBench(opts: BenchOptions): Promise<void> {
  const quiet = await sampleMachineBusy(1000);
  const calibration = await measureBareServer(TEST_APP_SECRET, CALIBRATION_REQUESTS, CALIBRATION_CONNECTIONS);
  let pipeline: Pipeline | undefined;
  let sql: Awaited<ReturnType<typeof connectSql>> | undefined;
  let rss: RssSampler | undefined;
  let rows: ReportRow[] = [];
  try {
    pipeline = await openPipeline({ services: opts.services, envOverrides: opts.envOverrides });
    const serverPid = pipeline.program.proc.pid!;
    rss = new RssSampler(new Map([['leadrelay start', serverPid]])).start();
    sql = await connectSql(pipeline.services.databaseUrl);

    // Warm-up: JIT, pools and sockets, so the measured run starts from a running service.
    const warmCount = opts.ratePerSecond * WARMUP_SECONDS;
    logProgress(`warm-up: ${warmCount} leads at ${opts.ratePerSecond}/s`);
    const warm = await pipeline.pace(0, opts.ratePerSecond, warmCount, STRAGGLER_WAIT_MS);
    if (warm.arrived < warmCount) logProgress(`warm-up: only ${warm.arrived}/${warmCount} delivered; measuring anyway`);
    // `start` runs its workers in a child process (`work --supervised`): a process of its own, with its own peak.
    for (const pid of listProcessTree(serverPid).slice(1)) rss.add(`leadrelay start, worker process ${pid}`, pid);

    const count = opts.ratePerSecond * opts.seconds;
    logProgress(`measured: ${formatInt(count)} leads at ${opts.ratePerSecond}/s`);
    await pipeline.services.refreshBackends();
    const pathsBefore = await readPathCounters(pipeline.program.url);
    const cpu = startCpuWindow(serverPid, pipeline.services);
    const run = await pipeline.pace(1, opts.ratePerSecond, count, STRAGGLER_WAIT_MS);
    const pathsAfter = await readPathCounters(pipeline.program.url);
    await pipeline.services.refreshBackends();
    const cpuFigures = cpu.stop();
    logProgress(`measured: ${run.arrived}/${run.ackedIds.length} acknowledged leads delivered`);
    const memory = rss.stop();
    rss = undefined;
    // The program is idle now; its services are still up for the statement reference.
    const floor = await measureHopFloor(TEST_APP_SECRET, opts.ratePerSecond, FLOOR_SECONDS, pipeline.services.databaseUrl).catch((err: unknown) =>
      err instanceof Error ? err : new Error(String(err)),
    );

    const statusRows = await sql.query<{ status: string; n: string }>(
      `select d.status, count(*) as n from deliveries d join leads l on l.id = d.lead_id
        where l.leadgen_id::numeric >= $1::numeric and l.leadgen_id::numeric < $1::numeric + $2 group by d.status order by d.status`,
      [run.ids[0], count],
    );
    const deliveryStatuses = statusRows.rows.map((r) => `${r.status} ${formatInt(Number(r.n))}`).join(', ') || 'none';

    rows = buildE2eReportRows({
      run,
      arrivals: pipeline.arrivals,
      memory,
      cpu: cpuFigures,
      deliveryStatuses,
      benchRssMb: readProcStatusMb('self', 'VmHWM') ?? NaN,
    });
    rows.unshift({ label: 'PostgreSQL and Redis', value: pipeline.services.describe() });
    // Handed over and sent at once is the cheap way; fetch and delivery jobs mean the workers fell behind.
    rows.push({ label: 'which way the measured leads went (program counters)', value: describePathCounters(pathsBefore, pathsAfter) });
    rows.push(...buildHopFloorRows(floor, perLeadTotalMs(cpuFigures, run.arrived)));
  } finally {
    rss?.stop();
    await sql?.end().catch(() => {});
    await pipeline?.close();
  }
  printReport(
    `LeadRelay end-to-end benchmark (leadrelay start, fake Graph + webhook receiver on 127.0.0.1, ${opts.ratePerSecond} leads/s for ${opts.seconds} s)`,
    [
      buildMachineBusyRow(quiet),
      buildCalibrationRow(calibration, CALIBRATION_CONNECTIONS),
      { label: 'program environment overrides', value: describeOverrides(opts.envOverrides) },
      ...rows,
    ],
  );
}

/** CPU of the program, PostgreSQL and Redis per delivered lead, ms. */
function perLeadTotalMs(cpu: CpuFigures, delivered: number): number {
  return [cpu.server, cpu.postgres, cpu.redis].reduce((n, p) => n + computeCpuMicrosPerRequest(p, cpu.seconds, delivered) / 1000, 0);
}

function buildE2eReportRows(m: {
  run: PaceFigures;
  arrivals: ArrivalIndex;
  memory: ReturnType<RssSampler['stop']>;
  cpu: CpuFigures;
  deliveryStatuses: string;
  benchRssMb: number;
}): ReportRow[] {
  const { run } = m;
  const lat = run.latency;
  const load = run.load;
  const acked = run.ackedIds.length;
  const windowMs = run.windowMs;
  const ackWindows: number[][] = [];
  const scheduled = load.scheduledTimes ?? [];
  const start = scheduled.find((t) => Number.isFinite(t)) ?? 0;
  (load.ackLatencies ?? []).forEach((ack, i) => {
    if (Number.isFinite(ack) && Number.isFinite(scheduled[i])) (ackWindows[Math.floor((scheduled[i] - start) / windowMs)] ??= []).push(ack);
  });
  const ackSeries = Array.from(ackWindows, (w) => (w ? summarizeLatencies(w) : undefined));
  const sent = load.sent;
  const rows: ReportRow[] = [
    { label: 'webhook (scheduled send) → destination p50', value: formatMs(lat.p50), target: `≤ ${TARGET_P50_MS} ms`, isMet: lat.p50 <= TARGET_P50_MS },
    { label: 'webhook (scheduled send) → destination p99', value: formatMs(lat.p99), target: `≤ ${TARGET_P99_MS} ms`, isMet: lat.p99 <= TARGET_P99_MS },
    { label: 'webhook → destination p90 / max / mean', value: `${formatMs(lat.p90)} / ${formatMs(lat.max)} / ${formatMs(lat.mean)}` },
    { label: `webhook → destination p50 per ${windowMs / 1000} s of sending`, value: run.windows.map((x) => formatMs(x.p50)).join(' / ') },
    { label: `webhook → destination p99 per ${windowMs / 1000} s of sending`, value: run.windows.map((x) => formatMs(x.p99)).join(' / ') },
    {
      label: 'generator send lag p50 / p99 / max (included in the latencies above)',
      value: `${formatMs(run.sendLag.p50)} / ${formatMs(run.sendLag.p99)} / ${formatMs(run.sendLag.max)}`,
    },
    { label: `webhook ack p99 per ${windowMs / 1000} s of sending`, value: ackSeries.map((x) => (x ? formatMs(x.p99) : '-')).join(' / ') },
    {
      label: `acknowledged ids delivered / acknowledged / sent (after ≤ ${STRAGGLER_WAIT_MS / 1000} s for stragglers)`,
      value: `${formatInt(run.arrived)} / ${formatInt(acked)} / ${formatInt(sent)}`,
      target: 'all, each id looked up',
      isMet: run.arrived === acked && acked === sent,
    },
    { label: 'deliveries in PostgreSQL by status', value: m.deliveryStatuses },
    { label: 'repeat deliveries at the receiver / bad signatures', value: `${formatInt(m.arrivals.repeats)} / ${formatInt(m.arrivals.badSignatures)}` },
    {
      label: `webhooks: 2xx / non-2xx / errors, at ${formatInt(load.okPerSecond)} 2xx/s`,
      value: `${formatInt(load.ok)} / ${formatInt(load.non2xx)} / ${formatInt(load.errors)}`,
    },
    {
      label: 'webhook ack latency p50 / p99 / max',
      value: `${formatMs(load.latency.p50)} / ${formatMs(load.latency.p99)} / ${formatMs(load.latency.max)}`,
    },
    // The window runs from the first send to the last arrival; the load generator's share is spread over it.
    { label: 'CPU during the run, % of one core', value: formatCpu(m.cpu, 'start', (100 * load.worker.cpuMs) / (m.cpu.seconds * 1000)) },
    {
      label: 'CPU per delivered lead: start / postgres / redis',
      value: [m.cpu.server, m.cpu.postgres, m.cpu.redis].map((p) => formatMs(computeCpuMicrosPerRequest(p, m.cpu.seconds, run.arrived) / 1000)).join(' / '),
    },
    {
      label: 'CPU per delivered lead, all three',
      value: formatMs(perLeadTotalMs(m.cpu, run.arrived)),
      target: `≤ ${TARGET_CPU_PER_LEAD_MS} ms`,
      isMet: perLeadTotalMs(m.cpu, run.arrived) <= TARGET_CPU_PER_LEAD_MS,
    },
  ];
  for (const r of m.memory) {
    rows.push({
      label: `peak RSS ${r.name} (VmHWM; sampled VmRSS max ${formatMb(r.sampledPeakRssMb)})`,
      value: formatMb(r.peakRssMb),
      target: `≤ ${TARGET_RSS_MB} MB`,
      isMet: r.peakRssMb <= TARGET_RSS_MB,
    });
  }
  rows.push({ label: 'peak RSS bench process (fake Graph + receiver)', value: formatMb(m.benchRssMb) });
  rows.push({ label: 'peak RSS load generator', value: formatMb(load.worker.peakRssMb) });
  return rows;
}

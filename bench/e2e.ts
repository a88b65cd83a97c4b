// `npm run bench -- e2e`: webhook → destination latency through `leadrelay start` (HTTP role and
// workers in one process), with the loopback fake Graph API serving each lead and the loopback
// webhook receiver standing in for the CRM. Leads are sent at a fixed rate from a separate load
// process, which reports when each webhook left; the receiver notes when each lead arrived.
import { startFakeGraph, type FakeGraph } from '../test/fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../test/fakes/webhook-receiver.js';
import { cli, flushPrefix, removeQueues, sleep, startProgram, TEST_APP_SECRET, type RunningProgram } from '../test/helpers/e2e.js';
import { createTestSchema } from '../test/helpers/test-db.js';
import {
  BENCH_FORM_ID,
  BENCH_PAGE_ID,
  formatInt,
  formatMb,
  formatMs,
  makeLeadgenId,
  logProgress,
  buildMachineBusyRow,
  printReport,
  sampleMachineBusy,
  readProcStatusMb,
  runLoadJob,
  RssSampler,
  startCpuWindow,
  summarizeLatencies,
  formatCpu,
  computeCpuMicrosPerRequest,
  type CpuFigures,
  type LoadResult,
  type PacedJob,
  type ReportRow,
} from './lib.js';
import { buildBenchEnv, connectSql, describeOverrides, getFirstLeadgenIdOfRun, type BenchOptions } from './setup.js';

/** Warm-up at the measured rate, so JIT, pool sizes and sockets are those of a running service. */
const WARMUP_SECONDS = 3;
const STRAGGLER_WAIT_MS = 15_000;
const TARGET_P50_MS = 100;
const TARGET_P99_MS = 500;
const TARGET_RSS_MB = 150;
const PAGE_TOKEN = 'EAAB-bench-page-token';
const RECEIVER_SECRET = 'bench-receiver-secret';

/** Indexes the receiver's requests by leadgen id as they arrive (first 2xx arrival, and repeats). */
class ArrivalIndex {
  readonly firstArrival = new Map<string, number>();
  repeats = 0;
  badSignatures = 0;
  private seen = 0;

  constructor(private readonly receiver: FakeReceiver) {}

  update(): void {
    const received = this.receiver.received;
    for (; this.seen < received.length; this.seen++) {
      const r = received[this.seen];
      const id = r.body?.leadgen_id;
      if (typeof id !== 'string' || r.status < 200 || r.status >= 300) continue;
      if (r.signatureValid === false) this.badSignatures++;
      if (this.firstArrival.has(id)) this.repeats++;
      else this.firstArrival.set(id, r.at);
    }
  }

  countArrived(ids: string[]): number {
    this.update();
    return ids.reduce((n, id) => n + (this.firstArrival.has(id) ? 1 : 0), 0);
  }
}

function addGraphLeads(graph: FakeGraph, firstLeadgenId: string, count: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = makeLeadgenId(firstLeadgenId, i);
    ids.push(id);
    graph.addLead({
      id,
      form_id: BENCH_FORM_ID,
      page_id: BENCH_PAGE_ID,
      field_data: [
        { name: 'full_name', values: [`Bench Lead ${i}`] },
        { name: 'email', values: [`bench${i}@example.com`] },
        { name: 'phone_number', values: ['+15555550100'] },
      ],
      ad_id: '3000777',
      ad_name: 'Bench ad',
      adset_id: '3000778',
      adset_name: 'Bench set',
      campaign_id: '3000779',
      campaign_name: 'Bench campaign',
      platform: 'fb',
      is_organic: false,
    });
  }
  return ids;
}

async function waitForArrivals(index: ArrivalIndex, ids: string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const arrived = index.countArrived(ids);
    if (arrived === ids.length || Date.now() > deadline) return arrived;
    await sleep(100);
  }
}

export async function runE2eBench(opts: BenchOptions): Promise<void> {
  const quiet = await sampleMachineBusy(1000);
  const schema = await createTestSchema('bench');
  let graph: FakeGraph | undefined;
  let receiver: FakeReceiver | undefined;
  let program: RunningProgram | undefined;
  let sql: Awaited<ReturnType<typeof connectSql>> | undefined;
  let rss: RssSampler | undefined;
  let prefix = '';
  let rows: ReportRow[] = [];
  try {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver({ secret: RECEIVER_SECRET });
    const env = buildBenchEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url }, opts.envOverrides);
    prefix = env.QUEUE_PREFIX;
    graph.addForm({
      id: BENCH_FORM_ID,
      page_id: BENCH_PAGE_ID,
      name: 'Bench form',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
        { key: 'phone_number', type: 'PHONE', label: 'Phone number' },
      ],
    });
    graph.setPageToken(BENCH_PAGE_ID, PAGE_TOKEN, 'Bench page');

    logProgress(`registering workspace, page, destination and route through the CLI (schema ${schema.schema})`);
    const workspaceId = await cli(['workspaces', 'create', '--name', 'Bench'], env);
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', BENCH_PAGE_ID, '--token', PAGE_TOKEN, '--name', 'Bench page'], env);
    const destinationId = await cli(
      ['destinations', 'add', '--workspace', workspaceId, '--type', 'webhook', '--url', receiver.url, '--secret', RECEIVER_SECRET],
      env,
    );
    await cli(['routes', 'add', '--workspace', workspaceId, '--page-id', BENCH_PAGE_ID, '--destination', destinationId], env);

    logProgress(`starting leadrelay start (queue prefix ${prefix})`);
    program = await startProgram('start', env);
    const serverPid = program.proc.pid!;
    rss = new RssSampler(new Map([['leadrelay start', serverPid]])).start();
    sql = await connectSql(schema.url);
    const url = `${program.url}/webhooks/meta`;
    const arrivals = new ArrivalIndex(receiver);

    // Warm-up: JIT, pools and sockets, so the measured run starts from a running service.
    const warmCount = opts.ratePerSecond * WARMUP_SECONDS;
    const warmFirst = getFirstLeadgenIdOfRun(0);
    const warmIds = addGraphLeads(graph, warmFirst, warmCount);
    logProgress(`warm-up: ${warmCount} leads at ${opts.ratePerSecond}/s`);
    const warmJob: PacedJob = {
      kind: 'paced',
      url,
      appSecret: TEST_APP_SECRET,
      pageId: BENCH_PAGE_ID,
      formId: BENCH_FORM_ID,
      firstLeadgenId: warmFirst,
      count: warmCount,
      ratePerSecond: opts.ratePerSecond,
      maxSockets: 32,
    };
    await runLoadJob(warmJob, 60_000);
    const warmArrived = await waitForArrivals(arrivals, warmIds, STRAGGLER_WAIT_MS);
    if (warmArrived < warmCount) logProgress(`warm-up: only ${warmArrived}/${warmCount} delivered; measuring anyway`);

    const count = opts.ratePerSecond * opts.seconds;
    const first = getFirstLeadgenIdOfRun(1);
    const ids = addGraphLeads(graph, first, count);
    logProgress(`measured: ${formatInt(count)} leads at ${opts.ratePerSecond}/s`);
    const cpu = startCpuWindow(serverPid);
    const load = await runLoadJob(
      {
        kind: 'paced',
        url,
        appSecret: TEST_APP_SECRET,
        pageId: BENCH_PAGE_ID,
        formId: BENCH_FORM_ID,
        firstLeadgenId: first,
        count,
        ratePerSecond: opts.ratePerSecond,
        maxSockets: 32,
        isRecordingSendTimes: true,
      },
      120_000,
    );
    const waitStartedAt = Date.now();
    const arrived = await waitForArrivals(arrivals, ids, STRAGGLER_WAIT_MS);
    const cpuFigures = cpu.stop();
    logProgress(`measured: ${arrived}/${count} delivered (waited ${((Date.now() - waitStartedAt) / 1000).toFixed(1)} s after the last send)`);
    const memory = rss.stop();
    rss = undefined;

    const statusRows = await sql.query<{ status: string; n: string }>(
      `select d.status, count(*) as n from deliveries d join leads l on l.id = d.lead_id
        where l.leadgen_id::numeric >= $1::numeric and l.leadgen_id::numeric < $1::numeric + $2 group by d.status order by d.status`,
      [first, count],
    );
    const deliveryStatuses = statusRows.rows.map((r) => `${r.status} ${formatInt(Number(r.n))}`).join(', ') || 'none';

    rows = buildE2eReportRows({
      ids,
      load,
      arrivals,
      arrived,
      memory,
      cpu: cpuFigures,
      deliveryStatuses,
      benchRssMb: readProcStatusMb('self', 'VmHWM') ?? NaN,
      seconds: opts.seconds,
    });
  } finally {
    rss?.stop();
    await program?.kill().catch(() => {});
    await sql?.end().catch(() => {});
    await receiver?.close().catch(() => {});
    await graph?.close().catch(() => {});
    if (prefix) await Promise.all([flushPrefix(prefix), removeQueues('postgres', prefix)]).catch(() => {});
    await schema.drop().catch(() => {});
  }
  printReport(
    `LeadRelay end-to-end benchmark (leadrelay start, fake Graph + webhook receiver on 127.0.0.1, ${opts.ratePerSecond} leads/s for ${opts.seconds} s)`,
    [buildMachineBusyRow(quiet), { label: 'program environment overrides', value: describeOverrides(opts.envOverrides) }, ...rows],
  );
}

function buildE2eReportRows(m: {
  ids: string[];
  load: LoadResult;
  arrivals: ArrivalIndex;
  arrived: number;
  memory: ReturnType<RssSampler['stop']>;
  cpu: CpuFigures;
  deliveryStatuses: string;
  benchRssMb: number;
  seconds: number;
}): ReportRow[] {
  const sendTimes = m.load.sendTimes ?? [];
  const latencies: number[] = [];
  m.ids.forEach((id, i) => {
    const at = m.arrivals.firstArrival.get(id);
    if (at !== undefined && Number.isFinite(sendTimes[i])) latencies.push(at - sendTimes[i]);
  });
  const lat = summarizeLatencies(latencies);
  // Latency by when the webhook was sent: a rising series means a backlog, a flat one noise.
  const windowMs = Math.max(1000, Math.round((m.seconds * 1000) / 10));
  const start = sendTimes.find((t) => Number.isFinite(t)) ?? 0;
  const windows: number[][] = [];
  m.ids.forEach((id, i) => {
    const at = m.arrivals.firstArrival.get(id);
    if (at === undefined || !Number.isFinite(sendTimes[i])) return;
    const w = Math.floor((sendTimes[i] - start) / windowMs);
    (windows[w] ??= []).push(at - sendTimes[i]);
  });
  const series = windows.map((w) => (w ? summarizeLatencies(w) : undefined));
  const ackWindows: number[][] = [];
  (m.load.ackLatencies ?? []).forEach((ack, i) => {
    if (Number.isFinite(ack) && Number.isFinite(sendTimes[i])) (ackWindows[Math.floor((sendTimes[i] - start) / windowMs)] ??= []).push(ack);
  });
  const ackSeries = ackWindows.map((w) => (w ? summarizeLatencies(w) : undefined));
  const sent = m.load.sent;
  const rows: ReportRow[] = [
    { label: 'webhook → destination p50', value: formatMs(lat.p50), target: `≤ ${TARGET_P50_MS} ms`, isMet: lat.p50 <= TARGET_P50_MS },
    { label: 'webhook → destination p99', value: formatMs(lat.p99), target: `≤ ${TARGET_P99_MS} ms`, isMet: lat.p99 <= TARGET_P99_MS },
    { label: 'webhook → destination p90 / max / mean', value: `${formatMs(lat.p90)} / ${formatMs(lat.max)} / ${formatMs(lat.mean)}` },
    { label: `webhook → destination p50 per ${windowMs / 1000} s of sending`, value: series.map((x) => (x ? formatMs(x.p50) : '-')).join(' / ') },
    { label: `webhook → destination p99 per ${windowMs / 1000} s of sending`, value: series.map((x) => (x ? formatMs(x.p99) : '-')).join(' / ') },
    { label: `webhook ack p99 per ${windowMs / 1000} s of sending`, value: ackSeries.map((x) => (x ? formatMs(x.p99) : '-')).join(' / ') },
    {
      label: `delivered / sent (after ≤ ${STRAGGLER_WAIT_MS / 1000} s for stragglers)`,
      value: `${formatInt(m.arrived)} / ${formatInt(sent)}`,
      target: 'all',
      isMet: m.arrived === sent && m.load.ok === sent,
    },
    { label: 'deliveries in PostgreSQL by status', value: m.deliveryStatuses },
    { label: 'repeat deliveries at the receiver / bad signatures', value: `${formatInt(m.arrivals.repeats)} / ${formatInt(m.arrivals.badSignatures)}` },
    {
      label: `webhooks: 2xx / non-2xx / errors, at ${formatInt(m.load.okPerSecond)} 2xx/s`,
      value: `${formatInt(m.load.ok)} / ${formatInt(m.load.non2xx)} / ${formatInt(m.load.errors)}`,
    },
    {
      label: 'webhook ack latency p50 / p99 / max',
      value: `${formatMs(m.load.latency.p50)} / ${formatMs(m.load.latency.p99)} / ${formatMs(m.load.latency.max)}`,
    },
    // The window runs from the first send to the last arrival; the load generator's share is spread over it.
    { label: 'CPU during the run, % of one core', value: formatCpu(m.cpu, 'start', (100 * m.load.worker.cpuMs) / (m.cpu.seconds * 1000)) },
    {
      label: 'CPU per delivered lead: start / postgres / redis',
      value: [m.cpu.server, m.cpu.postgres, m.cpu.redis].map((p) => formatMs(computeCpuMicrosPerRequest(p, m.cpu.seconds, m.arrived) / 1000)).join(' / '),
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
  rows.push({ label: 'peak RSS load generator', value: formatMb(m.load.worker.peakRssMb) });
  return rows;
}

// The whole pipeline under load, shared by the e2e, sustained and profile benchmarks: the real
// `leadrelay start` against the loopback fake Graph API (serving every lead) and the loopback
// webhook receiver (the destination), registered through the CLI as an operator would; signed
// webhooks at a fixed rate from a separate load process; arrivals indexed by leadgen id.
import { writeFileSync } from 'node:fs';
import { startFakeGraph, type FakeGraph } from '../test/fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../test/fakes/webhook-receiver.js';
import { cli, sleep, startProgram, TEST_APP_SECRET, type RunningProgram } from '../test/helpers/e2e.js';
import { BENCH_FORM_ID, BENCH_PAGE_ID, logProgress, makeLeadgenId, runLoadJob, summarizeLatencies, type LatencySummary, type LoadResult } from './lib.js';
import { openServices, type BenchServices } from './services.js';
import { buildBenchEnv } from './setup.js';

export const PAGE_TOKEN = 'EAAB-bench-page-token';
const RECEIVER_SECRET = 'bench-receiver-secret';

/** Indexes the receiver's requests by leadgen id as they arrive (first 2xx arrival, and repeats). */
export class ArrivalIndex {
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
    // The receiver keeps every request (headers, raw and parsed body); the index has what it needs
    // from them. Let go of them often: holding 60,000 made the bench process, which serves the
    // fake Graph and the receiver too, a 400+ MB heap whose collections stalled both mid-run.
    // `arrived` (the same requests, pending ones included) is not read by the benches.
    if (this.seen > 2_000) {
      received.splice(0, this.seen);
      this.seen = 0;
      this.receiver.arrived.length = 0;
    }
  }

  countArrived(ids: string[]): number {
    this.update();
    return ids.reduce((n, id) => n + (this.firstArrival.has(id) ? 1 : 0), 0);
  }
}

export function addGraphLeads(graph: FakeGraph, firstLeadgenId: string, count: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = makeLeadgenId(firstLeadgenId, i);
    ids.push(id);
    graph.addLead({
      id,
      form_id: BENCH_FORM_ID,
      page_id: BENCH_PAGE_ID,
      field_data: [
        { name: 'full_name', values: [`Bench Lead ${id.slice(-9)}`] },
        { name: 'email', values: [`bench${id}@example.com`] },
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

export function addBenchForm(graph: FakeGraph): void {
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
}

export interface PaceFigures {
  ids: string[];
  load: LoadResult;
  /** Ids whose webhook got a 2xx. */
  ackedIds: string[];
  arrived: number;
  /** Scheduled send → first arrival at the receiver, acknowledged ids that arrived. */
  latency: LatencySummary;
  /** Per window of sending: p50 and p99 of the same latency (a rising series = a growing backlog). */
  windows: { p50: number; p99: number }[];
  windowMs: number;
  /** How late the generator sent against its schedule (already inside `latency`). */
  sendLag: LatencySummary;
}

export interface Pipeline {
  services: BenchServices;
  graph: FakeGraph;
  receiver: FakeReceiver;
  program: RunningProgram;
  env: Record<string, string>;
  arrivals: ArrivalIndex;
  /** Sends `count` leads at `rate`/s (run `runIndex` picks their ids) and waits ≤ stragglerMs for arrivals. */
  pace(runIndex: number, rate: number, count: number, stragglerMs: number): Promise<PaceFigures>;
  close(): Promise<void>;
}

async function waitForArrivals(index: ArrivalIndex, ids: string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const arrived = index.countArrived(ids);
    if (arrived === ids.length || Date.now() > deadline) return arrived;
    await sleep(100);
  }
}

/** Leadgen ids of run `k` start here, so no two runs of one bench share an id. */
function firstIdOfRun(k: number): string {
  return String(7_100_000_000_000_000_000n + BigInt(k) * 1_000_000_000n);
}

export async function openPipeline(opts: {
  services: 'shared' | 'private';
  envOverrides: Record<string, string>;
  /** Options for node running `leadrelay start` only (e.g. --cpu-prof), not the CLI. */
  nodeArgs?: string[];
}): Promise<Pipeline> {
  const services = await openServices(opts.services);
  let graph: FakeGraph | undefined;
  let receiver: FakeReceiver | undefined;
  let program: RunningProgram | undefined;
  let prefix = '';
  const close = async () => {
    await program?.kill().catch(() => {});
    // BENCH_PROGRAM_LOG=<file>: what `leadrelay start` wrote (warnings and errors at the bench's LOG_LEVEL), for a run that needs explaining.
    if (program && process.env.BENCH_PROGRAM_LOG) writeFileSync(process.env.BENCH_PROGRAM_LOG, program.output());
    await receiver?.close().catch(() => {});
    await graph?.close().catch(() => {});
    await services.close(prefix).catch(() => {});
  };
  try {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver({ secret: RECEIVER_SECRET });
    const env = buildBenchEnv({ DATABASE_URL: services.databaseUrl, REDIS_URL: services.redisUrl, META_GRAPH_URL: graph.url }, opts.envOverrides);
    prefix = env.QUEUE_PREFIX;
    addBenchForm(graph);
    logProgress(`registering workspace, page, webhook destination and route through the CLI (${services.kind} PostgreSQL and Redis)`);
    const workspaceId = await cli(['workspaces', 'create', '--name', 'Bench'], env);
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', BENCH_PAGE_ID, '--token', PAGE_TOKEN, '--name', 'Bench page'], env);
    const destinationId = await cli(
      ['destinations', 'add', '--workspace', workspaceId, '--type', 'webhook', '--url', receiver.url, '--secret', RECEIVER_SECRET],
      env,
    );
    await cli(['routes', 'add', '--workspace', workspaceId, '--page-id', BENCH_PAGE_ID, '--destination', destinationId], env);
    logProgress(`starting leadrelay start (queue prefix ${prefix})`);
    program = await startProgram('start', env, undefined, opts.nodeArgs);
    const started = program;
    const g = graph;
    const arrivals = new ArrivalIndex(receiver);
    return {
      services,
      graph,
      receiver,
      program,
      env,
      arrivals,
      close,
      async pace(runIndex, rate, count, stragglerMs) {
        const first = firstIdOfRun(runIndex);
        const ids = addGraphLeads(g, first, count);
        const load = await runLoadJob(
          {
            kind: 'paced',
            url: `${started.url}/webhooks/meta`,
            appSecret: TEST_APP_SECRET,
            pageId: BENCH_PAGE_ID,
            formId: BENCH_FORM_ID,
            firstLeadgenId: first,
            count,
            ratePerSecond: rate,
            maxSockets: 64,
            isRecordingSendTimes: true,
          },
          Math.max(60_000, (count / rate) * 1000 * 3 + 30_000),
        );
        const ackedIds = ids.filter((_, i) => load.acked[i] === 1);
        const arrived = await waitForArrivals(arrivals, ackedIds, stragglerMs);
        return { ids, load, ackedIds, arrived, ...summarizeArrivals(ids, load, arrivals, count / rate) };
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function summarizeArrivals(ids: string[], load: LoadResult, arrivals: ArrivalIndex, seconds: number) {
  const scheduled = load.scheduledTimes ?? [];
  const windowMs = Math.max(1000, Math.round((seconds * 1000) / 10));
  const start = scheduled.find((t) => Number.isFinite(t)) ?? 0;
  const all: number[] = [];
  const windows: number[][] = [];
  ids.forEach((id, i) => {
    const at = arrivals.firstArrival.get(id);
    if (at === undefined || !Number.isFinite(scheduled[i])) return;
    const latency = at - scheduled[i];
    all.push(latency);
    (windows[Math.floor((scheduled[i] - start) / windowMs)] ??= []).push(latency);
  });
  const lags = (load.sendLags ?? []).filter((x) => Number.isFinite(x));
  return {
    latency: summarizeLatencies(all),
    windows: Array.from(windows, (w) => (w ? summarizeLatencies(w) : { p50: NaN, p99: NaN })),
    windowMs,
    sendLag: summarizeLatencies(lags),
  };
}

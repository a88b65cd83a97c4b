// Shared pieces of the benchmarks: signed leadgen webhook bodies, the out-of-process load
// generator, /proc sampling (peak RSS, CPU), latency statistics and the printed report.
// Benchmarks are not pass/fail: targets are printed beside the figures, never asserted.
import { fork } from 'node:child_process';
import http from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeSignature256 } from '../src/meta/signature.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bench/load-worker.js, next to this compiled file. */
const LOAD_WORKER = resolve(here, 'load-worker.js');
const BARE_SERVER = resolve(here, 'bare-server.js');
const HOP_PACER = resolve(here, 'hop-pacer.js');

export const BENCH_PAGE_ID = '1000000777';
export const BENCH_FORM_ID = '2000000777';

// ---------------------------------------------------------------------------------------------
// Signed webhooks

/** Leadgen ids beyond 2^53, as Meta's are; `first + i` keeps every body of a run distinct. */
export function makeLeadgenId(first: string, i: number): string {
  return String(BigInt(first) + BigInt(i));
}

/** One leadgen change in Meta's webhook shape (reference/meta-lead-ads.md §2). */
function buildLeadgenBody(pageId: string, formId: string, leadgenId: string, nowSeconds: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      object: 'page',
      entry: [
        {
          id: pageId,
          time: nowSeconds,
          changes: [
            {
              field: 'leadgen',
              value: { ad_id: '3000777', form_id: formId, leadgen_id: leadgenId, created_time: nowSeconds, page_id: pageId, adgroup_id: '3000777' },
            },
          ],
        },
      ],
    }),
  );
}

export interface SignedBody {
  body: Buffer;
  signature: string;
}

/** POSTs one signed leadgen webhook to `target` through `agent` (the load worker's and the floor's requests). */
export function postSignedWebhook(agent: http.Agent, target: URL, signed: SignedBody, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
  const req = http.request(
    {
      agent,
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': signed.body.length, 'x-hub-signature-256': signed.signature },
    },
    onResponse,
  );
  req.end(signed.body);
  return req;
}

export function signLeadgenBody(appSecret: string, pageId: string, formId: string, leadgenId: string, nowSeconds: number): SignedBody {
  const body = buildLeadgenBody(pageId, formId, leadgenId, nowSeconds);
  return { body, signature: computeSignature256(body, appSecret) };
}

// ---------------------------------------------------------------------------------------------
// The load worker (a separate process, so load generation never shares the server's event loop)

interface LoadTarget {
  /** http://127.0.0.1:<port>/webhooks/meta */
  url: string;
  appSecret: string;
  pageId: string;
  formId: string;
  /** Leadgen id of request 0; request i carries `firstLeadgenId + i`. */
  firstLeadgenId: string;
  /** Exactly this many requests are sent, and every answer is awaited. */
  count: number;
}

/** Closed loop: `connections` keep-alive sockets, each sending its next request on the last answer. */
export interface AutocannonJob extends LoadTarget {
  kind: 'autocannon';
  connections: number;
  /** autocannon's own rate limit (requests/s over all connections). */
  overallRate?: number;
}

/** Open loop: request i is due at start + i / ratePerSecond, whatever the earlier answers did. */
export interface PacedJob extends LoadTarget {
  kind: 'paced';
  ratePerSecond: number;
  maxSockets: number;
  /** Return each request's scheduled send time (epoch ms), e.g. to measure webhook → destination latency. */
  isRecordingSendTimes?: boolean;
  /** Delay before request 0 is due (ms, default 20): lets the caller align a fault with the load. */
  startDelayMs?: number;
}

export type LoadJob = AutocannonJob | PacedJob;

/** A load job without its target: the part each run chooses. */
export type JobShape = LoadJob extends infer J ? (J extends LoadJob ? Omit<J, 'url' | 'appSecret' | 'pageId' | 'formId' | 'firstLeadgenId'> : never) : never;

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  kind: LoadJob['kind'];
  sent: number;
  /** Answers with a 2xx status. */
  ok: number;
  non2xx: number;
  /** Socket errors and timeouts: no answer at all. */
  errors: number;
  statusCounts: Record<string, number>;
  durationMs: number;
  /** 2xx answers per second of wall time. */
  okPerSecond: number;
  /** Send → full answer, ms, 2xx only. Paced jobs measure from the scheduled send time. */
  latency: LatencySummary;
  /** Paced jobs: how late sends left against their schedule (ms): the generator's own lag. */
  sendLag?: LatencySummary;
  /** autocannon's own 1 ms-resolution figures, for comparison. */
  autocannonLatency?: { p50: number; p99: number; max: number };
  /**
   * Per request i (leadgen id `firstLeadgenId + i`): 1 when it got a 2xx answer, else 0. Exact
   * per request (autocannon's per-request onResponse, the pacer's own callbacks), so a caller can
   * look every acknowledged id up afterwards instead of comparing counts.
   */
  acked: Uint8Array;
  /** Epoch ms when request i was due (paced jobs with isRecordingSendTimes): latency counts from here. */
  scheduledTimes?: number[];
  /** Per request: how late it left against its schedule (ms), NaN when never sent. */
  sendLags?: number[];
  /** Per request: its 2xx acknowledgement latency from the scheduled time (ms), NaN when not acknowledged. */
  ackLatencies?: number[];
  worker: { peakRssMb: number; cpuMs: number };
}

/** Runs one job in a fresh `node dist/bench/load-worker.js` process and returns its result. */
export function runLoadJob(job: LoadJob, timeoutMs: number): Promise<LoadResult> {
  return runForkedJob<LoadResult>(LOAD_WORKER, job, timeoutMs);
}

/** Runs one job in a fresh process of `script`, which answers `{type:'result'}` or `{type:'error'}` over IPC. */
function runForkedJob<R>(script: string, job: { kind: string }, timeoutMs: number): Promise<R> {
  return new Promise((resolveJob, reject) => {
    const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    let settled = false;
    const finish = (err: Error | null, result?: R) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (err) reject(err);
      else resolveJob(result!);
    };
    const timer = setTimeout(() => finish(new Error(`${job.kind} worker did not finish within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', (msg: { type: string; result?: R; error?: string }) => {
      if (msg.type === 'result' && msg.result) finish(null, msg.result);
      else if (msg.type === 'error') finish(new Error(`${job.kind} worker failed: ${msg.error ?? 'unknown error'}`));
    });
    child.once('error', (err) => finish(err));
    child.once('exit', (code, signal) => finish(new Error(`${job.kind} worker exited (${code ?? signal}) before sending its result`)));
    child.send({ type: 'run', job });
  });
}

/** The floor's references (bench/hop-pacer.ts): three paced loops of `count` operations at one rate. */
export interface HopJob {
  kind: 'hops';
  /** The bare HMAC server's webhook URL (127.0.0.1), and its process (its CPU is read from /proc). */
  url: string;
  serverPid: number;
  appSecret: string;
  databaseUrl: string;
  ratePerSecond: number;
  count: number;
}

/** CPU in ms of each loop: the pacer's own for the empty, request and statement loops; the backend's for the statements. */
export interface HopResult {
  count: number;
  /** The bare server's CPU over the measured request loop. */
  serverCpuMs: number;
  timerCpuMs: number;
  requestCpuMs: number;
  statementCpuMs: number;
  backendCpuMs: number;
}

/**
 * What the parts of one lead would cost at `rate` if they did nothing but cross the wire, measured
 * in the same run: a bare HMAC server answering a webhook, a client sending one over a kept-alive
 * connection, and one trivial prepared statement (client and PostgreSQL backend). The clients'
 * figures leave out what pacing costs (an empty loop at the same rate, subtracted). Below some
 * rate, a process that sleeps between messages pays more for waking up (epoll, the scheduler, on a
 * VM the hypervisor) than for the message: these figures show that floor beside the per-lead ones.
 */
export interface HopFloor {
  rate: number;
  /** µs of CPU per request: the bare server answering it / the client sending it. */
  serverMicrosPerRequest: number;
  clientMicrosPerRequest: number;
  /** µs of CPU per statement: the client / its PostgreSQL backend. */
  statementClientMicros: number;
  statementBackendMicros: number;
}

/**
 * The intake ack's reference (bench/hop-pacer.ts): one row inserted and committed per request,
 * open loop at `ratePerSecond` over a pool of `connections`, latency from each insert's scheduled
 * time. A durable acknowledgement cannot come sooner than its commit does.
 */
export interface CommitJob {
  kind: 'commits';
  databaseUrl: string;
  ratePerSecond: number;
  count: number;
  connections: number;
}

export interface CommitResult {
  latency: LatencySummary;
}

export async function measureCommitReference(databaseUrl: string, rate: number, seconds: number): Promise<CommitResult | Error> {
  const count = Math.max(1, Math.round(rate * seconds));
  logProgress(`reference: ${formatInt(count)} one-row inserts, each committed, at ${rate}/s…`);
  const job: CommitJob = { kind: 'commits', databaseUrl, ratePerSecond: rate, count, connections: 4 };
  // Failing, it costs its own row, not the report.
  return runForkedJob<CommitResult>(HOP_PACER, job, (count / rate) * 1000 * 3 + 30_000).catch((err: unknown) =>
    err instanceof Error ? err : new Error(String(err)),
  );
}

/** The hops every lead crosses at least: its webhook, the Graph read and the CRM call, and three statements (intake, store, outcome). */
const LEAD_HOPS = { webhooksAnswered: 1, requestsSent: 2, statements: 3 } as const;

export async function measureHopFloor(appSecret: string, rate: number, seconds: number, databaseUrl: string): Promise<HopFloor> {
  const count = Math.max(1, Math.round(rate * seconds));
  logProgress(`floor: an empty loop, ${formatInt(count)} webhooks to a bare HMAC server and ${formatInt(count)} trivial statements, each at ${rate}/s…`);
  const bare = await startBareServer(appSecret);
  try {
    const job: HopJob = { kind: 'hops', url: bare.url, serverPid: bare.pid, appSecret, databaseUrl, ratePerSecond: rate, count };
    const r = await runForkedJob<HopResult>(HOP_PACER, job, ((6 * count) / rate) * 1000 * 3 + 30_000);
    const perOp = (ms: number) => (Math.max(0, ms) * 1000) / r.count;
    return {
      rate,
      serverMicrosPerRequest: perOp(r.serverCpuMs),
      clientMicrosPerRequest: perOp(r.requestCpuMs - r.timerCpuMs),
      statementClientMicros: perOp(r.statementCpuMs - r.timerCpuMs),
      statementBackendMicros: perOp(r.backendCpuMs),
    };
  } finally {
    await bare.close();
  }
}

/** The floor's rows: each reference, and their sum over LEAD_HOPS beside the measured CPU per lead. */
export function buildHopFloorRows(f: HopFloor | Error, cpuPerLeadMs: number): ReportRow[] {
  // A reference that could not be taken (say, a PostgreSQL backend whose /proc is not readable here) costs its row only.
  if (f instanceof Error) return [{ label: "floor of one lead's hops at this rate", value: `n/a (${f.message})` }];
  const floorMicros =
    LEAD_HOPS.webhooksAnswered * f.serverMicrosPerRequest +
    LEAD_HOPS.requestsSent * f.clientMicrosPerRequest +
    LEAD_HOPS.statements * (f.statementClientMicros + f.statementBackendMicros);
  return [
    {
      label: `reference, same run, at ${f.rate}/s: bare HMAC server per webhook / client per request sent / trivial statement (client + PostgreSQL)`,
      value: `${formatInt(f.serverMicrosPerRequest)} / ${formatInt(f.clientMicrosPerRequest)} / ${formatInt(f.statementClientMicros)} + ${formatInt(f.statementBackendMicros)} µs`,
    },
    {
      label: `floor at ${f.rate}/s: ${LEAD_HOPS.webhooksAnswered} webhook answered + ${LEAD_HOPS.requestsSent} requests sent + ${LEAD_HOPS.statements} statements, each at its reference's CPU`,
      value: `${formatMs(floorMicros / 1000)}; the program's CPU per lead, PostgreSQL and Redis included, ${formatMs(cpuPerLeadMs)} = ${(cpuPerLeadMs / (floorMicros / 1000)).toFixed(1)}× the floor`,
    },
  ];
}

interface BareServer {
  url: string;
  pid: number;
  close(): Promise<void>;
}

/** Starts bench/bare-server.js (HMAC check only) in its own process on 127.0.0.1. */
function startBareServer(appSecret: string): Promise<BareServer> {
  return new Promise((resolveStart, reject) => {
    const child = fork(BARE_SERVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('bare calibration server did not start within 10 s'));
    }, 10_000);
    child.once('error', reject);
    child.on('message', (msg: { type: string; port: number }) => {
      if (msg.type !== 'listening') return;
      clearTimeout(timer);
      resolveStart({
        url: `http://127.0.0.1:${msg.port}/webhooks/meta`,
        pid: child.pid!,
        async close() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    });
    child.send({ type: 'listen', appSecret });
  });
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Nearest-rank percentiles over the values (ms). */
export function summarizeLatencies(values: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return { count: n, p50: at(50), p90: at(90), p99: at(99), max: sorted[n - 1], mean: sum / n };
}

// ---------------------------------------------------------------------------------------------
// /proc: memory and CPU of the processes involved

/** A `kB` field of /proc/<pid>/status (VmHWM is the peak resident set), in MB. */
export function readProcStatusMb(pid: number | 'self', field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface ProcStat {
  ppid: number;
  /** utime + stime, clock ticks (USER_HZ, 100 on Linux). */
  ticks: number;
  /** cutime + cstime: children that exited and were waited for. */
  childTicks: number;
}

function readProcStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces; fields resume after its closing parenthesis (field 3 = state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), childTicks: Number(fields[13]) + Number(fields[14]) };
  } catch {
    return undefined;
  }
}

/** utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux). */
export function readProcCpuTicks(pid: number): number | undefined {
  return readProcStat(pid)?.ticks;
}

function listPids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** A process and all its descendants (a `start` that runs its workers in a child process counts whole). */
export function listProcessTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of listPids()) {
    const st = readProcStat(pid);
    if (st) (children.get(st.ppid) ?? children.set(st.ppid, []).get(st.ppid)!).push(pid);
  }
  const out: number[] = [];
  const queue = [rootPid];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * CPU of a process tree in clock ticks: the root's own time plus its waited-for children's, plus
 * every live descendant's. A child that starts and exits inside a window is counted via cutime.
 */
function readProcessTreeTicks(rootPid: number): number {
  let total = 0;
  for (const pid of listProcessTree(rootPid)) {
    const st = readProcStat(pid);
    if (st) total += st.ticks + (pid === rootPid ? st.childTicks : 0);
  }
  return total;
}

const CLOCK_TICKS_PER_SECOND = 100;

function readMachineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export function findPidsByCommand(names: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) pids.push(Number(entry));
    } catch {
      /* gone already */
    }
  }
  return pids;
}

/** CPU in use on the whole machine over `ms`, in % of one core: how quiet the machine is. */
export async function sampleMachineBusy(ms: number): Promise<{ busy: number; cores: number }> {
  const before = readMachineTicks();
  await new Promise((r) => setTimeout(r, ms));
  const after = readMachineTicks();
  return { busy: (100 * (after.busy - before.busy)) / CLOCK_TICKS_PER_SECOND / (ms / 1000), cores: cpus().length };
}

export interface CpuWindow {
  /** CPU used during the window, as % of one core. */
  stop(): CpuFigures;
}

/** CPU used during a window, each in % of one core (a 2-core machine has 200 %). */
export interface CpuFigures {
  server: number;
  postgres: number;
  redis: number;
  /** Every process on the machine, the ones above included. */
  machine: number;
  cores: number;
  seconds: number;
}

/** Which processes count as PostgreSQL and Redis in a CPU window. */
export interface CpuScope {
  /** PostgreSQL processes to count; default every process named postgres on the machine. */
  postgresPids?: () => number[];
  /** Redis processes to count; default every redis-server. */
  redisPids?: () => number[];
}

/**
 * Starts measuring CPU of the server's process tree, PostgreSQL and Redis. On a shared machine
 * pass a scope (the bench's own backends, a private cluster): other helpers' queries would
 * otherwise count as this run's.
 */
export function startCpuWindow(serverPid: number, scope: CpuScope = {}): CpuWindow {
  const startedAt = performance.now();
  const ticksOf = (pids: number[]) => new Map(pids.map((p) => [p, readProcCpuTicks(p) ?? 0]));
  const pgScope = scope.postgresPids ?? (() => findPidsByCommand(['postgres']));
  const redisScope = scope.redisPids ?? (() => findPidsByCommand(['redis-server']));
  const before = { server: readProcessTreeTicks(serverPid), pg: ticksOf(pgScope()), redis: ticksOf(redisScope()), machine: readMachineTicks() };
  // Processes that started during the window (new backends) count from zero; one that ended
  // inside it (a pool closing an idle connection) is left out rather than counted negative.
  const delta = (start: Map<number, number>, pids: number[]) =>
    pids.reduce((a, p) => {
      const now = readProcCpuTicks(p);
      return now === undefined ? a : a + Math.max(0, now - (start.get(p) ?? 0));
    }, 0);
  return {
    stop() {
      const seconds = (performance.now() - startedAt) / 1000;
      const percent = (ticks: number) => (100 * ticks) / CLOCK_TICKS_PER_SECOND / seconds;
      const machine = readMachineTicks();
      return {
        server: percent(readProcessTreeTicks(serverPid) - before.server),
        postgres: percent(delta(before.pg, pgScope())),
        redis: percent(delta(before.redis, redisScope())),
        machine: percent(machine.busy - before.machine.busy),
        cores: cpus().length,
        seconds,
      };
    },
  };
}

/** Samples VmRSS of named processes; peak() also reads the kernel's own high-water mark. */
export class RssSampler {
  private readonly sampledPeakMb = new Map<string, number>();
  private readonly lastHwmMb = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pids: Map<string, number>,
    private readonly intervalMs = 200,
  ) {}

  /** Samples one more process from now on (its VmHWM still covers its whole life). */
  add(name: string, pid: number): void {
    this.pids.set(name, pid);
    this.sample();
  }

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  private sample(): void {
    for (const [name, pid] of this.pids) {
      const rss = readProcStatusMb(pid, 'VmRSS');
      if (rss !== undefined) this.sampledPeakMb.set(name, Math.max(rss, this.sampledPeakMb.get(name) ?? 0));
      const hwm = readProcStatusMb(pid, 'VmHWM');
      if (hwm !== undefined) this.lastHwmMb.set(name, hwm);
    }
  }

  /** Call while the processes still run: VmHWM vanishes with the process. */
  stop(): { name: string; pid: number; peakRssMb: number; sampledPeakRssMb: number }[] {
    this.sample();
    clearInterval(this.timer);
    return [...this.pids].map(([name, pid]) => ({
      name,
      pid,
      peakRssMb: this.lastHwmMb.get(name) ?? NaN,
      sampledPeakRssMb: this.sampledPeakMb.get(name) ?? NaN,
    }));
  }
}

// ---------------------------------------------------------------------------------------------
// Report

export interface ReportRow {
  label: string;
  value: string;
  /** e.g. `≥ 10,000 req/s`; omitted for informational rows. */
  target?: string;
  /** Whether the target is met; undefined for informational rows. */
  isMet?: boolean;
}

export const formatInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export const formatMs = (n: number) =>
  Number.isFinite(n) ? `${n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toString()} ms` : n === Infinity ? '∞ (not delivered)' : 'n/a';
/** `server 83 / postgres 12 / redis 11 / load 28 / others 40, machine 174 of 200` (% of one core). */
export function formatCpu(c: CpuFigures, serverName: string, loadGeneratorPercent: number): string {
  const others = Math.max(0, c.machine - c.server - c.postgres - c.redis - loadGeneratorPercent);
  const r = (n: number) => n.toFixed(0);
  return `${serverName} ${r(c.server)} / postgres ${r(c.postgres)} / redis ${r(c.redis)} / load gen ${r(loadGeneratorPercent)} / other ${r(others)}; machine ${r(c.machine)} of ${c.cores * 100}`;
}

/** CPU microseconds a process spent per request: robust to how much of the machine it got. */
export function computeCpuMicrosPerRequest(cpuPercentOfOneCore: number, seconds: number, requests: number): number {
  return requests > 0 ? ((cpuPercentOfOneCore / 100) * seconds * 1e6) / requests : NaN;
}

export function buildMachineBusyRow(sample: { busy: number; cores: number }): ReportRow {
  return {
    label: 'machine CPU busy before the run (other processes; figures shift when high)',
    value: `${sample.busy.toFixed(0)} % of ${sample.cores * 100}`,
  };
}

export const formatMb = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} MB` : 'n/a');

export function printReport(title: string, rows: ReportRow[]): void {
  const labelWidth = Math.max(...rows.map((r) => r.label.length));
  // Long informational values (CPU breakdowns) are not allowed to push every figure right.
  const valueWidth = Math.max(...rows.filter((r) => r.target || r.value.length <= 32).map((r) => r.value.length));
  const line = '─'.repeat(Math.min(120, labelWidth + valueWidth + 40));
  process.stdout.write(`\n${title}\n${line}\n`);
  for (const r of rows) {
    const verdict = r.isMet === undefined ? '' : r.isMet ? '  met' : '  MISSED';
    const target = r.target ? `  (target ${r.target})${verdict}` : '';
    process.stdout.write(`${r.label.padEnd(labelWidth)}  ${r.value.padStart(valueWidth)}${target}\n`);
  }
  process.stdout.write(`${line}\n`);
}

export function logProgress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** The bare server's figures from one calibration run. */
export interface Calibration {
  load: LoadResult;
  cpu: CpuFigures;
}

/**
 * The same load generator against bench/bare-server.js (HMAC check only, its own process): what
 * this machine gives a Node HTTP server right now. Measured in every run, never a constant.
 */
export async function measureBareServer(appSecret: string, requests: number, connections: number): Promise<Calibration> {
  logProgress(`calibration: ${formatInt(requests)} signed webhooks against a bare HMAC-only node:http server…`);
  const bare = await startBareServer(appSecret);
  try {
    const window = startCpuWindow(bare.pid);
    const load = await runLoadJob(
      {
        kind: 'autocannon',
        url: bare.url,
        appSecret,
        pageId: BENCH_PAGE_ID,
        formId: BENCH_FORM_ID,
        firstLeadgenId: '7199000000000000000',
        count: requests,
        connections,
      },
      120_000,
    );
    const cpu = window.stop();
    logProgress(`calibration: ${formatInt(load.okPerSecond)} 2xx/s`);
    return { load, cpu };
  } finally {
    await bare.close();
  }
}

export function buildCalibrationRow(c: Calibration, connections: number): ReportRow {
  return {
    label: `reference, same run: bare HMAC-only node:http server (${connections} connections)`,
    value: `${formatInt(c.load.okPerSecond)} req/s, ${formatInt(computeCpuMicrosPerRequest(c.cpu.server, c.cpu.seconds, c.load.ok))} µs CPU/req`,
  };
}

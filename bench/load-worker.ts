// The load generator, run as its own process by runLoadJob (bench/lib.ts) so that sending load
// never shares an event loop with the server under test. It receives one job over IPC, sends
// signed leadgen webhooks to a 127.0.0.1 target, answers with the figures, and exits.
import http from 'node:http';
import autocannon from 'autocannon';
import {
  readProcStatusMb,
  signLeadgenBody,
  summarizeLatencies,
  makeLeadgenId,
  postSignedWebhook,
  type AutocannonJob,
  type LoadJob,
  type LoadResult,
  type PacedJob,
  type SignedBody,
} from './lib.js';

const REQUEST_TIMEOUT_MS = 10_000;

function assertLoopback(url: string): URL {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1') throw new Error(`load target must be 127.0.0.1, got ${u.hostname}`);
  return u;
}

function signAll(job: LoadJob): SignedBody[] {
  const nowSeconds = Math.floor(Date.now() / 1000);
  const out: SignedBody[] = new Array(job.count);
  for (let i = 0; i < job.count; i++) out[i] = signLeadgenBody(job.appSecret, job.pageId, job.formId, makeLeadgenId(job.firstLeadgenId, i), nowSeconds);
  return out;
}

/** CPU from the first send on (signing the bodies beforehand is not load generation). */
function readWorkerFigures(cpuAtStart: NodeJS.CpuUsage): LoadResult['worker'] {
  const cpu = process.cpuUsage(cpuAtStart);
  return { peakRssMb: readProcStatusMb('self', 'VmHWM') ?? NaN, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** How many requests autocannon gives connection i when `amount` is spread over connections. */
function shareOfConnection(amount: number, connections: number, i: number): number {
  return Math.floor(amount / connections) + (i < amount % connections ? 1 : 0);
}

async function runAutocannon(job: AutocannonJob): Promise<LoadResult> {
  const target = assertLoopback(job.url);
  if (job.connections > job.count) throw new Error(`connections (${job.connections}) cannot exceed the request count (${job.count})`);
  // Every request is built before the clock starts, and each connection gets its own slice
  // of them (setupClient), so no body repeats and the generator's CPU goes to sending only.
  const bodies = signAll(job);
  const slices: autocannon.Request[][] = [];
  for (let i = 0, offset = 0; i < job.connections; i++) {
    const n = shareOfConnection(job.count, job.connections, i);
    slices.push(
      bodies.slice(offset, offset + n).map((b) => ({
        method: 'POST',
        path: target.pathname,
        body: b.body,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': b.signature },
      })),
    );
    offset += n;
  }
  const acked = new Uint8Array(job.count);
  // Each request reports its own answer: which leadgen ids got a 2xx is exact, not inferred from counts.
  for (let i = 0, offset = 0; i < slices.length; offset += slices[i].length, i++) {
    slices[i].forEach((request, k) => {
      const index = offset + k;
      request.onResponse = (status: number) => {
        if (status >= 200 && status < 300) acked[index] = 1;
      };
    });
  }
  let nextSlice = 0;
  const latencies = new Float64Array(job.count);
  let okCount = 0;
  let answered = 0;
  const statusCounts: Record<string, number> = {};
  let cpuAtStart = process.cpuUsage();
  let startedAt = performance.now();
  let lastAnswerAt = startedAt;
  const result = await new Promise<autocannon.Result>((resolveRun, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        method: 'POST',
        connections: job.connections,
        amount: job.count,
        overallRate: job.overallRate,
        timeout: REQUEST_TIMEOUT_MS / 1000,
        setupClient: (client) => client.setRequests(slices[nextSlice++]),
      },
      (err, res) => (err ? reject(err) : resolveRun(res)),
    );
    // autocannon emits 'start' once its connections are set up.
    instance.once('start', () => {
      cpuAtStart = process.cpuUsage();
      startedAt = performance.now();
    });
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      answered++;
      lastAnswerAt = performance.now();
      statusCounts[statusCode] = (statusCounts[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) latencies[okCount++] = responseTime;
    });
  });
  // Up to the last answer: autocannon itself notices the end only at its next 1 s tick.
  const durationMs = lastAnswerAt - startedAt;
  return {
    kind: 'autocannon',
    sent: result.requests.sent,
    ok: okCount,
    non2xx: answered - okCount,
    errors: result.errors,
    statusCounts,
    durationMs,
    okPerSecond: okCount / (durationMs / 1000),
    latency: summarizeLatencies(latencies.subarray(0, okCount)),
    autocannonLatency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    acked,
    worker: readWorkerFigures(cpuAtStart),
  };
}

async function runPaced(job: PacedJob): Promise<LoadResult> {
  const target = assertLoopback(job.url);
  const bodies = signAll(job);
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.maxSockets });
  const intervalMs = 1000 / job.ratePerSecond;
  const latencies: number[] = [];
  const lags = new Float64Array(job.count);
  const acked = new Uint8Array(job.count);
  const scheduledTimes = job.isRecordingSendTimes ? new Array<number>(job.count).fill(NaN) : undefined;
  const sendLags = job.isRecordingSendTimes ? new Array<number>(job.count).fill(NaN) : undefined;
  const ackLatencies = job.isRecordingSendTimes ? new Array<number>(job.count).fill(NaN) : undefined;
  const statusCounts: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let finished = 0;
  let next = 0;
  const cpuAtStart = process.cpuUsage();
  const startDelayMs = job.startDelayMs ?? 20;
  const startedAt = performance.now() + startDelayMs;

  await new Promise<void>((resolveRun) => {
    const settle = () => {
      if (++finished === job.count) resolveRun();
    };
    const send = (i: number) => {
      const scheduledAt = startedAt + i * intervalMs;
      const sentAt = performance.now();
      lags[i] = sentAt - scheduledAt;
      // Epoch ms (the clock the receiver stamps arrivals with) of when this request was due, not
      // of when it left: a generator running late cannot shorten the latency it reports.
      if (scheduledTimes) scheduledTimes[i] = performance.timeOrigin + scheduledAt;
      if (sendLags) sendLags[i] = sentAt - scheduledAt;
      const req = postSignedWebhook(agent, target, bodies[i], (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          statusCounts[status] = (statusCounts[status] ?? 0) + 1;
          if (status >= 200 && status < 300) {
            ok++;
            acked[i] = 1;
            // From the scheduled time, so a stalled server cannot hide its queue (no coordinated omission).
            const latency = performance.now() - scheduledAt;
            latencies.push(latency);
            if (ackLatencies) ackLatencies[i] = latency;
          } else non2xx++;
          settle();
        });
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('request timed out')));
      req.on('error', () => {
        errors++;
        settle();
      });
    };
    const tick = () => {
      const now = performance.now();
      while (next < job.count && startedAt + next * intervalMs <= now) send(next++);
      if (next < job.count) setTimeout(tick, Math.max(0, startedAt + next * intervalMs - performance.now()));
    };
    setTimeout(tick, startDelayMs);
  });
  const durationMs = performance.now() - startedAt;
  agent.destroy();
  return {
    kind: 'paced',
    sent: next,
    ok,
    non2xx,
    errors,
    statusCounts,
    durationMs,
    okPerSecond: ok / (durationMs / 1000),
    latency: summarizeLatencies(latencies),
    sendLag: summarizeLatencies(lags),
    acked,
    scheduledTimes,
    sendLags,
    ackLatencies,
    worker: readWorkerFigures(cpuAtStart),
  };
}

function runJob(job: LoadJob): Promise<LoadResult> {
  return job.kind === 'autocannon' ? runAutocannon(job) : runPaced(job);
}

process.once('message', (msg: { type: string; job: LoadJob }) => {
  if (msg?.type !== 'run') return;
  runJob(msg.job).then(
    (result) => process.send!({ type: 'result', result }, () => process.exit(0)),
    (err: unknown) => process.send!({ type: 'error', error: err instanceof Error ? err.message : String(err) }, () => process.exit(1)),
  );
});

// `npm run bench -- startup`: how long `leadrelay start` takes to answer /readyz 200, how long
// CLI commands take, and how much memory the server (and, embedded, its PostgreSQL) holds at
// rest. Two modes: embedded (no DATABASE_URL / REDIS_URL, a fresh DATA_DIR: the first start
// runs initdb, the next ones find the database) and server mode (the test PostgreSQL in a fresh
// schema, the test Redis under a fresh queue prefix). Every figure is printed beside its target
// and beside a reference taken in the same run: a bare node:http server started the same way
// (just before each start), and `node -e 0` (interleaved with each CLI command's runs).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_NODE_FLAGS } from '../src/cli/server-node-flags.js';
import { BIN, flushPrefix, freePort, sleep, TEST_APP_SECRET, TEST_KEYS, TEST_VERIFY_TOKEN } from '../test/helpers/e2e.js';
import { createTestSchema, TEST_REDIS_URL, type TestSchema } from '../test/helpers/test-db.js';
import { buildMachineBusyRow, formatMb, formatMs, logProgress, printReport, readProcStatusMb, sampleMachineBusy, type ReportRow } from './lib.js';
import { describeOverrides, type BenchOptions } from './setup.js';

const TARGET_WARM_READY_MS = 5_000;
const TARGET_HELP_MS = 300;
const TARGET_CLI_MS = 1_000;
const TARGET_IDLE_RSS_MB = 150;
/** Starts per mode: the first (initdb / migrations), then warm ones on the same database. */
const WARM_STARTS = 2;
const CLI_RUNS = 5;
const IDLE_MS = 5_000;
const POLL_MS = 20;
const COLD_READY_TIMEOUT_MS = 90_000;
const WARM_READY_TIMEOUT_MS = 45_000;
const CLI_TIMEOUT_MS = 30_000;
/** The server's own shutdown deadline is 25 s (config/defaults.json); past it plus this, SIGKILL. */
const STOP_GRACE_MS = 35_000;

/** The reference server: node:http answering "ok", started as `node -e` exactly as the CLI is started. */
const BARE_SERVER_SCRIPT = "require('http').createServer((q,s)=>s.end('ok')).listen(+process.env.PORT,'127.0.0.1')";

// ---------------------------------------------------------------------------------------------
// Processes

/** One HTTP GET on loopback without keep-alive: its status, or 0 when nothing answered. */
function probe(url: string): Promise<number> {
  return new Promise((resolveProbe) => {
    const req = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.once('end', () => resolveProbe(res.statusCode ?? 0));
      res.once('error', () => resolveProbe(0));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolveProbe(0));
  });
}

interface Started {
  proc: ChildProcess;
  pid: number;
  /** Spawn → first HTTP answer of any status (the port is open). */
  listenMs: number;
  /** Spawn → first 200 on the probed path. */
  readyMs: number;
  output(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after STOP_GRACE_MS); how long that took. */
  stop(): Promise<{ ms: number; code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `node <args>` and polls http://127.0.0.1:<port><path> until it answers 200. */
async function startAndWaitReady(args: string[], env: Record<string, string>, port: number, path: string, timeoutMs: number): Promise<Started> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  // Keep only the tail: the server's warnings are for error messages, not for the report.
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-8_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  let isExited = false;
  void exited.then(() => (isExited = true));
  const stop = async () => {
    const s0 = performance.now();
    if (!isExited) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
      const r = await exited;
      clearTimeout(timer);
      return { ms: performance.now() - s0, ...r };
    }
    return { ms: 0, ...(await exited) };
  };
  const url = `http://127.0.0.1:${port}${path}`;
  let listenMs = NaN;
  try {
    for (;;) {
      if (isExited) throw new Error(`${args.slice(0, 2).join(' ')} exited before it was ready:\n${out}`);
      const status = await probe(url);
      const at = performance.now() - t0;
      if (status !== 0 && Number.isNaN(listenMs)) listenMs = at;
      if (status === 200) return { proc, pid: proc.pid!, listenMs, readyMs: at, output: () => out, stop };
      if (at > timeoutMs)
        throw new Error(`${args.slice(0, 2).join(' ')} did not answer 200 on ${path} within ${timeoutMs} ms (last status ${status || 'none'}):\n${out}`);
      await sleep(POLL_MS);
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

interface TimedRun {
  ms: number;
  code: number | null;
  stderr: string;
}

/** Spawn → exit of `node <args>`, stdout drained and dropped. */
function runTimed(args: string[], env: Record<string, string>): Promise<TimedRun> {
  return new Promise((resolveRun) => {
    const t0 = performance.now();
    const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stdout!.resume();
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2_000)));
    const timer = setTimeout(() => proc.kill('SIGKILL'), CLI_TIMEOUT_MS);
    proc.once('exit', (code) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      resolveRun({ ms, code, stderr });
    });
    proc.once('error', (err) => {
      clearTimeout(timer);
      resolveRun({ ms: NaN, code: null, stderr: err.message });
    });
  });
}

const median = (values: number[]): number => {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : NaN;
};

interface CliFigures {
  runs: TimedRun[];
  /** `node -e 0`, one before each run of the command. */
  reference: number[];
}

/** The command CLI_RUNS times, each right after a `node -e 0`, so both see the same machine. */
async function timeCli(args: string[], env: Record<string, string>): Promise<CliFigures> {
  const figures: CliFigures = { runs: [], reference: [] };
  for (let i = 0; i < CLI_RUNS; i++) {
    figures.reference.push((await runTimed(['-e', '0'], env)).ms);
    figures.runs.push(await runTimed(args, env));
  }
  return figures;
}

// ---------------------------------------------------------------------------------------------
// /proc: the embedded PostgreSQL of one data directory

function listProcesses(): { pid: number; ppid: number; cmdline: string }[] {
  const list: { pid: number; ppid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      list.push({ pid: Number(entry), ppid, cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      /* gone already */
    }
  }
  return list;
}

/**
 * The processes whose command line names the data directory (the postmaster: `postgres -D
 * <DATA_DIR>/postgres …`), and their descendants: PostgreSQL's own processes rename themselves
 * (`postgres: checkpointer`, `postgres: leadrelay leadrelay 127.0.0.1(…) idle`), so the path alone
 * would find only the postmaster.
 */
function findDataDirProcesses(dataDir: string): { roots: number[]; all: number[] } {
  const procs = listProcesses();
  const roots = procs.filter((p) => p.pid !== process.pid && p.cmdline.includes(dataDir)).map((p) => p.pid);
  const all = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (!all.has(p.pid) && all.has(p.ppid)) {
        all.add(p.pid);
        grew = true;
      }
    }
  }
  return { roots, all: [...all] };
}

/** Proportional set size (shared pages split between their users), MB: sums without double counting shared_buffers. */
function readPssMb(pid: number): number | undefined {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface PostgresMemory {
  processes: number;
  rssMb: number;
  pssMb: number;
}

function measurePostgres(dataDir: string): PostgresMemory {
  const { all } = findDataDirProcesses(dataDir);
  let rssMb = 0;
  let pssMb = 0;
  for (const pid of all) {
    rssMb += readProcStatusMb(pid, 'VmRSS') ?? 0;
    pssMb += readPssMb(pid) ?? 0;
  }
  return { processes: all.length, rssMb, pssMb };
}

/** After a failed run: asks a postmaster left behind to stop (fast shutdown), then kills what remains. */
async function stopLeftoverPostgres(dataDir: string): Promise<number> {
  const { roots, all } = findDataDirProcesses(dataDir);
  if (all.length === 0) return 0;
  for (const pid of roots) {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + 15_000;
  while (findDataDirProcesses(dataDir).all.length > 0 && Date.now() < deadline) await sleep(200);
  for (const pid of findDataDirProcesses(dataDir).all) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return all.length;
}

// ---------------------------------------------------------------------------------------------
// One mode: the first start, warm starts, idle memory, CLI times

interface StartFigures {
  label: string;
  listenMs: number;
  readyMs: number;
  /** The bare node:http server started just before, the same way. */
  bareReadyMs: number;
  bareRssMb: number;
  stopMs: number;
  stopCode: string;
  rssAtReadyMb: number;
  /** Embedded mode: PostgreSQL processes of DATA_DIR still there after the server exited. */
  leftoverPostgres: number;
}

interface ModeFigures {
  name: string;
  starts: StartFigures[];
  /** The last warm start, at /readyz 200 and after IDLE_MS. */
  atReady: { rssMb: number; hwmMb: number; postgres?: PostgresMemory };
  idle: { rssMb: number; hwmMb: number; postgres?: PostgresMemory };
  /** VmHWM once the CLI runs are done (they talk to the same database). */
  hwmAfterCliMb: number;
  workspacesList: CliFigures;
}

/** Starts the bare reference server and returns its start time and RSS, already stopped. */
async function measureBareServer(baseEnv: Record<string, string>): Promise<{ readyMs: number; rssMb: number }> {
  const port = await freePort();
  const bare = await startAndWaitReady(['-e', BARE_SERVER_SCRIPT], { ...baseEnv, PORT: String(port) }, port, '/', WARM_READY_TIMEOUT_MS);
  const rssMb = readProcStatusMb(bare.pid, 'VmRSS') ?? NaN;
  await bare.stop();
  return { readyMs: bare.readyMs, rssMb };
}

async function measureMode(name: string, env: Record<string, string>, dataDir: string | undefined, firstLabel: string): Promise<ModeFigures> {
  const starts: StartFigures[] = [];
  let figures: Omit<ModeFigures, 'starts' | 'name'> | undefined;
  for (let i = 0; i <= WARM_STARTS; i++) {
    const label = i === 0 ? firstLabel : `warm start ${i}`;
    const bare = await measureBareServer({ PATH: env.PATH, HOME: env.HOME });
    const port = await freePort();
    logProgress(`${name}: ${label} (port ${port})`);
    const server = await startAndWaitReady(
      [...SERVER_NODE_FLAGS, BIN, 'start'],
      { ...env, PORT: String(port) },
      port,
      '/readyz',
      i === 0 ? COLD_READY_TIMEOUT_MS : WARM_READY_TIMEOUT_MS,
    );
    let stopped: Awaited<ReturnType<Started['stop']>> | undefined;
    try {
      const rssAtReadyMb = readProcStatusMb(server.pid, 'VmRSS') ?? NaN;
      if (i === WARM_STARTS) {
        const atReady = { rssMb: rssAtReadyMb, hwmMb: readProcStatusMb(server.pid, 'VmHWM') ?? NaN, postgres: dataDir ? measurePostgres(dataDir) : undefined };
        logProgress(`${name}: idle ${IDLE_MS / 1000} s`);
        await sleep(IDLE_MS);
        const idle = {
          rssMb: readProcStatusMb(server.pid, 'VmRSS') ?? NaN,
          hwmMb: readProcStatusMb(server.pid, 'VmHWM') ?? NaN,
          postgres: dataDir ? measurePostgres(dataDir) : undefined,
        };
        logProgress(`${name}: workspaces list ×${CLI_RUNS} against the running server`);
        const workspacesList = await timeCli([BIN, 'workspaces', 'list'], env);
        figures = { atReady, idle, hwmAfterCliMb: readProcStatusMb(server.pid, 'VmHWM') ?? NaN, workspacesList };
      }
      stopped = await server.stop();
      starts.push({
        label,
        listenMs: server.listenMs,
        readyMs: server.readyMs,
        bareReadyMs: bare.readyMs,
        bareRssMb: bare.rssMb,
        stopMs: stopped.ms,
        stopCode: stopped.signal ?? String(stopped.code),
        rssAtReadyMb,
        leftoverPostgres: dataDir ? findDataDirProcesses(dataDir).all.length : 0,
      });
    } finally {
      if (!stopped) await server.stop();
    }
  }
  return { name, starts, ...figures! };
}

// ---------------------------------------------------------------------------------------------
// The benchmark

export async function runStartupBench(opts: BenchOptions): Promise<void> {
  const quiet = await sampleMachineBusy(1000);
  const common = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    LEADRELAY_ENCRYPTION_KEYS: TEST_KEYS,
    META_APP_SECRET: TEST_APP_SECRET,
    META_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
  };
  const dataRoot = mkdtempSync(join(tmpdir(), 'leadrelay-bench-startup-'));
  const dataDir = join(dataRoot, 'data');
  let schema: TestSchema | undefined;
  const prefix = `benchstart${randomBytes(4).toString('hex')}`;
  let help: CliFigures;
  let embedded: ModeFigures;
  let server: ModeFigures;
  try {
    logProgress(`--help ×${CLI_RUNS}`);
    help = await timeCli([BIN, '--help'], { ...common, ...opts.envOverrides });

    logProgress(`embedded mode: DATA_DIR ${dataDir}`);
    embedded = await measureMode('embedded', { ...common, DATA_DIR: dataDir, ...opts.envOverrides }, dataDir, 'first start (initdb + migrations)');

    schema = await createTestSchema('bench');
    logProgress(`server mode: schema ${schema.schema}, queue prefix ${prefix}`);
    // DATA_DIR still set: nothing should be written there with DATABASE_URL and a key ring.
    server = await measureMode(
      'server',
      { ...common, DATABASE_URL: schema.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, DATA_DIR: join(dataRoot, 'unused'), ...opts.envOverrides },
      undefined,
      'first start (migrations)',
    );
  } finally {
    const left = await stopLeftoverPostgres(dataDir).catch(() => 0);
    if (left) logProgress(`stopped ${left} embedded PostgreSQL process(es) left behind`);
    rmSync(dataRoot, { recursive: true, force: true });
    await flushPrefix(prefix).catch(() => {});
    await schema?.drop().catch(() => {});
  }

  printReport('LeadRelay start-up benchmark (leadrelay start, embedded and server mode, 127.0.0.1)', [
    buildMachineBusyRow(quiet),
    { label: 'program environment overrides', value: describeOverrides(opts.envOverrides) },
    ...buildStartRows(embedded, server),
    ...buildCliRows(help, embedded, server),
    ...buildMemoryRows(embedded, server),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Report

const vsBare = (ms: number, bareMs: number) => `${formatMs(ms)}  (bare node ${formatMs(bareMs)})`;

function buildStartRows(...modes: ModeFigures[]): ReportRow[] {
  const rows: ReportRow[] = [];
  for (const m of modes) {
    for (const s of m.starts) {
      const isWarm = s !== m.starts[0];
      rows.push({
        label: `${m.name}: ${s.label}: spawn → /readyz 200`,
        value: vsBare(s.readyMs, s.bareReadyMs),
        ...(isWarm ? { target: `< ${TARGET_WARM_READY_MS / 1000} s warm`, isMet: s.readyMs < TARGET_WARM_READY_MS } : {}),
      });
    }
    // The port opens only once start-up is done, so this matches the row above unless /readyz said 503 first.
    rows.push({ label: `${m.name}: spawn → first HTTP answer of any status, per start`, value: m.starts.map((s) => formatMs(s.listenMs)).join(' / ') });
    rows.push({ label: `${m.name}: SIGTERM → exit (exit code), per start`, value: m.starts.map((s) => `${formatMs(s.stopMs)} (${s.stopCode})`).join(' / ') });
    if (m.name === 'embedded') {
      const left = m.starts.map((s) => s.leftoverPostgres);
      rows.push({
        label: 'embedded: PostgreSQL processes left after the server exited, per start',
        value: left.join(' / '),
        target: 'none',
        isMet: left.every((n) => n === 0),
      });
    }
  }
  return rows;
}

function describeCli(f: CliFigures): string {
  const ok = f.runs.filter((r) => r.code === 0);
  const failed = f.runs.length - ok.length;
  const value = `median ${formatMs(median(ok.map((r) => r.ms)))} of ${ok.length}  (node -e 0 ${formatMs(median(f.reference))})`;
  if (!failed) return value;
  const firstError = f.runs.find((r) => r.code !== 0)!;
  return `${value}; ${failed} failed (exit ${firstError.code}: ${firstError.stderr.trim().split('\n')[0].slice(0, 80)})`;
}

function cliRow(label: string, f: CliFigures, targetMs: number): ReportRow {
  const ms = median(f.runs.filter((r) => r.code === 0).map((r) => r.ms));
  return { label, value: describeCli(f), target: `< ${formatMs(targetMs)}`, isMet: f.runs.every((r) => r.code === 0) && ms < targetMs };
}

function buildCliRows(help: CliFigures, ...modes: ModeFigures[]): ReportRow[] {
  const rows = [cliRow(`leadrelay --help, ${CLI_RUNS} runs`, help, TARGET_HELP_MS)];
  for (const m of modes) rows.push(cliRow(`${m.name}: leadrelay workspaces list, server running, ${CLI_RUNS} runs`, m.workspacesList, TARGET_CLI_MS));
  return rows;
}

function describePostgres(p: PostgresMemory | undefined): string {
  return p ? `${formatMb(p.rssMb)} RSS, ${formatMb(p.pssMb)} PSS in ${p.processes} processes` : 'n/a';
}

function buildMemoryRows(embedded: ModeFigures, server: ModeFigures): ReportRow[] {
  const bareRss = median([...embedded.starts, ...server.starts].map((s) => s.bareRssMb));
  const ref = `  (bare node ${formatMb(bareRss)})`;
  const rows: ReportRow[] = [];
  for (const m of [embedded, server]) {
    rows.push({ label: `${m.name}: server VmRSS at /readyz 200, per start`, value: m.starts.map((s) => formatMb(s.rssAtReadyMb)).join(' / ') });
    rows.push({
      label: `${m.name}: server peak RSS (VmHWM) at ready / after ${IDLE_MS / 1000} s idle / after the CLI runs`,
      value: `${formatMb(m.atReady.hwmMb)} / ${formatMb(m.idle.hwmMb)} / ${formatMb(m.hwmAfterCliMb)}`,
    });
    rows.push({
      label: `${m.name}: server idle RSS (VmRSS after ${IDLE_MS / 1000} s idle)`,
      value: `${formatMb(m.idle.rssMb)}${ref}`,
      target: `≤ ${TARGET_IDLE_RSS_MB} MB`,
      isMet: m.idle.rssMb <= TARGET_IDLE_RSS_MB,
    });
  }
  const pgAtReady = embedded.atReady.postgres;
  const pgIdle = embedded.idle.postgres;
  rows.push({ label: 'embedded: its PostgreSQL at /readyz 200', value: describePostgres(pgAtReady) });
  rows.push({ label: `embedded: its PostgreSQL after ${IDLE_MS / 1000} s idle`, value: describePostgres(pgIdle) });
  if (pgIdle) {
    // PSS: shared_buffers and the binary's pages count once, not once per PostgreSQL process.
    const total = embedded.idle.rssMb + pgIdle.pssMb;
    rows.push({
      label: 'embedded total idle: server VmRSS + its PostgreSQL PSS',
      value: `${formatMb(total)}  (${(total / server.idle.rssMb).toFixed(2)} × server mode)`,
      // Server mode's PostgreSQL and Redis are shared services, not counted on its side.
      target: `near server mode's ${formatMb(server.idle.rssMb)}`,
    });
  }
  return rows;
}

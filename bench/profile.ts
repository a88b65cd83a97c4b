// `npm run bench -- profile`: where the CPU of one lead goes. Runs the whole pipeline (e2e's set-up)
// against a private PostgreSQL cluster with pg_stat_statements and a private redis-server, with
// `leadrelay start` under `node --cpu-prof` (every process of its tree writes a profile), sends
// leads at a fixed rate (default 100/s), and reports per delivered lead:
// - PostgreSQL: statements (calls, execution time, rows) from pg_stat_statements, transactions
//   (pg_stat_database), WAL records and bytes (pg_stat_wal);
// - Redis: commands by name (INFO commandstats);
// - CPU from /proc: the program's process tree, the cluster's processes, redis-server;
// - the program's CPU by area and by module, and its hottest functions, from the profiles, counting
//   only samples taken during the measured run (V8's profile clock and process.hrtime are both
//   CLOCK_MONOTONIC).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { summarizeProfiles, top, type ProfileSummary } from './cpuprofile.js';
import {
  buildCalibrationRow,
  buildMachineBusyRow,
  computeCpuMicrosPerRequest,
  formatCpu,
  formatInt,
  formatMs,
  logProgress,
  measureBareServer,
  printReport,
  sampleMachineBusy,
  startCpuWindow,
  type CpuFigures,
  type ReportRow,
} from './lib.js';
import { openPipeline, type PaceFigures, type Pipeline } from './pipeline.js';
import { connectSql, describeOverrides, type BenchOptions } from './setup.js';
import { TEST_APP_SECRET } from '../test/helpers/e2e.js';

const WARMUP_SECONDS = 5;
/**
 * The window closes only when every measured lead arrived (or after this): then each lead went
 * through every stage inside it, and per-lead figures do not mix a stage that ran ahead (fetch)
 * with one that lagged (delivery).
 */
const STRAGGLER_WAIT_MS = 180_000;
/** The warm-up's leads should all be delivered before the window opens. */
const WARMUP_DRAIN_MS = 60_000;
const TARGET_CPU_PER_LEAD_MS = 2;

interface StatementRow {
  query: string;
  calls: number;
  totalMs: number;
  rows: number;
  /** Times PostgreSQL planned it (a prepared statement whose generic plan is used is not planned again), and the time it took. */
  plans: number;
  planMs: number;
}

interface DbCounters {
  xacts: number;
  walRecords: number;
  walBytes: number;
}

async function readDbCounters(sql: pg.Client): Promise<DbCounters> {
  const x = await sql.query<{ n: string }>('select xact_commit + xact_rollback as n from pg_stat_database where datname = current_database()');
  const w = await sql.query<{ wal_records: string; wal_bytes: string }>('select wal_records, wal_bytes from pg_stat_wal');
  return { xacts: Number(x.rows[0].n), walRecords: Number(w.rows[0].wal_records), walBytes: Number(w.rows[0].wal_bytes) };
}

async function readStatements(sql: pg.Client): Promise<StatementRow[]> {
  const r = await sql.query<{ query: string; calls: string; total: string; rows: string; plans: string; plan_ms: string }>(
    `select query, calls, total_exec_time as total, rows, plans, total_plan_time as plan_ms from pg_stat_statements
      where dbid = (select oid from pg_database where datname = current_database()) and query not ilike '%pg_stat%'
      order by calls desc`,
  );
  return r.rows.map((x) => ({
    query: x.query.replace(/\s+/g, ' ').trim(),
    calls: Number(x.calls),
    totalMs: Number(x.total),
    rows: Number(x.rows),
    plans: Number(x.plans),
    planMs: Number(x.plan_ms),
  }));
}

const isForeignKeyCheck = (query: string) => query.startsWith('SELECT 1 FROM ONLY ');

/** utime and stime (clock ticks) of one process. */
function readUserSystemTicks(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]), system: Number(fields[12]) };
  } catch {
    return { user: 0, system: 0 };
  }
}

function parseCommandStats(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1], Number(m[2]));
  return out;
}

export async function runProfileBench(opts: BenchOptions): Promise<void> {
  const quiet = await sampleMachineBusy(1000);
  const calibration = await measureBareServer(TEST_APP_SECRET, 30_000, 64);
  const profileDir = mkdtempSync(join(tmpdir(), 'leadrelay-cpuprof-'));
  let pipeline: Pipeline | undefined;
  let sql: pg.Client | undefined;
  let redis: Redis | undefined;
  let run: PaceFigures | undefined;
  let cpu: CpuFigures | undefined;
  let statements: StatementRow[] = [];
  let db: { before: DbCounters; after: DbCounters } | undefined;
  let commands = new Map<string, number>();
  let window: { fromUs: number; toUs: number } | undefined;
  let profile: ProfileSummary | undefined;
  let serviceDescription = '';
  let leadsInWindow = 0;
  let userSystem = { user: 0, system: 0 };
  try {
    pipeline = await openPipeline({
      services: 'private',
      envOverrides: opts.envOverrides,
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    });
    serviceDescription = pipeline.services.describe();
    const serverPid = pipeline.program.proc.pid!;
    sql = await connectSql(pipeline.services.databaseUrl);
    redis = new Redis(pipeline.services.redisUrl, { maxRetriesPerRequest: 1 });

    logProgress(`warm-up: ${opts.ratePerSecond * WARMUP_SECONDS} leads at ${opts.ratePerSecond}/s`);
    const warm = await pipeline.pace(0, opts.ratePerSecond, opts.ratePerSecond * WARMUP_SECONDS, WARMUP_DRAIN_MS);
    if (warm.arrived < warm.ackedIds.length) logProgress(`warm-up: only ${warm.arrived}/${warm.ackedIds.length} delivered; its backlog counts in the window`);

    await sql.query('select pg_stat_statements_reset()');
    await redis.config('RESETSTAT');
    const before = await readDbCounters(sql);
    const count = opts.ratePerSecond * opts.seconds;
    logProgress(`measured: ${formatInt(count)} leads at ${opts.ratePerSecond}/s, profiled`);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const fromEpochMs = Date.now();
    const cpuWindow = startCpuWindow(serverPid, pipeline.services);
    const userSysBefore = readUserSystemTicks(serverPid);
    run = await pipeline.pace(1, opts.ratePerSecond, count, STRAGGLER_WAIT_MS);
    cpu = cpuWindow.stop();
    const userSysAfter = readUserSystemTicks(serverPid);
    userSystem = { user: userSysAfter.user - userSysBefore.user, system: userSysAfter.system - userSysBefore.system };
    window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    // The denominator: leads the pipeline delivered inside the window, whichever run they came
    // from (a backlog left by the warm-up is work done in the window too).
    const toEpochMs = Date.now();
    pipeline.arrivals.update();
    leadsInWindow = [...pipeline.arrivals.firstArrival.values()].filter((at) => at >= fromEpochMs && at <= toEpochMs).length;
    const after = await readDbCounters(sql);
    db = { before, after };
    statements = await readStatements(sql);
    commands = parseCommandStats(await redis.info('commandstats'));
    logProgress(`measured: ${run.arrived}/${run.ackedIds.length} delivered; stopping the program so it writes its profiles`);
    await pipeline.program.kill('SIGTERM');
    profile = summarizeProfiles(profileDir, window);
  } finally {
    redis?.disconnect();
    await sql?.end().catch(() => {});
    await pipeline?.close();
    // BENCH_KEEP_PROFILES=1 leaves the .cpuprofile files for a closer look (their directory is printed).
    if (process.env.BENCH_KEEP_PROFILES) logProgress(`profiles kept in ${profileDir}`);
    else rmSync(profileDir, { recursive: true, force: true });
  }
  if (!run || !cpu || !profile || !db) throw new Error('the profiled run did not complete');
  const leads = leadsInWindow;
  const perLead = (n: number) => n / leads;
  const cpuMs = (p: number) => computeCpuMicrosPerRequest(p, cpu!.seconds, leads) / 1000;
  const totalCpuMs = cpuMs(cpu.server) + cpuMs(cpu.postgres) + cpuMs(cpu.redis);
  const rows: ReportRow[] = [
    buildMachineBusyRow(quiet),
    buildCalibrationRow(calibration, 64),
    { label: 'program environment overrides', value: describeOverrides(opts.envOverrides) },
    { label: 'PostgreSQL and Redis', value: serviceDescription },
    {
      label: 'measured run: delivered / acknowledged / sent',
      value: `${formatInt(run.arrived)} / ${formatInt(run.ackedIds.length)} / ${formatInt(run.load.sent)}`,
    },
    { label: 'leads delivered inside the window (the "per lead" denominator)', value: formatInt(leads) },
    { label: 'webhook (scheduled) → destination p50 / p99 (profiler on)', value: `${formatMs(run.latency.p50)} / ${formatMs(run.latency.p99)}` },
    { label: 'CPU during the run, % of one core', value: formatCpu(cpu, 'start', (100 * run.load.worker.cpuMs) / (cpu.seconds * 1000)) },
    {
      label: 'CPU per delivered lead: start (tree) + postgres + redis (profiler on)',
      value: `${formatMs(cpuMs(cpu.server))} + ${formatMs(cpuMs(cpu.postgres))} + ${formatMs(cpuMs(cpu.redis))} = ${formatMs(totalCpuMs)}`,
      target: `≤ ${TARGET_CPU_PER_LEAD_MS} ms`,
      isMet: totalCpuMs <= TARGET_CPU_PER_LEAD_MS,
    },
    {
      label: 'start (root process): user / system share of its CPU (system = syscalls, loopback TCP included)',
      value: `${((100 * userSystem.user) / Math.max(1, userSystem.user + userSystem.system)).toFixed(0)} % / ${((100 * userSystem.system) / Math.max(1, userSystem.user + userSystem.system)).toFixed(0)} %`,
    },
    {
      // Several fetches' leads share one store statement under load (group commit), so its calls count statements, not leads.
      label: 'inside the window: statements storing leads (insert into leads; leads delivered per statement) / leads delivered',
      value: (() => {
        const calls = statements.find((x) => /^(with \w+ as \(\s*)?insert into "?leads"? /.test(x.query))?.calls ?? NaN;
        return `${formatInt(calls)} (${(leads / calls).toFixed(1)}) / ${formatInt(leads)}`;
      })(),
    },
    {
      label: 'PostgreSQL per lead: transactions / statements / WAL records / WAL bytes',
      value: [
        perLead(db.after.xacts - db.before.xacts).toFixed(1),
        perLead(statements.reduce((a, s) => a + s.calls, 0)).toFixed(1),
        perLead(db.after.walRecords - db.before.walRecords).toFixed(1),
        formatInt(perLead(db.after.walBytes - db.before.walBytes)),
      ].join(' / '),
    },
    {
      // pg_stat_statements (track=all) lists the foreign-key checks the RI triggers run inside
      // each INSERT/UPDATE: no round trip, but a row lock (FOR KEY SHARE) each.
      label: 'PostgreSQL per lead: statements the program sent (BEGIN/COMMIT included) / foreign-key checks inside them',
      value: `${perLead(statements.filter((x) => !isForeignKeyCheck(x.query)).reduce((a, x) => a + x.calls, 0)).toFixed(1)} / ${perLead(
        statements.filter((x) => isForeignKeyCheck(x.query)).reduce((a, x) => a + x.calls, 0),
      ).toFixed(1)}`,
    },
    {
      label: 'PostgreSQL per lead: statement execution time (pg_stat_statements)',
      value: formatMs(perLead(statements.reduce((a, s) => a + s.totalMs, 0))),
    },
    {
      // A prepared statement is planned again on each run while its custom plans look cheaper than
      // the generic one; planning a many-CTE statement can cost more than running it.
      label: 'PostgreSQL per lead: plannings / planning time (pg_stat_statements.track_planning)',
      value: `${perLead(statements.reduce((a, s) => a + s.plans, 0)).toFixed(1)} / ${formatMs(perLead(statements.reduce((a, s) => a + s.planMs, 0)))}`,
    },
    { label: 'Redis per lead: commands', value: perLead([...commands.values()].reduce((a, b) => a + b, 0)).toFixed(1) },
    {
      // V8 samples on wall time: on a busy machine a descheduled thread still collects samples,
      // so the profile gives shares, and /proc gives the CPU they are shares of.
      label: 'profiles: files / sampled non-idle ms per lead (wall-clock samples; shares are scaled to /proc CPU)',
      value: `${profile.files} / ${formatMs(perLead(profile.busyMs))}`,
    },
    {
      // Samples beyond the CPU the process used: at least this share was taken while its thread
      // was not running (the /proc figure also counts V8's and libuv's other threads, so the true
      // share is higher). A thread preempted right after a socket write woke its reader
      // (PostgreSQL, a peer) keeps collecting samples in `writev`, so that share is overstated.
      label: 'profile samples beyond /proc CPU (at least this share taken off CPU, e.g. preempted in writev)',
      value: `${Math.max(0, 100 * (1 - cpuMs(cpu.server) / perLead(profile.busyMs))).toFixed(0)} % of the samples`,
    },
  ];
  printReport(`LeadRelay CPU profile (leadrelay start, ${opts.ratePerSecond} leads/s for ${opts.seconds} s to the webhook receiver)`, rows);

  const line = '─'.repeat(120);
  // Profile shares of the program's /proc CPU per lead.
  const programMs = cpuMs(cpu.server);
  const scaled = (ms: number) => formatMs((programMs * ms) / profile!.busyMs);
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`\nProgram CPU per lead by area (/proc CPU per lead × profile share; Node internals count for the program or package frame that called them)\n${line}`);
  for (const [area, ms] of top(profile.byArea, 30)) out(`${scaled(ms).padStart(10)}  ${((100 * ms) / profile.busyMs).toFixed(1).padStart(5)} %  ${area}`);
  out(`\nProgram CPU per lead by module (self time share)\n${line}`);
  for (const [mod, ms] of top(profile.byModule, 25)) out(`${scaled(ms).padStart(10)}  ${((100 * ms) / profile.busyMs).toFixed(1).padStart(5)} %  ${mod}`);
  out(`\nHottest functions (self time share)\n${line}`);
  for (const [fn, ms] of top(profile.byFunction, 25)) out(`${scaled(ms).padStart(10)}  ${((100 * ms) / profile.busyMs).toFixed(1).padStart(5)} %  ${fn}`);
  out(`\nPostgreSQL statements per lead (pg_stat_statements, by calls)\n${line}`);
  out(`${'calls'.padStart(7)} ${'exec ms'.padStart(9)} ${'plans'.padStart(7)} ${'plan ms'.padStart(9)} ${'rows'.padStart(7)}  statement`);
  // Frequent statements, and batched ones (few calls, each for many leads) that take their share of the time.
  const execMs = statements.reduce((a, x) => a + x.totalMs + x.planMs, 0);
  for (const s of statements.filter((x) => x.calls >= leads * 0.05 || x.totalMs + x.planMs >= execMs * 0.02).slice(0, 40)) {
    out(
      `${perLead(s.calls).toFixed(2).padStart(7)} ${perLead(s.totalMs).toFixed(3).padStart(9)} ${perLead(s.plans).toFixed(2).padStart(7)} ${perLead(s.planMs).toFixed(3).padStart(9)} ${perLead(s.rows).toFixed(2).padStart(7)}  ${s.query.slice(0, 130)}`,
    );
  }
  out(`\nRedis commands per lead (INFO commandstats)\n${line}`);
  for (const [name, calls] of top(commands, 20)) out(`${perLead(calls).toFixed(2).padStart(7)}  ${name}`);
  out(line);
}

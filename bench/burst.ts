// `npm run bench -- burst`: 10,000 leads released at once to a HubSpot-shaped and a
// Salesforce-shaped fake (test/fakes, with their rate limits: HubSpot 190 calls per rolling 10 s
// per token, Salesforce's daily API allowance in Sforce-Limit-Info), through the real connectors.
// The leads' webhooks are first taken in by `leadrelay serve` alone (every acknowledged id looked
// up in PostgreSQL), so their fetch jobs wait in the queue; then `leadrelay start` comes up and the
// whole backlog is released at once. Reported per CRM: time from `start` being ready to the last
// delivery (or how far it got within --drain-seconds), and CRM calls per lead as the fake
// recorded them (every authenticated API call, 429s included). Whatever batching the connectors
// gain shows up here without changing the scenario.
import type pg from 'pg';
import { startFakeGraph, type FakeGraph } from '../test/fakes/meta-graph.js';
import { startFakeHubspot, type FakeHubspot } from '../test/fakes/hubspot-crm.js';
import { startFakeSalesforce, type FakeSalesforce } from '../test/fakes/salesforce-crm.js';
import { cli, sleep, startProgram, TEST_APP_SECRET, type RunningProgram } from '../test/helpers/e2e.js';
import {
  BENCH_FORM_ID,
  BENCH_PAGE_ID,
  buildMachineBusyRow,
  computeCpuMicrosPerRequest,
  formatCpu,
  formatInt,
  formatMs,
  logProgress,
  makeLeadgenId,
  printReport,
  runLoadJob,
  sampleMachineBusy,
  startCpuWindow,
  type CpuFigures,
  type LoadResult,
  type ReportRow,
} from './lib.js';
import { addBenchForm, addGraphLeads, PAGE_TOKEN } from './pipeline.js';
import { openServices, type BenchServices } from './services.js';
import { buildBenchEnv, connectSql, describeOverrides, describePathCounters, readPathCounters, type BenchOptions } from './setup.js';

const TARGET_CALLS_PER_LEAD = 0.05;
const TARGET_DRAIN_SECONDS = 30;
const FIRST_LEADGEN_ID = '7300000000000000000';
const HUBSPOT_TOKEN = 'pat-bench-burst';
const SF_CLIENT_ID = 'sf-bench-client';
const SF_CLIENT_SECRET = 'sf-bench-secret';
/** A Salesforce org's daily allocation is 15,000 calls plus per-licence extras; the fake's default. */
const SF_DAILY_LIMIT = 15_000;

interface CrmProgress {
  name: string;
  destinationId: string;
  /** API calls the fake recorded since `start` came up, refused ones (429, limit exceeded) included. */
  calls: () => number;
  delivered: number;
  /** Seconds from `start` being ready to the last delivery, when all were delivered. */
  drainedAfterS?: number;
}

async function countDelivered(sql: pg.Client, destinationId: string): Promise<number> {
  const r = await sql.query<{ n: string }>(`select count(*) as n from deliveries where destination_id = $1 and status = 'delivered'`, [destinationId]);
  return Number(r.rows[0].n);
}

async function countStatuses(sql: pg.Client, destinationId: string): Promise<string> {
  const r = await sql.query<{ status: string; n: string }>(
    'select status, count(*) as n from deliveries where destination_id = $1 group by status order by status',
    [destinationId],
  );
  const a = await sql.query<{ outcome: string; n: string; p50: string; p99: string }>(
    `select a.outcome, count(*) as n,
            percentile_cont(0.5) within group (order by extract(epoch from a.finished_at - a.started_at) * 1000) as p50,
            percentile_cont(0.99) within group (order by extract(epoch from a.finished_at - a.started_at) * 1000) as p99
       from delivery_attempts a join deliveries d on d.id = a.delivery_id
      where d.destination_id = $1 group by a.outcome order by a.outcome`,
    [destinationId],
  );
  // How long a stored lead waited for its delivery: a delivery stage starved by fetching shows here.
  const w = await sql.query<{ p50: string | null; p99: string | null }>(
    `select percentile_cont(0.5) within group (order by extract(epoch from d.delivered_at - l.fetched_at) * 1000) as p50,
            percentile_cont(0.99) within group (order by extract(epoch from d.delivered_at - l.fetched_at) * 1000) as p99
       from deliveries d join leads l on l.id = d.lead_id
      where d.destination_id = $1 and d.status = 'delivered'`,
    [destinationId],
  );
  const waited = w.rows[0]?.p50 == null ? '' : `; stored → delivered p50 ${formatMs(Number(w.rows[0].p50))}, p99 ${formatMs(Number(w.rows[0].p99))}`;
  const deliveries = r.rows.map((x) => `${x.status} ${formatInt(Number(x.n))}`).join(', ') || 'none';
  const attempts =
    a.rows.map((x) => `${x.outcome} ${formatInt(Number(x.n))} (p50 ${formatMs(Number(x.p50))}, p99 ${formatMs(Number(x.p99))})`).join(', ') || 'none';
  return `${deliveries}; attempts: ${attempts}${waited}`;
}

export async function runBurstBench(opts: BenchOptions): Promise<void> {
  const leads = opts.burstLeads;
  const quiet = await sampleMachineBusy(1000);
  let services: BenchServices | undefined;
  let graph: FakeGraph | undefined;
  let hubspot: FakeHubspot | undefined;
  let salesforce: FakeSalesforce | undefined;
  let program: RunningProgram | undefined;
  let sql: pg.Client | undefined;
  let prefix = '';
  const rows: ReportRow[] = [];
  try {
    services = await openServices(opts.services);
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    hubspot = await startFakeHubspot({ accessTokens: [HUBSPOT_TOKEN] });
    salesforce = await startFakeSalesforce({ clientId: SF_CLIENT_ID, clientSecret: SF_CLIENT_SECRET, dailyApiLimit: SF_DAILY_LIMIT });
    const env = buildBenchEnv(
      {
        DATABASE_URL: services.databaseUrl,
        REDIS_URL: services.redisUrl,
        META_GRAPH_URL: graph.url,
        HUBSPOT_API_URL: hubspot.url,
        SALESFORCE_LOGIN_URL: salesforce.url,
        SALESFORCE_CLIENT_ID: SF_CLIENT_ID,
        SALESFORCE_CLIENT_SECRET: SF_CLIENT_SECRET,
      },
      opts.envOverrides,
    );
    prefix = env.QUEUE_PREFIX;
    addBenchForm(graph);
    logProgress('registering workspace, page, HubSpot and Salesforce destinations and routes through the CLI');
    const ws = await cli(['workspaces', 'create', '--name', 'Bench burst'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', BENCH_PAGE_ID, '--token', PAGE_TOKEN, '--name', 'Bench page'], env);
    const hubspotId = await cli(['destinations', 'add', '--workspace', ws, '--type', 'hubspot', '--token', HUBSPOT_TOKEN], env);
    const sfTokens = salesforce.issueTokens();
    const salesforceId = await cli(
      [
        'destinations',
        'add',
        '--workspace',
        ws,
        '--type',
        'salesforce',
        '--instance-url',
        sfTokens.instanceUrl,
        '--access-token',
        sfTokens.accessToken,
        '--refresh-token',
        sfTokens.refreshToken,
      ],
      env,
    );
    for (const d of [hubspotId, salesforceId]) await cli(['routes', 'add', '--workspace', ws, '--page-id', BENCH_PAGE_ID, '--destination', d], env);
    addGraphLeads(graph, FIRST_LEADGEN_ID, leads);
    sql = await connectSql(services.databaseUrl);

    // 1. Intake only: the webhooks are acknowledged and their fetch jobs wait in the queue.
    logProgress(`intake: ${formatInt(leads)} webhooks to leadrelay serve`);
    const serve = await startProgram('serve', env);
    let intake: LoadResult;
    try {
      intake = await runLoadJob(
        {
          kind: 'autocannon',
          url: `${serve.url}/webhooks/meta`,
          appSecret: TEST_APP_SECRET,
          pageId: BENCH_PAGE_ID,
          formId: BENCH_FORM_ID,
          firstLeadgenId: FIRST_LEADGEN_ID,
          count: leads,
          connections: 64,
        },
        180_000,
      );
    } finally {
      await serve.kill();
    }
    const stored = new Set(
      (
        await sql.query<{ leadgen_id: string }>(
          'select leadgen_id from leadgen_events where leadgen_id::numeric >= $1::numeric and leadgen_id::numeric < $1::numeric + $2',
          [FIRST_LEADGEN_ID, leads],
        )
      ).rows.map((r) => r.leadgen_id),
    );
    let missing = 0;
    for (let i = 0; i < leads; i++) if (intake.acked[i] === 1 && !stored.has(makeLeadgenId(FIRST_LEADGEN_ID, i))) missing++;
    logProgress(`intake: ${formatInt(intake.ok)} acknowledged at ${formatInt(intake.okPerSecond)}/s, ${missing} acknowledged ids missing in PostgreSQL`);

    // 2. Release: start the whole pipeline on the backlog.
    const hsBefore = hubspot.requests.length;
    const sfBefore = salesforce.requests.length;
    const hs = hubspot;
    const sf = salesforce;
    const crms: CrmProgress[] = [
      {
        name: 'HubSpot',
        destinationId: hubspotId,
        delivered: 0,
        calls: () => hs.requests.slice(hsBefore).filter((r) => !r.path.startsWith('/oauth')).length,
      },
      {
        name: 'Salesforce',
        destinationId: salesforceId,
        delivered: 0,
        calls: () => sf.requests.slice(sfBefore).filter((r) => r.path.startsWith('/services/data/')).length,
      },
    ];
    logProgress(`release: starting leadrelay start on ${formatInt(intake.ok)} queued leads (drain limit ${opts.drainSeconds} s)`);
    program = await startProgram('start', env);
    const readyAt = performance.now();
    const pathsBefore = await readPathCounters(program.url);
    await services.refreshBackends();
    const cpu = startCpuWindow(program.proc.pid!, services);
    const graphCallsBefore = graph.httpCallCount();
    const deadline = readyAt + opts.drainSeconds * 1000;
    let lastLog = 0;
    while (performance.now() < deadline && crms.some((c) => c.drainedAfterS === undefined)) {
      await sleep(250);
      await services.refreshBackends();
      for (const c of crms) {
        if (c.drainedAfterS !== undefined) continue;
        c.delivered = await countDelivered(sql, c.destinationId);
        if (c.delivered >= intake.ok) c.drainedAfterS = (performance.now() - readyAt) / 1000;
      }
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        logProgress(`release: ${crms.map((c) => `${c.name} ${formatInt(c.delivered)}`).join(', ')} delivered`);
      }
    }
    const elapsedS = (performance.now() - readyAt) / 1000;
    const cpuFigures = cpu.stop();
    const paths = describePathCounters(pathsBefore, await readPathCounters(program.url));
    const graphCalls = graph.httpCallCount() - graphCallsBefore;
    const statuses = await Promise.all(crms.map((c) => countStatuses(sql!, c.destinationId)));
    const leadsStored = Number((await sql.query<{ n: string }>('select count(*) as n from leads')).rows[0].n);
    rows.push(...buildBurstRows({ leads, intake, missing, crms, statuses, elapsedS, cpu: cpuFigures, graphCalls, leadsStored, services, opts }));
    rows.push({ label: 'which way the leads went (program counters)', value: paths });
  } finally {
    await program?.kill().catch(() => {});
    await sql?.end().catch(() => {});
    await Promise.all([graph?.close(), hubspot?.close(), salesforce?.close()].map((p) => p?.catch(() => {})));
    await services?.close(prefix);
  }
  printReport(`LeadRelay burst benchmark (${formatInt(leads)} leads released at once to HubSpot- and Salesforce-shaped fakes)`, [
    buildMachineBusyRow(quiet),
    { label: 'program environment overrides', value: describeOverrides(opts.envOverrides) },
    ...rows,
  ]);
}

function buildBurstRows(m: {
  leads: number;
  intake: LoadResult;
  missing: number;
  crms: CrmProgress[];
  statuses: string[];
  elapsedS: number;
  cpu: CpuFigures;
  graphCalls: number;
  /** Leads fetched and stored during the release (the fetch stage's progress). */
  leadsStored: number;
  services: BenchServices;
  opts: BenchOptions;
}): ReportRow[] {
  const rows: ReportRow[] = [
    { label: 'PostgreSQL and Redis', value: m.services.describe() },
    {
      label: `intake (leadrelay serve, 64 connections): acknowledged / sent, at ${formatInt(m.intake.okPerSecond)}/s`,
      value: `${formatInt(m.intake.ok)} / ${formatInt(m.intake.sent)}`,
    },
    { label: 'intake: acknowledged ids missing in PostgreSQL (each looked up)', value: formatInt(m.missing), target: '0', isMet: m.missing === 0 },
  ];
  m.crms.forEach((c, i) => {
    const calls = c.calls();
    const perLead = c.delivered > 0 ? calls / c.delivered : NaN;
    const rate = c.delivered / m.elapsedS;
    rows.push({
      label: `${c.name}: time from start ready to the last of ${formatInt(m.intake.ok)} delivered`,
      value:
        c.drainedAfterS !== undefined
          ? `${c.drainedAfterS.toFixed(1)} s`
          : `not drained: ${formatInt(c.delivered)} in ${m.elapsedS.toFixed(0)} s (≈ ${rate > 0 ? formatInt(m.intake.ok / rate) : '∞'} s at that pace)`,
      target: `≤ ${TARGET_DRAIN_SECONDS} s`,
      isMet: c.drainedAfterS !== undefined && c.drainedAfterS <= TARGET_DRAIN_SECONDS,
    });
    rows.push({
      label: `${c.name}: CRM API calls per delivered lead (${formatInt(calls)} calls recorded by the fake / ${formatInt(c.delivered)})`,
      value: Number.isFinite(perLead) ? perLead.toFixed(3) : 'n/a',
      target: `≤ ${TARGET_CALLS_PER_LEAD}`,
      isMet: perLead <= TARGET_CALLS_PER_LEAD,
    });
    rows.push({ label: `${c.name}: deliveries by status at the end; attempts by outcome (duration)`, value: m.statuses[i] });
  });
  rows.push({
    label: 'leads fetched and stored during the release / Graph API calls (HTTP requests; a batch is one) per lead fetched',
    value: `${formatInt(m.leadsStored)} / ${(m.graphCalls / Math.max(1, m.leadsStored)).toFixed(2)}`,
  });
  rows.push({ label: 'CPU during the release, % of one core', value: formatCpu(m.cpu, 'start', 0) });
  rows.push({
    // Fetching runs ahead of delivery in a burst: per lead fetched is the fairer unit until both drained.
    label: 'CPU per lead fetched: start / postgres / redis',
    value: [m.cpu.server, m.cpu.postgres, m.cpu.redis].map((p) => formatMs(computeCpuMicrosPerRequest(p, m.cpu.seconds, m.leadsStored) / 1000)).join(' / '),
  });
  return rows;
}

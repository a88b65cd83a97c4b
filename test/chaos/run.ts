// The chaos suite: `npm run chaos` (all scenarios), `npm run chaos -- pg-stop worker-kill` (some),
// `npm run chaos -- --short` (shorter load). Not part of `npm test`.
//
// One world for the whole run: a throwaway PostgreSQL and Redis on free loopback ports, the real
// binary as one `serve` and two `work` processes, the fake Graph API, and two CRMs behind fault
// proxies (the generic webhook receiver, and the Pipedrive fake with ~150 ms per call so its
// find-or-create races are real). Each scenario sends signed leadgen webhooks at a fixed rate
// while its fault is injected, then waits for the program to drain and counts what became of
// every acknowledged lead. The exit code is 1 when any scenario lost a lead, duplicated one under
// different keys, delivered one it never acknowledged, or saw a process exit on its own.
import { openDb } from '../../src/store/db.js';
import { startFakeGraph } from '../fakes/meta-graph.js';
import { startFakePipedrive } from '../fakes/pipedrive-crm.js';
import { startFakeReceiver } from '../fakes/webhook-receiver.js';
import { cli, sleep, TEST_APP_SECRET, TEST_KEYS, TEST_VERIFY_TOKEN } from '../helpers/e2e.js';
import { allDelivered, formatTable, isFailure, openWork, tally, type ScenarioRecord, type Tally } from './check.js';
import { startFaultProxy } from './fault-proxy.js';
import { makeTempDir, startPostgres, startRedis, startRole, type ManagedProcess, type ProcessExit } from './infra.js';
import { runLoad, type LeadPlan } from './load.js';
import { SCENARIOS, type Scenario, type World } from './scenarios.js';

const WEBHOOK_PAGE = '1000000777';
const WEBHOOK_FORM = '2000000777';
const PIPEDRIVE_PAGE = '1000000778';
const PIPEDRIVE_FORM = '2000000778';
const PIPEDRIVE_TOKEN = 'chaos-pipedrive-api-token';
/** One valid lead in this many goes to the Pipedrive page (its search budget is 10 calls per 2 s). */
const PIPEDRIVE_SHARE = 10;
const WORKERS = 2;

interface Mode {
  rate: number;
  loadMs: number;
  finalRetryMs: number;
  drainDeadlineMs: number;
}
const FULL: Mode = { rate: 25, loadMs: 30_000, finalRetryMs: 30_000, drainDeadlineMs: 180_000 };
const SHORT: Mode = { rate: 20, loadMs: 12_000, finalRetryMs: 20_000, drainDeadlineMs: 90_000 };

function parseArgs(argv: string[]): { mode: Mode; scenarios: Scenario[] } {
  const names = argv.filter((a) => !a.startsWith('--'));
  const flags = argv.filter((a) => a.startsWith('--'));
  for (const f of flags) if (f !== '--short') throw new Error(`unknown option ${f}; the only option is --short`);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return { mode: flags.includes('--short') ? SHORT : FULL, scenarios: names.length ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS };
}

const started = Date.now();
const log = (message: string) => console.log(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

/** A 19-digit leadgen id: 9, the scenario's two-digit tag, 0 (valid) or 1 (fuzz), then a sequence number. */
const leadgenId = (tag: string, fuzz: boolean, n: number) => `9${tag}${fuzz ? 1 : 0}${String(n).padStart(15, '0')}`;

async function main(): Promise<number> {
  const { mode, scenarios } = parseArgs(process.argv.slice(2));
  const temp = makeTempDir();
  const cleanups: (() => Promise<void> | void)[] = [() => temp.remove()];
  const processes: ManagedProcess[] = [];
  const exits: ProcessExit[] = [];
  let current = 'setup';
  try {
    log(`world in ${temp.dir}: PostgreSQL, Redis, fakes`);
    const pg = await startPostgres(temp.dir);
    cleanups.unshift(() => pg.stop());
    const redis = await startRedis();
    cleanups.unshift(() => redis.kill());
    const graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890', latencyMs: { min: 20, max: 80 } });
    const receiver = await startFakeReceiver();
    const pipedrive = await startFakePipedrive({ apiTokens: [PIPEDRIVE_TOKEN], latencyMs: { min: 100, max: 200 } });
    const webhookProxy = await startFaultProxy(receiver.url, { min: 20, max: 60 });
    const pipedriveProxy = await startFaultProxy(pipedrive.url, { min: 0, max: 0 });
    cleanups.unshift(
      () => receiver.close(),
      () => pipedrive.close(),
      () => graph.close(),
      () => webhookProxy.close(),
      () => pipedriveProxy.close(),
    );
    for (const [page, form, name] of [
      [WEBHOOK_PAGE, WEBHOOK_FORM, 'Chaos webhook'],
      [PIPEDRIVE_PAGE, PIPEDRIVE_FORM, 'Chaos Pipedrive'],
    ]) {
      graph.addForm({
        id: form,
        page_id: page,
        name,
        questions: [
          { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
          { key: 'email', type: 'EMAIL', label: 'Email' },
        ],
      });
      graph.setPageToken(page, `EAAB-chaos-token-${page}`, name);
    }

    // The product's own defaults, except timers shortened so a scenario drains in seconds: the
    // sweep and stall detection, and the longest delivery backoff.
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: 'chaos',
      META_APP_ID: '1234567890',
      META_APP_SECRET: TEST_APP_SECRET,
      META_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
      META_GRAPH_URL: graph.url,
      PIPEDRIVE_API_URL: pipedriveProxy.url,
      LEADRELAY_ENCRYPTION_KEYS: TEST_KEYS,
      LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: 'true',
      OUTBOX_SWEEP_INTERVAL_MS: '2000',
      OUTBOX_MIN_AGE_MS: '5000',
      WORKER_LOCK_DURATION_MS: '10000',
      DELIVERY_BACKOFF_MAX_MS: '10000',
      RECONCILE_INTERVAL_MS: '0',
      MONITOR_INTERVAL_MS: '0',
      FORM_DRIFT_INTERVAL_MS: '0',
    };
    log('registering a workspace, two pages, two destinations and two routes (CLI)');
    const ws = await cli(['workspaces', 'create', '--name', 'Chaos'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', WEBHOOK_PAGE, '--token', `EAAB-chaos-token-${WEBHOOK_PAGE}`], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PIPEDRIVE_PAGE, '--token', `EAAB-chaos-token-${PIPEDRIVE_PAGE}`], env);
    const hook = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', `${webhookProxy.url}/hooks/leads`], env);
    const pd = await cli(['destinations', 'add', '--workspace', ws, '--type', 'pipedrive', '--api-token', PIPEDRIVE_TOKEN], env);
    await cli(['routes', 'add', '--workspace', ws, '--page-id', WEBHOOK_PAGE, '--destination', hook], env);
    await cli(['routes', 'add', '--workspace', ws, '--page-id', PIPEDRIVE_PAGE, '--destination', pd], env);

    log(`starting serve and ${WORKERS} workers`);
    const scenarioOf = () => current;
    const serve = await startRole('serve', 'serve', env, exits, scenarioOf);
    processes.push(serve);
    const workers: ManagedProcess[] = [];
    for (let i = 1; i <= WORKERS; i++) workers.push(await startRole(`work-${i}`, 'work', env, exits, scenarioOf));
    processes.push(...workers);
    cleanups.unshift(async () => {
      for (const p of processes) await p.stop();
    });
    const dbh = await openDb({ url: pg.url, poolMax: 2 });
    cleanups.unshift(() => dbh.close());
    const world: World = { pg, redis, serve, workers, webhookProxy, pipedriveProxy, pipedrive, log };
    const dest = { receiver, pipedrive };

    const records: ScenarioRecord[] = [];
    for (const scenario of scenarios) {
      current = scenario.name;
      const tag = String(SCENARIOS.indexOf(scenario) + 10);
      const loadMs = Math.max(mode.loadMs, scenario.minLoadMs ?? 0);
      log(`${scenario.name}: ${scenario.what}; ${mode.rate} leads/s for ${loadMs / 1000} s`);
      const pipedriveEmails = new Set<string>();
      let pipedriveLeads = 0;
      const nextLead = (i: number): LeadPlan => {
        const id = leadgenId(tag, false, i);
        if (i % PIPEDRIVE_SHARE !== PIPEDRIVE_SHARE / 2) return { leadgenId: id, pageId: WEBHOOK_PAGE, formId: WEBHOOK_FORM, email: `lead${id}@chaos.example` };
        // Two Pipedrive leads in a row share an email, 1/rate × PIPEDRIVE_SHARE seconds apart: the same person.
        const email = `person-${tag}-${Math.floor(pipedriveLeads++ / 2)}@chaos.example`;
        pipedriveEmails.add(email);
        return { leadgenId: id, pageId: PIPEDRIVE_PAGE, formId: PIPEDRIVE_FORM, email };
      };
      const nextFuzzLead = (i: number): LeadPlan => {
        const id = leadgenId(tag, true, i);
        return { leadgenId: id, pageId: WEBHOOK_PAGE, formId: WEBHOOK_FORM, email: `fuzz${id}@chaos.example` };
      };
      const injected = (scenario.inject?.(world, loadMs) ?? Promise.resolve()).catch((err) =>
        log(`${scenario.name}: the fault injector failed: ${(err as Error).message}`),
      );
      const load = await runLoad({
        url: () => serve.url,
        graph,
        rate: mode.rate,
        durationMs: loadMs,
        nextLead,
        nextFuzzLead: scenario.fuzz ? nextFuzzLead : undefined,
        finalRetryMs: mode.finalRetryMs,
      });
      await injected;
      // A process that died on its own is recorded (exits) and started again, as a supervisor would.
      for (const p of processes) {
        if (p.isAlive()) continue;
        log(`${p.name} is not running: starting it again`);
        await p.restart();
      }
      log(`${scenario.name}: load done (${load.acked.size}/${load.sent.size} acknowledged); waiting for the program to drain`);
      const drainStart = Date.now();
      let drained: ScenarioRecord['drained'] = 'deadline';
      while (Date.now() - drainStart < mode.drainDeadlineMs) {
        if (allDelivered(dest, load.acked) && (await openWork(dbh.db).catch(() => 1)) === 0) {
          drained = 'all delivered';
          break;
        }
        await sleep(250);
      }
      const record: ScenarioRecord = { name: scenario.name, tag, load, pipedriveEmails, drainMs: Date.now() - drainStart, drained };
      records.push(record);
      const t = await tally(record, dest, dbh.db, exits);
      log(
        `${scenario.name}: acked ${t.acked}, delivered ${t.delivered}, lost ${t.lost}, dup same key ${t.dupSameKey}, dup different keys ${t.dupDifferentKey}, dup persons ${t.dupPersons}, unexpected ${t.unexpected}, exits ${t.exits.length}`,
      );
    }

    // Counted again at the end: a late duplicate of an earlier scenario shows up in its own row.
    current = 'teardown';
    const tallies: Tally[] = [];
    for (const r of records) tallies.push(await tally(r, dest, dbh.db, exits));
    console.log(`\n${formatTable(tallies)}\n`);
    for (const t of tallies) {
      for (const e of t.exits) console.log(`${t.scenario}: ${e.name} exited on its own (${e.signal ?? `code ${e.code}`}); its last output:\n${e.tail}\n`);
      const fuzzAccepted = records.find((r) => r.name === t.scenario)?.load.fuzzAccepted ?? {};
      if (Object.keys(fuzzAccepted).length) console.log(`${t.scenario}: fuzzed requests answered 2xx: ${JSON.stringify(fuzzAccepted)}`);
      for (const line of t.examples) console.log(`${t.scenario}: ${line}`);
    }
    const failed = tallies.filter(isFailure);
    console.log(
      failed.length
        ? `FAILED: ${failed.map((t) => t.scenario).join(', ')}`
        : 'PASSED: no lost lead, no duplicate under different keys, nothing unexpected, no process died',
    );
    return failed.length ? 1 : 0;
  } finally {
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch (err) {
        log(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);

// The form drift check on the real PostgreSQL and Redis, with Graph's getForm stubbed at the
// App's network edge: baselines, drift with the rules it affects, stable first-detection time,
// clearing, unreadable forms, a concurrent `mappings set`, and the one-run-per-interval lock.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import type { Mapping } from '../../src/mapping/schema.js';
import type { GraphClient } from '../../src/meta/graph-client.js';
import { GraphError } from '../../src/meta/graph-errors.js';
import type { GraphForm } from '../../src/meta/graph-types.js';
import {
  checkFormDrift,
  FORM_DRIFT_LEASE,
  describeRouteDrift,
  parseRouteDrift,
  runLockedFormDriftCheck,
  startFormDriftChecks,
  type RouteDrift,
} from '../../src/pipeline/form-drift.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import * as repo from '../../src/store/repos.js';
import { leaseRemainingMs } from '../../src/store/leases.js';
import { createLogger } from '../../src/util/logger.js';
import { flushPrefix, TEST_APP_SECRET, TEST_KEYS, waitUntil } from '../helpers/e2e.js';
import { createTestSchema, TEST_REDIS_URL, type TestSchema } from '../helpers/test-db.js';

const PAGE = '1000000077';
const PAGE_TOKEN = 'EAAB-drift-page-token';
const FORM = '2000000077';
const BROKEN_FORM = '2000000078';
const DISABLED_FORM = '2000000079';

type Question = GraphForm['questions'][number];
const q = (key: string, label: string, type = 'CUSTOM', options: { key: string; value: string }[] = []): Question => ({ key, label, type, options });
const ORIGINAL: Question[] = [
  q('email', 'Email', 'EMAIL'),
  q('full_name', 'Full name', 'FULL_NAME'),
  q('budget', 'Budget'),
  q('bike_type', 'Which bike?', 'CUSTOM', [
    { key: 'road', value: 'Road bike' },
    { key: 'e_bike', value: 'E-bike' },
  ]),
];

const MAPPING: Mapping = {
  version: 1,
  rules: [
    { target: 'email', source: { type: 'answer', key: 'email' } },
    { target: 'budget_range', source: { type: 'answer', key: 'budget' } },
    { target: 'bike', source: { type: 'answer', key: 'bike_type' }, transforms: [{ type: 'value_map', map: { road: 'Road', e_bike: 'E-bike' } }] },
    { target: 'summary', source: { type: 'template', template: '{{full_name}} wants {{answer.budget|?}}' } },
    { target: 'status', source: { type: 'constant', value: 'NEW' } },
  ],
  unmapped: { target: 'notes' },
};

describe('form drift check (PostgreSQL + Redis)', function () {
  this.timeout(60_000);
  let schema: TestSchema;
  let config: ReturnType<typeof loadConfig>;
  let base: App;
  let app: App;
  let prefix: string;
  const forms = new Map<string, Question[]>();
  const getFormCalls: string[] = [];
  /** Runs inside getForm, before it answers: simulates work happening while Graph is called. */
  let duringGetForm: (() => Promise<void>) | null = null;
  const routes: Record<string, string> = {};

  before(async () => {
    schema = await createTestSchema('drift');
    prefix = `drift${randomBytes(4).toString('hex')}`;
    config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: schema.url,
      DATABASE_POOL_MAX: '4',
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      META_APP_SECRET: TEST_APP_SECRET,
      LEADRELAY_ENCRYPTION_KEYS: TEST_KEYS,
    });
    base = await createApp(config, { logger: createLogger('silent') });
    const graph: Partial<GraphClient> = {
      async getForm(formId, token) {
        getFormCalls.push(formId);
        // The check must call Graph with the page's own (decrypted) token.
        if (token !== PAGE_TOKEN) throw new GraphError({ category: 'token_dead', reason: 'graph_code_190', message: 'wrong token' });
        if (duringGetForm) await duringGetForm();
        const questions = forms.get(formId);
        if (!questions) throw new GraphError({ category: 'not_found', reason: 'graph_code_100_33', message: 'Unsupported get request' });
        return { id: formId, name: `Form ${formId}`, status: 'ACTIVE', locale: 'en_US', questions: structuredClone(questions) };
      },
    };
    app = { ...base, graph: graph as GraphClient };

    const ws = await repo.createWorkspace(app.db, 'Drift');
    const other = await repo.createWorkspace(app.db, 'Other');
    await repo.upsertPage(app.db, { workspaceId: ws.id, pageId: PAGE, name: 'Drift page', tokenEnvelope: app.keyRing.encrypt(PAGE_TOKEN, pageTokenAad(PAGE)) });
    const dest = await repo.createDestination(app.db, {
      workspaceId: ws.id,
      type: 'webhook',
      name: 'a',
      config: { url: 'https://a.example/in' },
      credentialsEnvelope: null,
    });
    const dest2 = await repo.createDestination(app.db, {
      workspaceId: ws.id,
      type: 'webhook',
      name: 'b',
      config: { url: 'https://b.example/in' },
      credentialsEnvelope: null,
    });
    const add = async (name: string, workspaceId: string, formId: string | null, destinationId: string, mapping?: unknown) =>
      (routes[name] = (await repo.createRoute(app.db, { workspaceId, pageId: PAGE, formId, destinationId, mapping })).id);
    await add('mapped', ws.id, FORM, dest.id, MAPPING);
    await add('preset', ws.id, FORM, dest2.id);
    await add('pageWide', ws.id, null, dest.id);
    await add('broken', ws.id, BROKEN_FORM, dest.id);
    await add('disabled', ws.id, DISABLED_FORM, dest.id);
    await app.db.updateTable('routes').set({ is_enabled: false }).where('id', '=', routes.disabled).execute();
    // A route naming this page from a workspace the page does not belong to.
    const otherDest = await repo.createDestination(app.db, {
      workspaceId: other.id,
      type: 'webhook',
      name: 'c',
      config: { url: 'https://c.example/in' },
      credentialsEnvelope: null,
    });
    await add('foreign', other.id, FORM, otherDest.id);
    forms.set(FORM, ORIGINAL);
    forms.set(DISABLED_FORM, ORIGINAL);
  });

  after(async () => {
    await base?.close();
    await flushPrefix(prefix);
    await schema?.drop();
  });

  const row = (name: string) => repo.findRoute(app.db, routes[name]).then((r) => r!);
  const driftOf = async (name: string) => parseRouteDrift((await row(name)).drift);

  it('stores the current questions as the baseline of routes that have none, reading each form once', async () => {
    getFormCalls.length = 0;
    const ws = (await row('mapped')).workspace_id;
    const r = await checkFormDrift(app, { workspaceId: ws });
    expect(r.baselined.sort()).to.deep.equal([routes.mapped, routes.preset].sort());
    expect(r.checked).to.equal(2);
    expect(r.drifted).to.deep.equal([]);
    expect(r.failed).to.deep.equal([{ routeId: routes.broken, formId: BROKEN_FORM, reason: 'graph_code_100_33' }]);
    // Page-wide and disabled routes are not read; the other workspace's route is out of scope.
    expect(getFormCalls.sort()).to.deep.equal([BROKEN_FORM, FORM].sort());
    expect(((await row('mapped')).form_questions as { key: string }[]).map((x) => x.key)).to.deep.equal(['email', 'full_name', 'budget', 'bike_type']);
    expect((await row('broken')).form_questions).to.equal(null);
    expect((await row('disabled')).form_questions).to.equal(null);
    expect((await row('pageWide')).form_questions).to.equal(null);
  });

  it('refuses to read a form for a route whose page belongs to another workspace', async () => {
    const r = await checkFormDrift(app, { workspaceId: (await row('foreign')).workspace_id });
    expect(r.failed).to.deep.equal([{ routeId: routes.foreign, formId: FORM, reason: 'page_not_registered' }]);
    expect((await row('foreign')).form_questions).to.equal(null);
  });

  it('finds nothing when the form is unchanged, even with its options reordered', async () => {
    forms.set(FORM, [ORIGINAL[0], ORIGINAL[1], ORIGINAL[2], { ...ORIGINAL[3], options: [...ORIGINAL[3].options].reverse() }]);
    const r = await checkFormDrift(app, { workspaceId: (await row('mapped')).workspace_id });
    expect(r.drifted).to.deep.equal([]);
    expect(r.baselined).to.deep.equal([]);
    expect((await row('mapped')).drift).to.equal(null);
  });

  let firstDetection: RouteDrift;

  it('flags a route whose form gained, lost and changed questions, naming the rules it affects', async () => {
    forms.set(FORM, [
      ORIGINAL[0],
      q('full_name', 'Your name', 'FULL_NAME'),
      q('bike_type', 'Which bike?', 'CUSTOM', [...ORIGINAL[3].options, { key: 'gravel', value: 'Gravel' }]),
      q('city', 'City', 'CITY'),
    ]);
    const at = new Date('2026-03-01T09:00:00.000Z');
    const r = await checkFormDrift(app, { workspaceId: (await row('mapped')).workspace_id, now: () => at });
    expect(r.drifted.map((d) => d.routeId).sort()).to.deep.equal([routes.mapped, routes.preset].sort());
    expect(r.drifted.every((d) => d.isNew)).to.equal(true);

    const drift = (await driftOf('mapped'))!;
    expect(drift.added.map((x) => x.key)).to.deep.equal(['city']);
    expect(drift.removed.map((x) => x.key)).to.deep.equal(['budget']);
    expect(drift.changed).to.deep.equal([
      { key: 'full_name', what: ['label'] },
      { key: 'bike_type', what: ['options'] },
    ]);
    // Rule 2 reads the removed question, rule 3 the one whose options changed, rule 4 names the
    // removed question in its template; a relabelled question breaks no rule.
    expect(drift.affected_rules).to.deep.equal([
      { rule: 2, target: 'budget_range', source: 'answer "budget"' },
      { rule: 3, target: 'bike', source: 'answer "bike_type"' },
      { rule: 4, target: 'summary', source: 'template "{{full_name}} wants {{answer.budget|?}}"' },
    ]);
    expect(drift.detected_at).to.equal(at.toISOString());
    // A route without a mapping of its own is flagged too, with no rule to name.
    expect((await driftOf('preset'))!.affected_rules).to.deep.equal([]);
    expect(describeRouteDrift(drift)).to.equal(
      'added "city" (City); removed "budget"; changed "full_name" (label), "bike_type" (options); affects rule 2 → budget_range (answer "budget"), rule 3 → bike (answer "bike_type"), rule 4 → summary (template "{{full_name}} wants {{answer.budget|?}}")',
    );
    firstDetection = drift;
  });

  it('keeps the first detection time while the form stays changed', async () => {
    const later = new Date('2026-03-01T15:00:00.000Z');
    const r = await checkFormDrift(app, { workspaceId: (await row('mapped')).workspace_id, now: () => later });
    const mapped = r.drifted.find((d) => d.routeId === routes.mapped)!;
    expect(mapped.isNew).to.equal(false);
    expect((await driftOf('mapped'))!.detected_at).to.equal(firstDetection.detected_at);

    // A further change updates the difference but not when it started.
    forms.set(FORM, [...forms.get(FORM)!, q('zip', 'Zip', 'ZIP')]);
    await checkFormDrift(app, { workspaceId: (await row('mapped')).workspace_id, now: () => later });
    const grown = (await driftOf('mapped'))!;
    expect(grown.added.map((x) => x.key)).to.deep.equal(['city', 'zip']);
    expect(grown.detected_at).to.equal(firstDetection.detected_at);
  });

  it('clears the flag when the form matches its baseline again', async () => {
    forms.set(FORM, ORIGINAL);
    const r = await checkFormDrift(app, { workspaceId: (await row('mapped')).workspace_id });
    expect(r.cleared.sort()).to.deep.equal([routes.mapped, routes.preset].sort());
    expect((await row('mapped')).drift).to.equal(null);
    expect((await row('preset')).drift).to.equal(null);
  });

  it('checks a single route when asked (e.g. right after it was added)', async () => {
    getFormCalls.length = 0;
    const r = await checkFormDrift(app, { routeId: routes.preset });
    expect(r.checked).to.equal(1);
    expect(getFormCalls).to.deep.equal([FORM]);
    expect((await checkFormDrift(app, { routeId: routes.disabled })).checked, 'a disabled route is never read').to.equal(0);
    expect((await checkFormDrift(app, { routeId: 'not-a-uuid' })).checked).to.equal(0);
  });

  it('does not flag a route whose mapping was set (new baseline) while the check was reading the form', async () => {
    const changed = [ORIGINAL[0], ORIGINAL[1], ORIGINAL[3]];
    forms.set(FORM, changed);
    duringGetForm = async () => {
      duringGetForm = null;
      // What `mappings set` does: a new mapping and the form's current questions as the baseline.
      await repo.updateRoute(app.db, routes.mapped, { mapping: { ...MAPPING, rules: [MAPPING.rules[0]] }, formQuestions: changed, drift: null });
    };
    const r = await checkFormDrift(app, { workspaceId: (await row('mapped')).workspace_id });
    expect(r.drifted.map((d) => d.routeId)).to.deep.equal([routes.preset]);
    expect((await row('mapped')).drift).to.equal(null);
    // The next check compares with the new baseline: nothing changed since.
    const next = await checkFormDrift(app, { workspaceId: (await row('mapped')).workspace_id });
    expect(next.drifted.map((d) => d.routeId)).to.deep.equal([routes.preset]);
  });

  it('runs at most once per interval across processes (PostgreSQL lease)', async () => {
    await app.db.deleteFrom('leases').where('name', '=', FORM_DRIFT_LEASE).execute();
    // A second App on the same database stands for another process.
    const otherBase = await createApp(config, { logger: createLogger('silent'), migrate: false });
    try {
      const other: App = { ...otherBase, graph: app.graph };
      const first = await runLockedFormDriftCheck(app, 60_000);
      expect(first).to.not.equal(null);
      expect(first!.checked).to.be.greaterThan(0);
      expect(await runLockedFormDriftCheck(other, 60_000), 'the other process, within the interval').to.equal(null);
      expect(await runLockedFormDriftCheck(app, 60_000), 'the same process, within the interval').to.equal(null);
      expect(await leaseRemainingMs(app.db, FORM_DRIFT_LEASE)).to.be.greaterThan(0);
    } finally {
      await otherBase.close();
    }
  });

  it('the periodic loop runs a check at once; stop waits for the check in flight to finish', async () => {
    await app.db.deleteFrom('leases').where('name', '=', FORM_DRIFT_LEASE).execute();
    getFormCalls.length = 0;
    // The form is back to what the preset route's baseline holds: the check clears its flag.
    forms.set(FORM, ORIGINAL);
    expect((await row('preset')).drift).to.not.equal(null);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let isReading = false;
    duringGetForm = async () => {
      duringGetForm = null;
      isReading = true;
      await released;
    };
    const loop = startFormDriftChecks(app, { intervalMs: 60_000, initialDelayMs: 0 });
    let isStopped = false;
    let stopping: Promise<void> | undefined;
    try {
      await waitUntil(async () => isReading, 20_000, 'a scheduled check reading the form');
      stopping = loop.stop().then(() => {
        isStopped = true;
      });
      // Every pending callback has run: stop() is waiting on the check held in getForm.
      await new Promise((resolve) => setImmediate(resolve));
      expect(isStopped, 'stop() returned while a check was reading the form').to.equal(false);
    } finally {
      release();
      await (stopping ?? loop.stop());
    }
    // What that check wrote after reading the form is there once stop() returned.
    expect((await row('preset')).drift).to.equal(null);
  });
});

// End to end through the real program: field mapping and routing. Unmapped custom answers
// reach the CRM's note with their question label; a lead nobody routes is kept as unrouted and
// delivered once a route exists; a mapping is suggested, validated against the CRM's real
// fields, previewed and applied; one page fans out to several destinations with filters; a
// form whose questions changed flags its route, its mapping rule and the lead log; a page-wide
// route is suggested and previewed per form; a webhook route's mapping reaches the receiver as
// `fields`; and a phone number takes its country from the lead's country answer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Mapping } from '../../src/mapping/schema.js';
import { createGraphClient } from '../../src/meta/graph-client.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph, type FakeQuestionInput } from '../fakes/meta-graph.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { startFakePipedrive, type FakePipedrive } from '../fakes/pipedrive-crm.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { baseEnv, cli, postLeadgen, flushPrefix, runCli, startProgram, TEST_APP_SECRET, waitUntil, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

// One page per scenario, so their routes never see each other's leads.
const PAGE_A = '1000000031';
const PAGE_B = '1000000032';
const PAGE_C = '1000000033';
const PAGE_D = '1000000034';
/** A page-wide route to a webhook: form E1 is known from a received lead (archived on Meta), E2 from Meta's list. */
const PAGE_E = '1000000035';
/** A page-wide route on a page with no form anywhere. */
const PAGE_F = '1000000036';
/** A page-wide route to a webhook whose mapping reads phones with the country answer. */
const PAGE_G = '1000000037';
const FORM_A = '2000000031';
const FORM_B = '2000000032';
const FORM_C = '2000000033';
const FORM_D = '2000000034';
const FORM_E1 = '2000000035';
const FORM_E2 = '2000000036';
const FORM_G = '2000000037';
const TOKEN = (page: string) => `EAAB-mapping-token-${page}`;
/** A mandatory Pipedrive lead custom field (40-hex key, as Pipedrive names them). */
const FLEET_SIZE_KEY = '9f1c'.repeat(10);

let next = 7_500_000_000_000_000_000n;
const newLeadgenId = () => String(next++);

const FORM_C_QUESTIONS: FakeQuestionInput[] = [
  { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
  { key: 'email', type: 'EMAIL', label: 'Email' },
  {
    key: 'bike_type',
    label: 'Which bike?',
    options: [
      { key: 'road_bike', value: 'Road bike' },
      { key: 'e_bike', value: 'E-bike' },
    ],
  },
  { key: 'budget', label: 'Budget' },
];

/** The marketer's mapping for form C → HubSpot: value map, template, constant, unmapped note. */
const GOOD_HUBSPOT_MAPPING: Mapping = {
  version: 1,
  defaultCountry: 'GB',
  rules: [
    { target: 'email', source: { type: 'answer', key: 'email' }, transforms: [{ type: 'trim' }, { type: 'lower' }] },
    { target: 'firstname', source: { type: 'answer', key: 'full_name' }, transforms: [{ type: 'first_name' }] },
    { target: 'lastname', source: { type: 'answer', key: 'full_name' }, transforms: [{ type: 'last_name' }] },
    {
      target: 'bike_interest',
      source: { type: 'answer', key: 'bike_type' },
      transforms: [{ type: 'value_map', map: { road_bike: 'Road', e_bike: 'E-bike' } }, { type: 'first' }],
    },
    { target: 'company', source: { type: 'template', template: '{{campaign_name|organic}} / {{form_name}}' } },
    { target: 'hs_lead_status', source: { type: 'constant', value: 'NEW' } },
  ],
  unmapped: { target: 'message' },
};

describe('e2e: field mapping and routing through the real program', function () {
  // Generous: on a loaded machine each CLI command and start-up takes many seconds, and each
  // wait below only runs to its bound when what it waits for never happens.
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let hubspot: FakeHubspot;
  let pipedrive: FakePipedrive;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let ws: string;
  let tmp: string;
  const dest: Record<string, string> = {};
  const route: Record<string, string> = {};

  const send = async (
    pageId: string,
    formId: string,
    id: string,
    fieldData: { name: string; values: string[] }[],
    extra: { platform?: string; campaign_name?: string } = {},
  ) => {
    graph.addLead({
      id,
      form_id: formId,
      page_id: pageId,
      field_data: fieldData,
      ad_id: '77',
      campaign_id: '78',
      campaign_name: extra.campaign_name ?? 'Spring',
      platform: extra.platform ?? 'fb',
    });
    const res = await postLeadgen(program.url, { pageId: pageId, formId: formId, leadgenId: id });
    expect(res.status).to.equal(200);
  };
  const deliveriesOf = (leadgenId: string) =>
    dbh.db
      .selectFrom('deliveries')
      .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
      .selectAll('deliveries')
      .where('leads.leadgen_id', '=', leadgenId)
      .execute();
  const leadOf = (leadgenId: string) => dbh.db.selectFrom('leads').selectAll().where('leadgen_id', '=', leadgenId).executeTakeFirst();
  const routeRow = (id: string) => dbh.db.selectFrom('routes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const isDelivered = async (leadgenId: string, destinationId: string) =>
    (await deliveriesOf(leadgenId)).some((d) => d.destination_id === destinationId && d.status === 'delivered');
  /** 2xx answers the receiver gave at the URL ending in `suffix` for this lead. */
  const receivedAt = (suffix: string, leadgenId: string) =>
    receiver.received.filter((r) => r.path.endsWith(suffix) && r.body?.leadgen_id === leadgenId && isAccepted(r));
  const writeJson = (name: string, value: unknown) => {
    const file = join(tmp, name);
    writeFileSync(file, JSON.stringify(value));
    return file;
  };
  const leadLog = async () =>
    JSON.parse(await cli(['leads', 'list', '--workspace', ws, '--json'], env)) as {
      id: string;
      leadgen_id: string;
      status: string;
      status_reason: string | null;
      deliveries: { destination_id: string; route_id: string | null; status: string; mapping_drift: boolean }[];
    }[];
  const routesJson = async () =>
    JSON.parse(await cli(['routes', 'list', '--workspace', ws, '--json'], env)) as {
      id: string;
      mapping: unknown;
      drift: {
        added: { key: string }[];
        removed: { key: string }[];
        changed: { key: string; what: string[] }[];
        affected_rules: { rule: number; target: string }[];
        detected_at: string;
      } | null;
    }[];

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'lr-mapping-'));
    schema = await createTestSchema('map');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    hubspot = await startFakeHubspot({ accessTokens: ['pat-mapping-1'] });
    pipedrive = await startFakePipedrive({
      apiTokens: ['pd-mapping-1'],
      leadFields: [{ key: FLEET_SIZE_KEY, name: 'Fleet size', field_type: 'varchar', mandatory_flag: true, edit_flag: true, active_flag: true }],
    });
    receiver = await startFakeReceiver();
    // A picklist contact property, as a HubSpot admin would have made it.
    hubspot.properties.set('bike_interest', {
      name: 'bike_interest',
      label: 'Bike interest',
      type: 'enumeration',
      fieldType: 'select',
      groupName: 'contactinformation',
      description: '',
      options: ['Road', 'E-bike', 'Gravel'].map((value, i) => ({ label: value, value, displayOrder: i, hidden: false })),
      hasUniqueValue: false,
      hidden: false,
      calculated: false,
      formField: true,
      hubspotDefined: false,
      readOnlyValue: false,
      createdAt: '2024-01-01T00:00:00.000Z',
      updatedAt: '2024-01-01T00:00:00.000Z',
    });
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url, HUBSPOT_API_URL: hubspot.url, PIPEDRIVE_API_URL: pipedrive.url });

    graph.addForm({
      id: FORM_A,
      page_id: PAGE_A,
      name: 'Test ride',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
        { key: 'which_bike_do_you_ride?', label: 'Which bike do you ride?' },
      ],
    });
    graph.addForm({ id: FORM_B, page_id: PAGE_B, name: 'Newsletter', questions: [{ key: 'email', type: 'EMAIL', label: 'Email' }] });
    graph.addForm({ id: FORM_C, page_id: PAGE_C, name: 'Bike quote', questions: FORM_C_QUESTIONS });
    graph.addForm({ id: FORM_D, page_id: PAGE_D, name: 'Store visit', questions: [{ key: 'email', type: 'EMAIL', label: 'Email' }] });
    graph.addForm({
      id: FORM_E1,
      page_id: PAGE_E,
      name: 'Workshop',
      status: 'ARCHIVED',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
        { key: 'which_bike?', label: 'Which bike?' },
      ],
    });
    graph.addForm({
      id: FORM_E2,
      page_id: PAGE_E,
      name: 'Callback',
      questions: [
        { key: 'email', type: 'EMAIL', label: 'Email' },
        { key: 'phone_number', type: 'PHONE', label: 'Phone number' },
        { key: 'budget', label: 'Budget' },
      ],
    });
    graph.addForm({
      id: FORM_G,
      page_id: PAGE_G,
      name: 'International callback',
      questions: [
        { key: 'phone_number', type: 'PHONE', label: 'Phone number' },
        { key: 'country', type: 'COUNTRY', label: 'Country' },
      ],
    });
    for (const p of [PAGE_A, PAGE_B, PAGE_C, PAGE_D, PAGE_E, PAGE_F, PAGE_G]) graph.setPageToken(p, TOKEN(p), `Page ${p}`);

    ws = await cli(['workspaces', 'create', '--name', 'Mapping'], env);
    for (const p of [PAGE_A, PAGE_B, PAGE_C, PAGE_D, PAGE_E, PAGE_F, PAGE_G])
      await cli(['pages', 'add', '--workspace', ws, '--page-id', p, '--token', TOKEN(p)], env);
    dest.hubspot = await cli(['destinations', 'add', '--workspace', ws, '--type', 'hubspot', '--token', 'pat-mapping-1'], env);
    dest.pipedrive = await cli(['destinations', 'add', '--workspace', ws, '--type', 'pipedrive', '--api-token', 'pd-mapping-1'], env);
    dest.hookB = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', `${receiver.url}/b`], env);
    dest.hookAll = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', `${receiver.url}/all`], env);
    dest.hookIg = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', `${receiver.url}/ig`], env);
    dest.hookE = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', `${receiver.url}/e`], env);
    dest.hookG = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', `${receiver.url}/g`], env);
    const addRoute = (pageId: string, destinationId: string, more: string[] = []) =>
      cli(['routes', 'add', '--workspace', ws, '--page-id', pageId, '--destination', destinationId, ...more], env);
    route.aHubspot = await addRoute(PAGE_A, dest.hubspot, ['--form-id', FORM_A]);
    route.aPipedrive = await addRoute(PAGE_A, dest.pipedrive, ['--form-id', FORM_A]);
    route.cHubspot = await addRoute(PAGE_C, dest.hubspot, ['--form-id', FORM_C]);
    route.cPipedrive = await addRoute(PAGE_C, dest.pipedrive, ['--form-id', FORM_C]);
    route.dAll = await addRoute(PAGE_D, dest.hookAll);
    route.dIg = await addRoute(PAGE_D, dest.hookIg, ['--filter', '{"all":[{"type":"platform","in":["ig"]}]}']);
    route.ePageWide = await addRoute(PAGE_E, dest.hookE);
    route.fPageWide = await addRoute(PAGE_F, dest.hookE);
    route.gPageWide = await addRoute(PAGE_G, dest.hookG);
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && process.env.E2E_DEBUG) console.error(program?.output().slice(-6000));
  });

  after(async () => {
    await program?.kill();
    await dbh?.close();
    await Promise.all([graph?.close(), hubspot?.close(), pipedrive?.close(), receiver?.close()]);
    await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('check-drift records the questions of every routed form as its baseline', async () => {
    const out = await cli(['mappings', 'check-drift', '--workspace', ws], env);
    for (const id of [route.aHubspot, route.aPipedrive, route.cHubspot, route.cPipedrive])
      expect(out).to.contain(`route ${id}: form questions recorded as the baseline`);
    expect(out).to.match(/checked 4 route\(s\): 0 with a changed form, 4 baselined/);
    // Page-wide routes have no single form to watch.
    expect(out).to.not.contain(route.dAll);
  });

  it('an unmapped custom answer reaches the HubSpot message and the Pipedrive note, with its question label', async () => {
    const id = newLeadgenId();
    await send(PAGE_A, FORM_A, id, [
      { name: 'full_name', values: ['Ines Duarte'] },
      { name: 'email', values: ['ines.a@example.com'] },
      { name: 'which_bike_do_you_ride?', values: ['Gravel'] },
    ]);
    await waitUntil(async () => (await isDelivered(id, dest.hubspot)) && (await isDelivered(id, dest.pipedrive)), 60_000, 'both CRM deliveries');
    const contact = hubspot.byEmail('ines.a@example.com')!;
    expect(contact.properties.message).to.contain('Which bike do you ride?: Gravel');
    expect(contact.properties.firstname).to.equal('Ines');
    const pdLead = [...pipedrive.leads.values()].find((l) => l.origin_id === id)!;
    expect(pdLead, 'the Pipedrive lead').to.not.equal(undefined);
    const notes = pipedrive.notes.filter((n) => n.lead_id === pdLead.id);
    expect(notes).to.have.length(1);
    expect(notes[0].content).to.contain('Which bike do you ride?: Gravel');
  });

  it('a lead from a form with no route is kept as unrouted with the reason, then delivered once a route is added and replayed', async () => {
    const id = newLeadgenId();
    await send(PAGE_B, FORM_B, id, [{ name: 'email', values: ['nora.b@example.com'] }]);
    await waitUntil(async () => (await leadOf(id))?.status === 'unrouted', 60_000, 'the unrouted lead');
    const parked = (await leadLog()).find((l) => l.leadgen_id === id)!;
    expect(parked.status).to.equal('unrouted');
    expect(parked.status_reason).to.equal(`no route for page ${PAGE_B} form ${FORM_B}`);
    expect(parked.deliveries).to.deep.equal([]);

    const added = await runCli(['routes', 'add', '--workspace', ws, '--page-id', PAGE_B, '--form-id', FORM_B, '--destination', dest.hookB], env);
    expect(added.code).to.equal(0);
    expect(added.stderr).to.contain(`leads replay --unrouted --form ${FORM_B} --workspace ${ws}`);
    const replayed = await cli(['leads', 'replay', '--unrouted', '--form', FORM_B, '--workspace', ws], env);
    expect(replayed).to.contain('1 unrouted lead(s) replayed: 1 now routed, 1 deliveries queued');
    await waitUntil(async () => isDelivered(id, dest.hookB), 60_000, 'the replayed delivery');
    expect(receivedAt('/b', id)).to.have.length(1);

    // Replaying again finds nothing left to route and queues nothing, so nothing is sent twice.
    expect(await cli(['leads', 'replay', '--unrouted', '--form', FORM_B, '--workspace', ws], env)).to.equal(
      '0 unrouted lead(s) replayed: 0 now routed, 0 deliveries queued',
    );
    expect(receivedAt('/b', id)).to.have.length(1);
    const [delivery] = await deliveriesOf(id);
    expect(await dbh.db.selectFrom('delivery_attempts').select('outcome').where('delivery_id', '=', delivery.id).execute()).to.deep.equal([
      { outcome: 'delivered' },
    ]);
    const afterReplay = (await leadLog()).find((l) => l.leadgen_id === id)!;
    expect(afterReplay.status).to.equal('routed');
    expect(afterReplay.deliveries.map((d) => [d.destination_id, d.status])).to.deep.equal([[dest.hookB, 'delivered']]);
  });

  it("mappings suggest proposes rules that target the CRM's real fields", async () => {
    const suggested = JSON.parse(await cli(['mappings', 'suggest', '--route', route.cHubspot], env)) as {
      rules: { target: string; source: { type: string; key?: string } }[];
      unmapped: { target: string };
    };
    expect(suggested.rules.length).to.be.greaterThan(2);
    for (const r of suggested.rules) expect([...hubspot.properties.keys()], `target ${r.target}`).to.include(r.target);
    expect(suggested.rules.find((r) => r.target === 'email')?.source).to.deep.equal({ type: 'answer', key: 'email' });
    expect(suggested.rules.map((r) => r.target)).to.include.members(['firstname', 'lastname']);
    expect(suggested.unmapped.target).to.equal('message');
  });

  it('mappings set refuses a mapping naming a missing property or leaving a required field out (exit 2, naming field and rule)', async () => {
    const missingProperty = {
      version: 1,
      rules: [
        { target: 'email', source: { type: 'answer', key: 'email' } },
        { target: 'favourite_colour', source: { type: 'answer', key: 'budget' } },
      ],
      unmapped: { target: 'message' },
    };
    const bad = await runCli(
      ['mappings', 'set', '--route', route.cHubspot, '--destination', dest.hubspot, '--file', writeJson('bad-hs.json', missingProperty)],
      env,
    );
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('rule 2 → favourite_colour');
    expect(bad.stderr).to.contain('"favourite_colour" is not a writable field');
    expect(bad.stderr).to.match(/mapping not saved: 1 error/);

    const withoutRequired = {
      version: 1,
      rules: [
        { target: 'person.email', source: { type: 'answer', key: 'email' } },
        { target: 'person.name', source: { type: 'answer', key: 'full_name' } },
      ],
      unmapped: { target: 'note' },
    };
    const missing = await runCli(
      ['mappings', 'set', '--route', route.cPipedrive, '--destination', dest.pipedrive, '--file', writeJson('bad-pd.json', withoutRequired)],
      env,
    );
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain(`required field "Fleet size" (${FLEET_SIZE_KEY}) has no rule`);

    const wrongDestination = await runCli(
      ['mappings', 'set', '--route', route.cHubspot, '--destination', dest.pipedrive, '--file', writeJson('good.json', GOOD_HUBSPOT_MAPPING)],
      env,
    );
    expect(wrongDestination.code).to.equal(2);
    expect((await routeRow(route.cHubspot)).mapping).to.equal(null);
    expect((await routeRow(route.cPipedrive)).mapping).to.equal(null);
  });

  it('a valid mapping is saved, previewed (sample, Meta test lead, stored lead) and applied to a real lead', async () => {
    const saved = await runCli(
      ['mappings', 'set', '--route', route.cHubspot, '--destination', dest.hubspot, '--file', writeJson('good.json', GOOD_HUBSPOT_MAPPING)],
      env,
    );
    expect(saved.code, saved.stderr).to.equal(0);
    expect(saved.stdout).to.contain(`mapping saved on route ${route.cHubspot} (6 rules`);
    expect(saved.stderr).to.not.match(/^error/m);

    const preview = async (...more: string[]) =>
      JSON.parse(await cli(['mappings', 'preview', '--route', route.cHubspot, '--destination', dest.hubspot, ...more], env));
    const sample = await preview();
    expect(sample.lead.source).to.equal('sample');
    expect(sample.mapping).to.equal('route');
    expect(sample.issues.filter((i: { severity: string }) => i.severity === 'error')).to.deep.equal([]);
    expect(sample.fields).to.deep.equal({
      email: 'sample.lead@example.com',
      firstname: 'Jane',
      lastname: 'Sample',
      bike_interest: 'Road',
      company: 'Sample campaign / Bike quote',
      hs_lead_status: 'NEW',
      message: 'Budget: Sample answer',
    });

    // Meta's test lead for the form, read through Graph (the fake stores it like Meta does).
    const graphClient = createGraphClient({
      graphUrl: graph.url,
      version: graph.version,
      appSecret: TEST_APP_SECRET,
      timeoutMs: 5000,
      retries: 0,
      retryMinDelayMs: 0,
    });
    await graphClient.createTestLead(FORM_C, TOKEN(PAGE_C), {
      fieldData: [
        { name: 'full_name', values: ['Test Tester'] },
        { name: 'email', values: [' Tester.C@Example.com '] },
        { name: 'bike_type', values: ['e_bike'] },
        { name: 'budget', values: ['900'] },
      ],
    });
    const fromTestLead = await preview('--test-lead');
    expect(fromTestLead.lead.source).to.equal('test_lead');
    expect(fromTestLead.fields).to.include({
      email: 'tester.c@example.com',
      firstname: 'Test',
      lastname: 'Tester',
      bike_interest: 'E-bike',
      company: 'organic / Bike quote',
      message: 'Budget: 900',
    });
    // The test lead was only read: nothing was delivered for it.
    expect(hubspot.byEmail('tester.c@example.com')).to.equal(undefined);

    const id = newLeadgenId();
    await send(PAGE_C, FORM_C, id, [
      { name: 'full_name', values: ['Ana Lima'] },
      { name: 'email', values: ['Ana.C@example.com'] },
      { name: 'bike_type', values: ['e_bike'] },
      { name: 'budget', values: ['5000'] },
    ]);
    await waitUntil(async () => isDelivered(id, dest.hubspot), 60_000, 'the mapped HubSpot delivery');
    const contact = hubspot.byEmail('ana.c@example.com')!;
    expect(contact.properties).to.include({
      email: 'ana.c@example.com',
      firstname: 'Ana',
      lastname: 'Lima',
      bike_interest: 'E-bike',
      company: 'Spring / Bike quote',
      hs_lead_status: 'NEW',
      message: 'Budget: 5000',
    });

    const stored = await preview('--lead', (await leadOf(id))!.id);
    expect(stored.lead.source).to.equal('stored');
    for (const [key, value] of Object.entries(stored.fields)) expect(contact.properties[key], key).to.equal(String(value));
  });

  it('one page fans out to two destinations; the filtered one takes only Instagram leads', async () => {
    const fb = newLeadgenId();
    const ig = newLeadgenId();
    await send(PAGE_D, FORM_D, fb, [{ name: 'email', values: ['fb.d@example.com'] }], { platform: 'fb' });
    await send(PAGE_D, FORM_D, ig, [{ name: 'email', values: ['ig.d@example.com'] }], { platform: 'ig' });
    await waitUntil(
      async () => (await isDelivered(fb, dest.hookAll)) && (await isDelivered(ig, dest.hookAll)) && (await isDelivered(ig, dest.hookIg)),
      60_000,
      'fan-out deliveries',
    );
    expect((await deliveriesOf(fb)).map((d) => d.destination_id)).to.deep.equal([dest.hookAll]);
    expect((await deliveriesOf(ig)).map((d) => d.destination_id).sort()).to.deep.equal([dest.hookAll, dest.hookIg].sort());
    expect(receivedAt('/all', fb)).to.have.length(1);
    expect(receivedAt('/ig', fb)).to.have.length(0);
    expect(receivedAt('/all', ig)).to.have.length(1);
    expect(receivedAt('/ig', ig)).to.have.length(1);
  });

  it('a form whose questions changed flags its route, the affected rule and the lead log; mappings set clears it', async () => {
    graph.addForm({
      id: FORM_C,
      page_id: PAGE_C,
      name: 'Bike quote',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
        {
          key: 'bike_type',
          label: 'Which bike?',
          options: [
            { key: 'road_bike', value: 'Road bike' },
            { key: 'e_bike', value: 'E-bike' },
            { key: 'gravel_bike', value: 'Gravel bike' },
          ],
        },
        { key: 'which_color?', label: 'Which colour?' },
      ],
    });
    const out = await cli(['mappings', 'check-drift', '--workspace', ws], env);
    const line = out.split('\n').find((l) => l.startsWith(`route ${route.cHubspot} `))!;
    expect(line, out).to.be.a('string');
    expect(line).to.contain('FORM CHANGED');
    expect(line).to.contain('added "which_color?" (Which colour?)');
    expect(line).to.contain('removed "budget"');
    expect(line).to.contain('changed "bike_type" (options)');
    expect(line).to.contain('rule 4 → bike_interest');
    expect(out).to.contain(`route ${route.cPipedrive} form ${FORM_C}: FORM CHANGED`);
    expect(out).to.match(/checked \d+ route\(s\): 2 with a changed form/);

    const routes = await routesJson();
    const flagged = routes.find((r) => r.id === route.cHubspot)!;
    expect(flagged.drift!.affected_rules).to.deep.equal([{ rule: 4, target: 'bike_interest', source: 'answer "bike_type"' }]);
    expect(flagged.drift!.removed.map((q) => q.key)).to.deep.equal(['budget']);
    expect(routes.find((r) => r.id === route.aHubspot)!.drift).to.equal(null);
    const text = await cli(['routes', 'list', '--workspace', ws], env);
    expect(text.split('\n').find((l) => l.startsWith(route.cHubspot))).to.match(/FORM CHANGED since .*rule 4 → bike_interest/);

    // Deliveries through the changed route are flagged in the lead log; others are not.
    const log = await leadLog();
    const throughC = log.flatMap((l) => l.deliveries).filter((d) => d.route_id === route.cHubspot);
    expect(throughC.length).to.be.greaterThan(0);
    expect(throughC.every((d) => d.mapping_drift)).to.equal(true);
    const throughA = log.flatMap((l) => l.deliveries).filter((d) => d.route_id === route.aHubspot);
    expect(throughA.length).to.be.greaterThan(0);
    expect(throughA.some((d) => d.mapping_drift)).to.equal(false);
    expect(await cli(['leads', 'list', '--workspace', ws], env)).to.contain('delivered (form changed)');

    // Running the check again keeps the first detection time.
    const second = await cli(['mappings', 'check-drift', '--workspace', ws], env);
    expect(second).to.contain(`route ${route.cHubspot} form ${FORM_C}: FORM CHANGED (since ${flagged.drift!.detected_at})`);
    expect(((await routeRow(route.cHubspot)).drift as { detected_at: string }).detected_at).to.equal(flagged.drift!.detected_at);

    // The old mapping no longer fits the form: its value map lacks the new option.
    const stale = await runCli(
      ['mappings', 'set', '--route', route.cHubspot, '--destination', dest.hubspot, '--file', writeJson('good.json', GOOD_HUBSPOT_MAPPING)],
      env,
    );
    expect(stale.code).to.equal(2);
    expect(stale.stderr).to.contain('rule 4 → bike_interest: "Gravel bike" is not an option of picklist "Bike interest"');
    expect((await routeRow(route.cHubspot)).drift).to.not.equal(null);

    // The mapping reviewed against the new form is saved: a new baseline, and the flag is cleared.
    const reviewed = structuredClone(GOOD_HUBSPOT_MAPPING);
    reviewed.rules[3].transforms = [{ type: 'value_map', map: { road_bike: 'Road', e_bike: 'E-bike', gravel_bike: 'Gravel' } }, { type: 'first' }];
    const reset = await runCli(
      ['mappings', 'set', '--route', route.cHubspot, '--destination', dest.hubspot, '--file', writeJson('reviewed.json', reviewed)],
      env,
    );
    expect(reset.code, reset.stderr).to.equal(0);
    const cleared = await routeRow(route.cHubspot);
    expect(cleared.drift).to.equal(null);
    expect((cleared.form_questions as { key: string }[]).map((q) => q.key)).to.deep.equal(['full_name', 'email', 'bike_type', 'which_color?']);
    expect(
      (await leadLog())
        .flatMap((l) => l.deliveries)
        .filter((d) => d.route_id === route.cHubspot)
        .some((d) => d.mapping_drift),
    ).to.equal(false);
  });

  describe('a page-wide route, per form', () => {
    type Proposal = { form: { id: string; name: string | null }; mapping: Mapping; issues: { severity: string }[] };
    type PreviewOut = {
      form: { id: string; name: string | null };
      lead: { source: string };
      mapping: string;
      fields: Record<string, unknown>;
      body: Record<string, unknown>;
    };
    const errorLines = (stderr: string) => stderr.split('\n').filter((l) => /(^|: )error:/.test(l));

    it('suggest and preview exit 2 on a page with no known form, saying how to get one', async () => {
      for (const args of [
        ['mappings', 'suggest', '--route', route.fPageWide],
        ['mappings', 'preview', '--route', route.fPageWide, '--destination', dest.hookE],
        ['mappings', 'preview', '--route', route.fPageWide, '--destination', dest.hookE, '--test-lead'],
      ]) {
        const r = await runCli(args, env);
        expect(r.code, args.join(' ')).to.equal(2);
        expect(r.stderr).to.contain(`page ${PAGE_F} has no known form yet`);
        expect(r.stderr).to.contain('test lead');
        expect(r.stderr).to.contain('--form-id F');
        expect(r.stdout).to.equal('');
      }
    });

    it('a webhook route without a mapping delivers the canonical record with no fields key', async () => {
      // This lead also makes form E1 known to LeadRelay (Meta lists only active forms, and E1 is archived).
      const id = newLeadgenId();
      await send(PAGE_E, FORM_E1, id, [
        { name: 'full_name', values: ['Ida Berg'] },
        { name: 'email', values: ['ida.e@example.com'] },
        { name: 'which_bike?', values: ['Gravel'] },
      ]);
      await waitUntil(async () => isDelivered(id, dest.hookE), 60_000, 'the unmapped webhook delivery');
      const [got] = receivedAt('/e', id);
      expect(got.body).to.not.have.property('fields');
      expect(got.body).to.include({ schema: 'leadrelay.lead/v1', leadgen_id: id });
      expect(got.body.form).to.deep.equal({ id: FORM_E1, name: 'Workshop' });
    });

    it('suggest proposes one mapping per known form, each passing validation', async () => {
      const r = await runCli(['mappings', 'suggest', '--route', route.ePageWide], env);
      expect(r.code, r.stderr).to.equal(0);
      expect(errorLines(r.stderr)).to.deep.equal([]);
      expect(r.stderr).to.contain(`route ${route.ePageWide} takes every form of page ${PAGE_E} with one mapping`);
      const out = JSON.parse(r.stdout) as { route: string; page: string; forms: Proposal[] };
      expect(out.route).to.equal(route.ePageWide);
      expect(out.forms.map((f) => f.form)).to.deep.equal([
        { id: FORM_E1, name: 'Workshop' },
        { id: FORM_E2, name: 'Callback' },
      ]);
      const targetsOf = (p: Proposal) => p.mapping.rules.map((rule) => rule.target);
      expect(targetsOf(out.forms[0])).to.include.members(['full_name', 'email', 'which_bike?', 'lr_leadgen_id']);
      expect(targetsOf(out.forms[1])).to.include.members(['email', 'phone_number', 'budget', 'lr_leadgen_id']);
      for (const f of out.forms) expect(f.issues.filter((i) => i.severity === 'error')).to.deep.equal([]);
    });

    it("suggest --form-id proposes that form's mapping alone; another page's form, or another form on a one-form route, exits 2", async () => {
      const mapping = JSON.parse(await cli(['mappings', 'suggest', '--route', route.ePageWide, '--form-id', FORM_E2], env)) as Mapping;
      expect(mapping.version).to.equal(1);
      expect(mapping.rules.filter((r) => r.source.type === 'answer').map((r) => r.target)).to.deep.equal(['email', 'phone_number', 'budget']);
      const other = await runCli(['mappings', 'suggest', '--route', route.cHubspot, '--form-id', FORM_E2], env);
      expect(other.code).to.equal(2);
      expect(other.stderr).to.contain(`route ${route.cHubspot} takes only form ${FORM_C}, not ${FORM_E2}`);
      const foreign = await runCli(['mappings', 'suggest', '--route', route.ePageWide, '--form-id', FORM_G], env);
      expect(foreign.code).to.equal(2);
      expect(foreign.stderr).to.contain(`form ${FORM_G} cannot be read with page ${PAGE_E}'s token`);
    });

    it("a webhook route's saved suggestion is accepted and delivered as fields beside the canonical record, as preview shows it", async () => {
      const suggested = await runCli(['mappings', 'suggest', '--route', route.ePageWide, '--form-id', FORM_E2], env);
      const saved = await runCli(
        ['mappings', 'set', '--route', route.ePageWide, '--destination', dest.hookE, '--file', writeJson('hook-e.json', JSON.parse(suggested.stdout))],
        env,
      );
      expect(saved.code, saved.stderr).to.equal(0);
      expect(errorLines(saved.stderr)).to.deep.equal([]);

      const id = newLeadgenId();
      await send(PAGE_E, FORM_E2, id, [
        { name: 'email', values: ['olu.e@example.com'] },
        { name: 'phone_number', values: ['+44 7911 123456'] },
        { name: 'budget', values: ['900'] },
      ]);
      await waitUntil(async () => isDelivered(id, dest.hookE), 60_000, 'the mapped webhook delivery');
      const [got] = receivedAt('/e', id);
      expect(got.body.fields).to.include({
        email: 'olu.e@example.com',
        phone_number: '+44 7911 123456',
        budget: '900',
        lr_leadgen_id: id,
        lr_form_id: FORM_E2,
        lr_form_name: 'Callback',
        lr_platform: 'fb',
        lr_lead_source: 'Facebook Lead Ads',
      });
      // The canonical record is all there, beside the fields.
      expect(got.body).to.include({ schema: 'leadrelay.lead/v1', leadgen_id: id });
      expect(got.body.answers).to.deep.equal([
        { key: 'email', values: ['olu.e@example.com'] },
        { key: 'phone_number', values: ['+44 7911 123456'] },
        { key: 'budget', values: ['900'] },
      ]);
      // What preview shows for the stored lead is what the receiver got.
      const preview = JSON.parse(
        await cli(['mappings', 'preview', '--route', route.ePageWide, '--destination', dest.hookE, '--lead', (await leadOf(id))!.id], env),
      ) as PreviewOut;
      expect(preview.mapping).to.equal('route');
      expect(preview.body).to.deep.equal(got.body);
    });

    it('preview shows a sample per known form, and --form-id one form alone', async () => {
      const all = JSON.parse(await cli(['mappings', 'preview', '--route', route.ePageWide, '--destination', dest.hookE], env)) as {
        route: string;
        forms: PreviewOut[];
      };
      expect(all.forms.map((f) => [f.form.id, f.lead.source])).to.deep.equal([
        [FORM_E1, 'sample'],
        [FORM_E2, 'sample'],
      ]);
      expect(all.forms[0].fields).to.include({ email: 'sample.lead@example.com', lr_form_id: FORM_E1, lr_form_name: 'Workshop' });
      expect(all.forms[1].fields).to.include({ phone_number: '+1 202 555 0143', lr_form_id: FORM_E2 });
      for (const f of all.forms) expect(f.body.fields).to.deep.equal(f.fields);

      const one = JSON.parse(
        await cli(['mappings', 'preview', '--route', route.ePageWide, '--destination', dest.hookE, '--form-id', FORM_E1], env),
      ) as PreviewOut & { forms?: unknown };
      expect(one.forms).to.equal(undefined);
      expect(one.form).to.deep.equal({ id: FORM_E1, name: 'Workshop' });
      // A sample lead is made now, so only its time differs between the two runs.
      const withoutTime = ({ lr_created_time: _t, ...rest }: Record<string, unknown>) => rest;
      expect(withoutTime(one.fields)).to.deep.equal(withoutTime(all.forms[0].fields));
    });

    it("preview --test-lead reads each form's test lead on Meta, skips a form without one, and --form-id picks one (exit 2 when it has none)", async () => {
      const graphClient = createGraphClient({
        graphUrl: graph.url,
        version: graph.version,
        appSecret: TEST_APP_SECRET,
        timeoutMs: 5000,
        retries: 0,
        retryMinDelayMs: 0,
      });
      await graphClient.createTestLead(FORM_E2, TOKEN(PAGE_E), {
        fieldData: [
          { name: 'email', values: ['test.e2@example.com'] },
          { name: 'phone_number', values: ['+1 202 555 0199'] },
          { name: 'budget', values: ['1500'] },
        ],
      });
      const all = await runCli(['mappings', 'preview', '--route', route.ePageWide, '--destination', dest.hookE, '--test-lead'], env);
      expect(all.code, all.stderr).to.equal(0);
      const out = JSON.parse(all.stdout) as { forms: (PreviewOut | { form: { id: string }; skipped: string })[] };
      expect(out.forms[0]).to.deep.equal({
        form: { id: FORM_E1, name: 'Workshop' },
        skipped: "no test lead on Meta (create one with Meta's Lead Ads Testing Tool)",
      });
      expect(all.stderr).to.contain(`form ${FORM_E1} (Workshop): skipped: no test lead on Meta`);
      const e2 = out.forms[1] as PreviewOut;
      expect(e2.lead.source).to.equal('test_lead');
      expect(e2.fields).to.include({ email: 'test.e2@example.com', phone_number: '+1 202 555 0199', budget: '1500', lr_form_id: FORM_E2 });

      const one = JSON.parse(
        await cli(['mappings', 'preview', '--route', route.ePageWide, '--destination', dest.hookE, '--test-lead', '--form-id', FORM_E2], env),
      ) as PreviewOut;
      expect(one.form.id).to.equal(FORM_E2);
      expect(one.fields).to.deep.equal(e2.fields);
      const none = await runCli(['mappings', 'preview', '--route', route.ePageWide, '--destination', dest.hookE, '--test-lead', '--form-id', FORM_E1], env);
      expect(none.code).to.equal(2);
      expect(none.stderr).to.contain(`form ${FORM_E1} has no test lead on Meta`);
    });
  });

  it("a phone typed without +country code takes its country from the lead's country answer, else the mapping's default; the answer still reaches the unmapped answers", async () => {
    const mapping: Mapping = {
      version: 1,
      defaultCountry: 'US',
      rules: [
        {
          target: 'phone',
          source: { type: 'answer', key: 'phone_number' },
          transforms: [{ type: 'trim' }, { type: 'phone_e164', defaultCountryFrom: 'country' }],
        },
      ],
      unmapped: { target: 'unmapped_answers' },
    };
    const saved = await runCli(['mappings', 'set', '--route', route.gPageWide, '--destination', dest.hookG, '--file', writeJson('hook-g.json', mapping)], env);
    expect(saved.code, saved.stderr).to.equal(0);

    const leads = [
      {
        id: newLeadgenId(),
        answers: [
          { name: 'phone_number', values: ['07911 123456'] },
          { name: 'country', values: ['United Kingdom'] },
        ],
        phone: '+447911123456',
      },
      {
        id: newLeadgenId(),
        answers: [
          { name: 'phone_number', values: ['06 12 34 56 78'] },
          { name: 'country', values: ['FR'] },
        ],
        phone: '+33612345678',
      },
      { id: newLeadgenId(), answers: [{ name: 'phone_number', values: ['(202) 555-0143'] }], phone: '+12025550143' },
    ];
    for (const l of leads) await send(PAGE_G, FORM_G, l.id, l.answers);
    await waitUntil(async () => (await Promise.all(leads.map((l) => isDelivered(l.id, dest.hookG)))).every(Boolean), 60_000, 'the three phone deliveries');
    for (const l of leads) expect(receivedAt('/g', l.id)[0].body.fields.phone, l.id).to.equal(l.phone);
    // The country answer itself is not consumed by reading it.
    expect(receivedAt('/g', leads[0].id)[0].body.fields.unmapped_answers).to.equal('Country: United Kingdom');
  });
});

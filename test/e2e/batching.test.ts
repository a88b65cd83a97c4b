// Batched CRM writes through the real program: 250 leads wait behind dead credentials, new
// credentials release them together, and each arrives exactly once in HubSpot and in Salesforce
// (loopback fakes with their real batch limits and rate limits) in a few batch calls; the one
// lead with an invalid email is dead-lettered alone while the rest of its batch is delivered.
import { expect } from 'chai';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { startFakeSalesforce, type FakeSalesforce } from '../fakes/salesforce-crm.js';
import { hubspotConnector, type HubspotConfig, type HubspotCredentials, type HubspotSettings } from '../../connectors/hubspot/index.js';
import { BATCH_MIN_INTERVAL_MS } from '../../connectors/hubspot/manifest.js';
import { makeTestContext, testCrmSettings } from '../helpers/sample-lead.js';
import { baseEnv, cli, flushPrefix, postLeadgen, startProgram, TEST_APP_SECRET, waitUntil, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PAGE = '1000000013';
const FORM = '2000000013';
const PAGE_TOKEN = 'EAAB-batching-page-token';
const LEADS = 250;
const INVALID_AT = 117;
const HUBSPOT_BATCH = 100;
const SALESFORCE_BATCH = 200;
/** Calls beyond ceil(n / batch) a burst may take: batches formed while others were being claimed. */
const CALL_SLACK = 2;
const HUBSPOT_UPSERT = '/crm/v3/objects/contacts/batch/upsert';
/** HubSpot's spacing of batch calls that were not full (connectors/hubspot/manifest.ts). */
const HUBSPOT_MIN_INTERVAL_MS = BATCH_MIN_INTERVAL_MS;

describe('e2e: batched CRM writes', function () {
  this.timeout(600_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let hubspot: FakeHubspot;
  let salesforce: FakeSalesforce;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let ws: string;
  const dest: Record<'hubspot' | 'salesforce', string> = { hubspot: '', salesforce: '' };
  const leadgenIds = Array.from({ length: LEADS }, (_, n) => String(7_400_000_000_000_000_000n + BigInt(n)));
  const emailOf = (n: number) => (n === INVALID_AT ? 'no-at-sign.example.com' : `burst${n}@example.com`);

  const countByStatus = async (destinationId: string) => {
    const rows = await dbh.db
      .selectFrom('deliveries')
      .select(['status'])
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('destination_id', '=', destinationId)
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])) as Record<string, number>;
  };
  const deliveryOf = async (leadgenId: string, destinationId: string) =>
    dbh.db
      .selectFrom('deliveries')
      .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
      .selectAll('deliveries')
      .where('leads.leadgen_id', '=', leadgenId)
      .where('deliveries.destination_id', '=', destinationId)
      .executeTakeFirstOrThrow();

  before(async () => {
    schema = await createTestSchema('batching');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    // Real limits (190 calls per 10 s) and answers that take longer for bigger batches.
    hubspot = await startFakeHubspot({ accessTokens: ['pat-batch-good'], latencyMs: { min: 20, max: 60 }, latencyPerBatchInputMs: 1 });
    salesforce = await startFakeSalesforce({
      clientId: 'sf-client',
      clientSecret: 'sf-secret',
      latencyMs: { min: 20, max: 60 },
      latencyPerCollectionRecordMs: 1,
    });
    env = baseEnv({
      DATABASE_URL: schema.url,
      META_GRAPH_URL: graph.url,
      HUBSPOT_API_URL: hubspot.url,
      SALESFORCE_LOGIN_URL: salesforce.url,
      SALESFORCE_CLIENT_ID: 'sf-client',
      SALESFORCE_CLIENT_SECRET: 'sf-secret',
    });
    graph.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Burst',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
      ],
    });
    graph.setPageToken(PAGE, PAGE_TOKEN);
    // The account was connected before (its lr_ properties exist); only the token went bad since.
    await hubspotConnector.verify(
      makeTestContext<HubspotConfig, HubspotCredentials, HubspotSettings>({
        config: {},
        credentials: { type: 'private_app', accessToken: 'pat-batch-good' },
        settings: { connector: { ...testCrmSettings.hubspot, apiUrl: hubspot.url } },
      }),
    );
    ws = await cli(['workspaces', 'create', '--name', 'Batching'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    // Credentials the CRMs do not know: every lead waits, parked, until new ones are set.
    dest.hubspot = await cli(['destinations', 'add', '--workspace', ws, '--type', 'hubspot', '--token', 'pat-batch-revoked'], env);
    dest.salesforce = await cli(
      [
        'destinations',
        'add',
        '--workspace',
        ws,
        '--type',
        'salesforce',
        '--instance-url',
        salesforce.url,
        '--access-token',
        '00D5g000004Fake!AQrevoked-access-token',
        '--refresh-token',
        '5Aep861FakeRevokedRefreshToken',
      ],
      env,
    );
    for (const d of Object.values(dest)) await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', d], env);
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
  });
  after(async () => {
    await program?.kill();
    await dbh?.close();
    await Promise.all([graph?.close(), hubspot?.close(), salesforce?.close()]);
    await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('releases 250 parked leads together: each arrives once per CRM in ceil(n / batch) + slack calls; the invalid one is dead-lettered alone', async () => {
    for (const [n, id] of leadgenIds.entries()) {
      graph.addLead({
        id,
        form_id: FORM,
        page_id: PAGE,
        field_data: [
          { name: 'full_name', values: [`Burst Person${n}`] },
          { name: 'email', values: [emailOf(n)] },
        ],
        campaign_id: '77',
        campaign_name: 'Burst campaign',
        ad_id: '78',
        platform: 'fb',
      });
    }
    for (let i = 0; i < LEADS; i += 25) {
      const answers = await Promise.all(leadgenIds.slice(i, i + 25).map((leadgenId) => postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId })));
      expect(answers.every((r) => r.status === 200)).to.equal(true);
    }
    for (const d of Object.values(dest)) {
      await waitUntil(async () => (await countByStatus(d)).parked === LEADS, 240_000, `all ${LEADS} deliveries parked behind dead credentials`);
    }

    const hubspotCallsBefore = hubspot.requests.filter((r) => r.path === HUBSPOT_UPSERT).length;
    const salesforceWrites = () =>
      salesforce.requests.filter((r) => r.method === 'PATCH' || r.method === 'POST').filter((r) => r.path.includes('/services/data/')).length;
    const salesforceCallsBefore = salesforceWrites();
    expect(await cli(['destinations', 'reauth', dest.hubspot, '--token', 'pat-batch-good'], env)).to.match(new RegExp(`resumed ${LEADS} parked deliveries`));
    const fresh = salesforce.issueTokens();
    const sfOut = await cli(
      [
        'destinations',
        'reauth',
        dest.salesforce,
        '--instance-url',
        fresh.instanceUrl,
        '--access-token',
        fresh.accessToken,
        '--refresh-token',
        fresh.refreshToken,
      ],
      env,
    );
    expect(sfOut).to.match(new RegExp(`resumed ${LEADS} parked deliveries`));

    for (const d of Object.values(dest)) {
      await waitUntil(
        async () => {
          const c = await countByStatus(d);
          return (c.delivered ?? 0) === LEADS - 1 && (c.dead ?? 0) === 1;
        },
        240_000,
        'every lead delivered but the invalid one, dead-lettered',
      );
    }

    // Few calls: the burst went in full batches.
    const hubspotCalls = hubspot.requests.filter((r) => r.path === HUBSPOT_UPSERT).length - hubspotCallsBefore;
    const salesforceCalls = salesforceWrites() - salesforceCallsBefore;
    expect(hubspotCalls, 'HubSpot batch upsert calls').to.be.at.most(Math.ceil(LEADS / HUBSPOT_BATCH) + CALL_SLACK);
    expect(salesforceCalls, 'Salesforce write calls').to.be.at.most(Math.ceil(LEADS / SALESFORCE_BATCH) + CALL_SLACK);

    // Exactly once in each CRM, with the lead's own attribution.
    const contactsByLead = new Map<string, number>();
    for (const c of hubspot.contacts.values()) {
      const id = c.properties.lr_fb_lead_id;
      if (id) contactsByLead.set(id, (contactsByLead.get(id) ?? 0) + 1);
    }
    const sfByLead = new Map<string, number>();
    for (const l of salesforce.leads.values()) sfByLead.set(String(l.FB_Lead_Id__c), (sfByLead.get(String(l.FB_Lead_Id__c)) ?? 0) + 1);
    leadgenIds.forEach((id, n) => {
      const times = n === INVALID_AT ? 0 : 1;
      expect(contactsByLead.get(id) ?? 0, `HubSpot contacts of lead ${n}`).to.equal(times);
      expect(sfByLead.get(id) ?? 0, `Salesforce Leads of lead ${n}`).to.equal(times);
    });
    const sample = hubspot.byEmail('burst42@example.com')!;
    expect(sample.properties).to.include({ lr_fb_lead_id: leadgenIds[42], lr_campaign_name: 'Burst campaign', firstname: 'Burst', lastname: 'Person42' });
    expect(salesforce.leadByExternalId(leadgenIds[42])).to.include({ Email: 'burst42@example.com', LastName: 'Person42', LeadSource: 'Facebook Lead Ads' });

    // The record each delivery names is the one the CRM holds, and each delivery has one delivered attempt.
    const hsDelivery = await deliveryOf(leadgenIds[42], dest.hubspot);
    expect(hsDelivery.external_id).to.equal(sample.id);
    const delivered = await dbh.db
      .selectFrom('delivery_attempts')
      .innerJoin('deliveries', 'deliveries.id', 'delivery_attempts.delivery_id')
      .select(['delivery_attempts.delivery_id'])
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('delivery_attempts.outcome', '=', 'delivered')
      .where('deliveries.destination_id', 'in', Object.values(dest))
      .groupBy('delivery_attempts.delivery_id')
      .execute();
    expect(delivered).to.have.length(2 * (LEADS - 1));
    expect(
      delivered.every((r) => Number(r.n) === 1),
      'one delivered attempt per delivery',
    ).to.equal(true);

    // The invalid lead: dead in each CRM with the CRM's own reason, its email kept out of the message.
    const hsDead = await deliveryOf(leadgenIds[INVALID_AT], dest.hubspot);
    expect(hsDead).to.include({ status: 'dead', last_error_kind: 'invalid', last_error_reason: 'hubspot_invalid_email' });
    expect(hsDead.last_error_message ?? '').to.not.contain('no-at-sign');
    const sfDead = await deliveryOf(leadgenIds[INVALID_AT], dest.salesforce);
    expect(sfDead).to.include({ status: 'dead', last_error_kind: 'invalid', last_error_reason: 'salesforce_invalid_email_address' });
    // No claim is left behind.
    const held = await dbh.db.selectFrom('deliveries').select('id').where('claimed_by', 'is not', null).execute();
    expect(held).to.deep.equal([]);
  });

  it('sends a steady stream of leads in batch calls spaced by the interval of the CRM, each lead once', async () => {
    expect(await cli(['destinations', 'reauth', dest.hubspot, '--token', 'pat-batch-good'], env)).to.match(/resumed/);
    const stream = Array.from({ length: 60 }, (_, n) => String(7_400_000_000_000_100_000n + BigInt(n)));
    for (const [n, id] of stream.entries()) {
      graph.addLead({ id, form_id: FORM, page_id: PAGE, field_data: [{ name: 'email', values: [`stream${n}@example.com`] }] });
    }
    const callsBefore = hubspot.requests.filter((r) => r.path === HUBSPOT_UPSERT).length;
    const startedAt = Date.now();
    // One lead every 20 ms: each is fetched and ready on its own, never many at once.
    for (const leadgenId of stream) {
      expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId })).status).to.equal(200);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const statuses = async () =>
      (
        await dbh.db
          .selectFrom('deliveries')
          .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
          .select(['deliveries.status'])
          .where('leads.leadgen_id', 'in', stream)
          .where('deliveries.destination_id', '=', dest.hubspot)
          .execute()
      ).map((d) => d.status);
    await waitUntil(async () => (await statuses()).filter((x) => x === 'delivered').length === stream.length, 120_000, 'every lead of the stream delivered');
    const spanMs = Date.now() - startedAt;
    const calls = hubspot.requests.filter((r) => r.path === HUBSPOT_UPSERT).length - callsBefore;
    // Every call was taken within the span, at least the interval after the one before (none was full).
    expect(calls, `HubSpot batch calls in ${spanMs} ms`).to.be.at.most(Math.floor(spanMs / HUBSPOT_MIN_INTERVAL_MS) + 1);
    const contacts = [...hubspot.contacts.values()].filter((c) => c.properties.email?.startsWith('stream'));
    expect(contacts.map((c) => c.properties.email).sort()).to.deep.equal(stream.map((_, n) => `stream${n}@example.com`).sort());
  });
});

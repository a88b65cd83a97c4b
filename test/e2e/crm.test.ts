// End to end through the real program into loopback fakes of the CRMs: exactly one record per
// CRM, repeats update, one throttled CRM delays only its own deliveries, dead credentials park
// deliveries until new ones are set.
import { expect } from 'chai';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { startFakePipedrive, type FakePipedrive } from '../fakes/pipedrive-crm.js';
import { startFakeSalesforce, type FakeSalesforce } from '../fakes/salesforce-crm.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { baseEnv, cli, postLeadgen, flushPrefix, startProgram, TEST_APP_SECRET, waitUntil, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PAGE = '1000000002';
const FORM = '2000000002';
const PAGE_TOKEN = 'EAAB-crm-page-token';
let next = 7_300_000_000_000_000_000n;
const newLeadId = () => String(next++);

describe('e2e: CRM destinations through the real program', function () {
  // Generous: on a loaded machine each CLI command and start-up takes many seconds, and each
  // wait below only runs to its bound when what it waits for never happens.
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let hubspot: FakeHubspot;
  let pipedrive: FakePipedrive;
  let salesforce: FakeSalesforce;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let ws: string;
  const dest: Record<string, string> = {};

  const send = async (id: string, email: string, phone = '+380 44 123 4567') => {
    graph.addLead({
      id,
      form_id: FORM,
      page_id: PAGE,
      field_data: [
        { name: 'full_name', values: ['Олена Коваль'] },
        { name: 'email', values: [email] },
        { name: 'phone_number', values: [phone] },
        { name: 'budget', values: ['5000-10000'] },
      ],
      campaign_id: '55',
      campaign_name: 'Winter',
      ad_id: '56',
      platform: 'fb',
    });
    const res = await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: id });
    expect(res.status).to.equal(200);
  };
  const delivery = async (leadgenId: string, destinationId: string) =>
    dbh.db
      .selectFrom('deliveries')
      .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
      .selectAll('deliveries')
      .where('leads.leadgen_id', '=', leadgenId)
      .where('deliveries.destination_id', '=', destinationId)
      .executeTakeFirst();
  const pdLeadsFor = (leadgenId: string) => [...pipedrive.leads.values()].filter((l) => (l as { origin_id?: string }).origin_id === leadgenId);

  before(async () => {
    schema = await createTestSchema('crm');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    hubspot = await startFakeHubspot({ accessTokens: ['pat-e2e-1'] });
    // Pipedrive answers in 100–200 ms, as over the internet, so deliveries released together overlap.
    pipedrive = await startFakePipedrive({ apiTokens: ['pd-token-1'], latencyMs: { min: 100, max: 200 } });
    salesforce = await startFakeSalesforce({ clientId: 'sf-client', clientSecret: 'sf-secret', rotateRefreshTokens: true });
    receiver = await startFakeReceiver();
    env = baseEnv({
      DATABASE_URL: schema.url,
      META_GRAPH_URL: graph.url,
      HUBSPOT_API_URL: hubspot.url,
      PIPEDRIVE_API_URL: pipedrive.url,
      SALESFORCE_LOGIN_URL: salesforce.url,
      SALESFORCE_CLIENT_ID: 'sf-client',
      SALESFORCE_CLIENT_SECRET: 'sf-secret',
    });
    graph.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Quote',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
        { key: 'phone_number', type: 'PHONE', label: 'Phone' },
        { key: 'budget', label: 'Your budget (€)' },
      ],
    });
    graph.setPageToken(PAGE, PAGE_TOKEN);
    ws = await cli(['workspaces', 'create', '--name', 'CRM'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    dest.hubspot = await cli(['destinations', 'add', '--workspace', ws, '--type', 'hubspot', '--token', 'pat-e2e-1'], env);
    dest.pipedrive = await cli(['destinations', 'add', '--workspace', ws, '--type', 'pipedrive', '--api-token', 'pd-token-1'], env);
    const sfTokens = salesforce.issueTokens();
    dest.salesforce = await cli(
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
    dest.webhook = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', `${receiver.url}/in`], env);
    for (const d of Object.values(dest)) await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', d], env);
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
  });
  after(async () => {
    await program?.kill();
    await dbh?.close();
    await Promise.all([graph?.close(), hubspot?.close(), pipedrive?.close(), salesforce?.close(), receiver?.close()]);
    await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('destinations check verifies credentials and lists the CRM fields', async () => {
    const out = await cli(['destinations', 'check', dest.hubspot], env);
    expect(out).to.match(/credentials OK/);
    expect(out).to.contain('email');
    const pd = await cli(['destinations', 'check', dest.pipedrive, '--json'], env);
    expect(JSON.parse(pd).map((f: { key: string }) => f.key)).to.include('title');
  });

  it('a signed webhook becomes exactly one record in each CRM, with attribution; a replay updates it', async () => {
    const id = newLeadId();
    await send(id, 'olena@example.com');
    await waitUntil(
      async () => (await delivery(id, dest.hubspot))?.status === 'delivered' && (await delivery(id, dest.pipedrive))?.status === 'delivered',
      60_000,
      'both CRM deliveries',
    );
    const contact = hubspot.byEmail('olena@example.com')!;
    expect(contact.properties.lr_fb_lead_id).to.equal(id);
    expect(contact.properties.lr_lead_source ?? contact.properties.lr_platform).to.be.a('string');
    expect(contact.properties.firstname).to.equal('Олена');
    expect(contact.properties.lastname).to.equal('Коваль');
    expect([...hubspot.contacts.values()].filter((c) => c.properties.email === 'olena@example.com')).to.have.length(1);
    expect(pdLeadsFor(id)).to.have.length(1);
    // The route takes every form of the page and has no mapping of its own: the unmapped answer
    // still arrives with its question's label, read from the form when the lead was fetched.
    expect(contact.properties.message).to.contain('Your budget (€)').and.contain('5000-10000');
    const note = pipedrive.notes.find((n) => n.content.includes('5000-10000'));
    expect(note?.content).to.contain('Your budget (€)');
    const hsDelivery = (await delivery(id, dest.hubspot))!;
    expect(hsDelivery.external_id).to.equal(contact.id);
    expect(hsDelivery.action).to.equal('created');

    const leadId = hsDelivery.lead_id;
    await cli(['leads', 'replay', leadId, '--all'], env);
    await waitUntil(
      async () =>
        (await delivery(id, dest.hubspot))?.action === 'updated' &&
        (await delivery(id, dest.pipedrive))?.action === 'updated' &&
        (await delivery(id, dest.salesforce))?.action === 'updated',
      60_000,
      'updated on replay',
    );
    expect([...salesforce.leads.values()].filter((l) => l.Email === 'olena@example.com')).to.have.length(1);
    expect([...hubspot.contacts.values()].filter((c) => c.properties.email === 'olena@example.com')).to.have.length(1);
    expect(pdLeadsFor(id)).to.have.length(1);
    expect(pipedrive.persons.size).to.equal(1);
  });

  it('a CRM answering 429 for 30 s delays only its own deliveries; other destinations keep flowing', async () => {
    hubspot.rateLimitFor(30_000);
    const a = newLeadId();
    const b = newLeadId();
    await send(a, 'a.throttle@example.com');
    // HubSpot answered a's delivery with 429, and LeadRelay recorded how long HubSpot waits.
    const hubspotWaitsUntil = await waitUntil(
      async () => {
        const d = await delivery(a, dest.hubspot);
        if (!d) return undefined;
        const limited = await dbh.db
          .selectFrom('delivery_attempts')
          .select('id')
          .where('delivery_id', '=', d.id)
          .where('outcome', '=', 'rate_limited')
          .executeTakeFirst();
        const destRow = await dbh.db.selectFrom('destinations').select('rate_limited_until').where('id', '=', dest.hubspot).executeTakeFirstOrThrow();
        return limited && destRow.rate_limited_until ? new Date(destRow.rate_limited_until).getTime() : undefined;
      },
      60_000,
      "HubSpot's 429 recorded",
    );
    await send(b, 'b.throttle@example.com');
    await waitUntil(
      async () => (await delivery(b, dest.pipedrive))?.status === 'delivered' && (await delivery(b, dest.webhook))?.status === 'delivered',
      60_000,
      'other destinations',
    );
    await waitUntil(
      async () => (await delivery(a, dest.hubspot))?.status === 'delivered' && (await delivery(b, dest.hubspot))?.status === 'delivered',
      90_000,
      'HubSpot after the window',
    );
    const deliveredAt = async (leadgenId: string, destinationId: string) => new Date((await delivery(leadgenId, destinationId))!.delivered_at!).getTime();
    // The others did not wait for HubSpot: b reached them inside HubSpot's window ...
    expect(await deliveredAt(b, dest.pipedrive), 'Pipedrive got b while HubSpot waited').to.be.below(hubspotWaitsUntil);
    expect(await deliveredAt(b, dest.webhook), 'the webhook got b while HubSpot waited').to.be.below(hubspotWaitsUntil);
    // ... and HubSpot's own deliveries, a's and the later b's, both waited for it to end.
    expect(await deliveredAt(a, dest.hubspot)).to.be.at.least(hubspotWaitsUntil);
    expect(await deliveredAt(b, dest.hubspot)).to.be.at.least(hubspotWaitsUntil);
    const d = (await delivery(a, dest.hubspot))!;
    expect(d.attempts, 'waiting for a rate limit used no retry attempt').to.equal(1);
    expect([...hubspot.contacts.values()].filter((c) => c.properties.email === 'a.throttle@example.com')).to.have.length(1);
  });

  it('dead credentials park deliveries; new credentials resume them all', async () => {
    pipedrive.apiTokens.delete('pd-token-1');
    const ids = [newLeadId(), newLeadId()];
    await send(ids[0], 'first.parked@example.com');
    await send(ids[1], 'second.parked@example.com');
    await waitUntil(
      async () => (await delivery(ids[0], dest.pipedrive))?.status === 'parked' && (await delivery(ids[1], dest.pipedrive))?.status === 'parked',
      60_000,
      'parked deliveries',
    );
    const d = await dbh.db.selectFrom('destinations').selectAll().where('id', '=', dest.pipedrive).executeTakeFirstOrThrow();
    expect(d.status).to.equal('needs_reauth');
    // The other destinations were not held back: delivered while Pipedrive is still parked.
    await waitUntil(async () => (await delivery(ids[1], dest.webhook))?.status === 'delivered', 60_000, 'webhook delivery while Pipedrive is parked');
    expect((await delivery(ids[1], dest.pipedrive))?.status).to.equal('parked');
    pipedrive.apiTokens.add('pd-token-2');
    const out = await cli(['destinations', 'reauth', dest.pipedrive, '--api-token', 'pd-token-2'], env);
    expect(out).to.match(/resumed 2 parked deliveries/);
    await waitUntil(
      async () => (await delivery(ids[0], dest.pipedrive))?.status === 'delivered' && (await delivery(ids[1], dest.pipedrive))?.status === 'delivered',
      60_000,
      'resumed deliveries',
    );
    expect(pdLeadsFor(ids[0])).to.have.length(1);
    expect(pdLeadsFor(ids[1])).to.have.length(1);
  });

  it('three leads of one person released together create one Pipedrive person, with one lead each', async () => {
    pipedrive.apiTokens.clear();
    const personsBefore = pipedrive.persons.size;
    const ids = [newLeadId(), newLeadId(), newLeadId()];
    const spellings = ['walter.released@example.com', 'Walter.Released@example.com', ' walter.released@EXAMPLE.com'];
    // A phone no earlier test used: the person can only be found by the email, so it must be created once.
    for (const [i, id] of ids.entries()) await send(id, spellings[i], '+380 44 765 4321');
    await waitUntil(
      async () => (await Promise.all(ids.map((id) => delivery(id, dest.pipedrive)))).every((d) => d?.status === 'parked'),
      60_000,
      'parked deliveries',
    );
    pipedrive.apiTokens.add('pd-token-3');
    expect(await cli(['destinations', 'reauth', dest.pipedrive, '--api-token', 'pd-token-3'], env)).to.match(/resumed 3 parked deliveries/);
    await waitUntil(
      async () => (await Promise.all(ids.map((id) => delivery(id, dest.pipedrive)))).every((d) => d?.status === 'delivered'),
      60_000,
      'released deliveries',
    );
    expect(pipedrive.persons.size - personsBefore, 'persons created').to.equal(1);
    for (const id of ids) expect(pdLeadsFor(id), `Pipedrive leads of ${id}`).to.have.length(1);
    const personIds = new Set(ids.map((id) => (pdLeadsFor(id)[0] as { person_id?: number }).person_id));
    expect(personIds.size, 'persons the three leads are on').to.equal(1);
  });

  it('Salesforce: one Lead upserted by the Meta lead id; an expired refresh token parks deliveries until new credentials are set, then all arrive', async () => {
    const id = newLeadId();
    await send(id, 'sf.first@example.com');
    await waitUntil(async () => (await delivery(id, dest.salesforce))?.status === 'delivered', 60_000, 'salesforce delivery');
    const lead = salesforce.leadByExternalId(id)!;
    expect(lead, 'upserted on the external id field').to.not.equal(undefined);
    expect(lead.LastName).to.equal('Коваль');
    expect(lead.Email).to.equal('sf.first@example.com');
    expect(lead.LeadSource).to.equal('Facebook Lead Ads');
    expect(String(lead.Description ?? '')).to.contain('5000-10000');
    const d = (await delivery(id, dest.salesforce))!;
    expect(d.external_id).to.equal(lead.Id);
    expect(d.external_url).to.contain(lead.Id);

    // The session expires and the refresh token is revoked: jsforce's refresh gets invalid_grant.
    salesforce.expireAccessTokens();
    salesforce.refreshTokens.clear();
    const parked = [newLeadId(), newLeadId()];
    await send(parked[0], 'sf.parked1@example.com');
    await send(parked[1], 'sf.parked2@example.com');
    await waitUntil(
      async () => (await delivery(parked[0], dest.salesforce))?.status === 'parked' && (await delivery(parked[1], dest.salesforce))?.status === 'parked',
      60_000,
      'parked salesforce deliveries',
    );
    const destRow = await dbh.db.selectFrom('destinations').selectAll().where('id', '=', dest.salesforce).executeTakeFirstOrThrow();
    expect(destRow.status).to.equal('needs_reauth');
    expect(destRow.status_reason).to.match(/refresh|session/);
    expect(salesforce.leadByExternalId(parked[0])).to.equal(undefined);

    const fresh = salesforce.issueTokens();
    const out = await cli(
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
    expect(out).to.match(/resumed 2 parked deliveries/);
    await waitUntil(
      async () => (await delivery(parked[0], dest.salesforce))?.status === 'delivered' && (await delivery(parked[1], dest.salesforce))?.status === 'delivered',
      60_000,
      'resumed salesforce deliveries',
    );
    expect(salesforce.leadByExternalId(parked[0])).to.not.equal(undefined);
    expect(salesforce.leadByExternalId(parked[1])).to.not.equal(undefined);
    expect([...salesforce.leads.values()].filter((l) => l.Email === 'sf.first@example.com')).to.have.length(1);
  });
});

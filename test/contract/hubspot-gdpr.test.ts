// HubSpot's erasure of a person (the manifest's erasePerson: GDPR delete of a contact) against the
// loopback fake: by the record ids LeadRelay's deliveries made, then by email; contacts HubSpot
// does not have count as not found; a failure is a ConnectorError that quotes nobody.
import { expect } from 'chai';
import { hubspotManifest, type HubspotConfig, type HubspotCredentials, type HubspotSettings } from '../../connectors/hubspot/manifest.js';
import { ConnectorError } from '../../connectors/types.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { makeSampleLead, makeSampleRecord, makeTestContext, testCrmSettings } from '../helpers/sample-lead.js';

const PAT = 'pat-na1-gdpr-0000-1111-2222';

describe('HubSpot erasePerson (GDPR delete) against the fake', () => {
  let hubspot: FakeHubspot;
  const context = () =>
    makeTestContext<HubspotConfig, HubspotCredentials, HubspotSettings>({
      config: {},
      credentials: { type: 'private_app', accessToken: PAT },
      settings: { connector: { ...testCrmSettings.hubspot, apiUrl: hubspot.url } },
    });
  let leadgenId = 1_000_000;
  const deliverTo = async (email: string) => {
    const connector = await hubspotManifest.load();
    // Each lead its own leadgen id: HubSpot keeps lr_fb_lead_id unique.
    const record = makeSampleRecord({ lead: makeSampleLead({ leadgen_id: String(leadgenId++) }), fields: { email, firstname: 'Ann' } });
    return (await connector.deliver(context(), record)).externalId;
  };

  beforeEach(async () => {
    hubspot = await startFakeHubspot({ accessTokens: [PAT] });
  });
  afterEach(async () => {
    await hubspot.close();
  });

  it('deletes the contacts by record id and by email, and counts those already gone', async () => {
    const made = await deliverTo('ann@example.com');
    const other = await deliverTo('bob@example.com');
    // A second contact of Ann's that LeadRelay did not make (no record id of ours): found by email.
    await deliverTo('ann.second@example.com');
    const r = await hubspotManifest.erasePerson!(context(), { externalIds: [made], emails: ['ann@example.com', 'ann.second@example.com'], phones: [] });
    expect(r).to.deep.equal({ erased: 2, notFound: 1 });
    expect(hubspot.byEmail('ann@example.com')).to.equal(undefined);
    expect(hubspot.byEmail('ann.second@example.com')).to.equal(undefined);
    expect([...hubspot.contacts.keys()], "only another person's contact stays").to.deep.equal([other]);
    const calls = hubspot.requests.filter((q) => q.path === '/crm/v3/objects/contacts/gdpr-delete').map((q) => q.body);
    expect(calls).to.deep.equal([
      { objectId: made },
      { objectId: 'ann@example.com', idProperty: 'email' },
      { objectId: 'ann.second@example.com', idProperty: 'email' },
    ]);
  });

  it("fails with a ConnectorError that carries a reason, never HubSpot's words about the person", async () => {
    hubspot.failNext({
      status: 400,
      pathPrefix: '/crm/v3/objects/contacts/gdpr-delete',
      body: { status: 'error', message: 'Bad email carol@example.com', category: 'VALIDATION_ERROR', correlationId: 'x' },
    });
    let thrown: unknown;
    try {
      await hubspotManifest.erasePerson!(context(), { externalIds: [], emails: ['carol@example.com'], phones: [] });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(ConnectorError);
    const e = thrown as ConnectorError;
    expect(e.kind).to.equal('invalid');
    expect(JSON.stringify({ ...e, message: e.message })).to.not.contain('carol@example.com');
  });
});

// The HubSpot and Salesforce fakes find records by a property's value through indexes they keep
// in step with their writes: these check that a lookup follows a changed value, a deleted record
// and a rolled-back collection, and still finds the first record in store order when two share
// a value, over the wire as the program calls them.
import { expect } from 'chai';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { startFakeSalesforce, type FakeSalesforce } from '../fakes/salesforce-crm.js';

interface Answer {
  status: number;
  /** Raw JSON, read loosely on purpose. */
  body: any;
}

async function call(url: string, method: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

describe('fake HubSpot: contacts found by property value', () => {
  const TOKEN = 'pat-na1-lookups';
  let hubspot: FakeHubspot;
  const post = (path: string, body: unknown) => call(`${hubspot.url}${path}`, 'POST', body, { authorization: `Bearer ${TOKEN}` });
  const upsert = (inputs: unknown[]) => post('/crm/v3/objects/contacts/batch/upsert', { inputs });

  beforeEach(async () => {
    hubspot = await startFakeHubspot({ accessTokens: [TOKEN] });
  });
  afterEach(async () => {
    await hubspot.close();
  });

  it('finds a contact under its new email only (in any case) once an upsert changed it; an upsert by the old email creates another', async () => {
    const created = await upsert([{ idProperty: 'email', id: 'ann@example.com', properties: { firstname: 'Ann' } }]);
    const id = created.body.results[0].id as string;
    const changed = await upsert([{ idProperty: 'hs_object_id', id, properties: { email: 'Ann.New@example.com' } }]);
    expect(changed.status).to.equal(200);

    expect(hubspot.byEmail('ann.new@EXAMPLE.com')?.id).to.equal(id);
    expect(hubspot.byEmail('ann@example.com')).to.equal(undefined);
    const byNew = await upsert([{ idProperty: 'email', id: 'ANN.NEW@example.com', properties: { lastname: 'Smith' } }]);
    expect(byNew.body.results[0]).to.include({ id, new: false });
    const byOld = await upsert([{ idProperty: 'email', id: 'ann@example.com', properties: { lastname: 'Old' } }]);
    expect(byOld.body.results[0].new).to.equal(true);
    expect(byOld.body.results[0].id).to.not.equal(id);
  });

  it('finds the older of two contacts sharing an email, and the newer once the older one moved to another email', async () => {
    const first = (await post('/crm/v3/objects/contacts', { properties: { email: 'shared@example.com' } })).body.id as string;
    const second = (await post('/crm/v3/objects/contacts', { properties: { email: 'bob@example.com' } })).body.id as string;
    // HubSpot keys no uniqueness on email; an upsert by record id can give a second contact the same one.
    await upsert([{ idProperty: 'hs_object_id', id: second, properties: { email: 'Shared@example.com' } }]);
    expect(hubspot.byEmail('shared@example.com')?.id).to.equal(first);

    await upsert([{ idProperty: 'hs_object_id', id: first, properties: { email: 'moved@example.com' } }]);
    expect(hubspot.byEmail('shared@example.com')?.id).to.equal(second);
    expect(hubspot.byEmail('moved@example.com')?.id).to.equal(first);
  });

  it('refuses a unique property value another contact holds, and gives it out again once that contact is GDPR-deleted', async () => {
    await post('/crm/v3/properties/contacts', {
      name: 'lead_key',
      label: 'Lead key',
      type: 'string',
      fieldType: 'text',
      groupName: 'contactinformation',
      hasUniqueValue: true,
    });
    const holder = (await post('/crm/v3/objects/contacts', { properties: { email: 'holder@example.com', lead_key: 'K1' } })).body.id as string;

    const refused = await post('/crm/v3/objects/contacts', { properties: { email: 'other@example.com', lead_key: 'K1' } });
    expect(refused.status).to.equal(400);
    expect(refused.body.message).to.include(`value already used by contact ${holder}`);
    const sameHolder = await upsert([{ idProperty: 'lead_key', id: 'K1', properties: { firstname: 'Hold' } }]);
    expect(sameHolder.body.results[0]).to.include({ id: holder, new: false });

    expect((await post('/crm/v3/objects/contacts/gdpr-delete', { objectId: 'K1', idProperty: 'lead_key' })).status).to.equal(204);
    expect(hubspot.byProperty('lead_key', 'K1')).to.equal(undefined);
    expect(hubspot.byEmail('holder@example.com')).to.equal(undefined);
    const taken = await post('/crm/v3/objects/contacts', { properties: { email: 'other@example.com', lead_key: 'K1' } });
    expect(taken.status).to.equal(201);
    expect(hubspot.byProperty('lead_key', 'K1')?.id).to.equal(taken.body.id);
  });
});

describe('fake Salesforce: Leads found by external id and email', () => {
  const DATA = '/services/data/v62.0';
  let fake: FakeSalesforce;
  let auth: Record<string, string>;
  const data = (method: string, path: string, body: unknown) => call(`${fake.url}${DATA}${path}`, method, body, auth);
  const lead = (fields: Record<string, unknown>) => ({ LastName: 'Doe', Company: 'Acme', ...fields });

  beforeEach(async () => {
    fake = await startFakeSalesforce({ duplicateRuleOnEmail: 'block' });
    auth = { authorization: `Bearer ${fake.issueTokens().accessToken}` };
  });
  afterEach(async () => {
    await fake.close();
  });

  it('finds a Lead under its new external id only once it changed; DUPLICATE_VALUE names the Lead holding a value, never the Lead itself', async () => {
    const a = (await data('POST', '/sobjects/Lead', lead({ FB_Lead_Id__c: 'fb-1' }))).body.id as string;
    const b = (await data('POST', '/sobjects/Lead', lead({ FB_Lead_Id__c: 'fb-2' }))).body.id as string;
    expect((await data('PATCH', `/sobjects/Lead/${a}`, { FB_Lead_Id__c: 'fb-3' })).status).to.equal(204);
    expect(fake.leadByExternalId('fb-3')?.Id).to.equal(a);
    expect(fake.leadByExternalId('fb-1')).to.equal(undefined);

    const clash = await data('PATCH', `/sobjects/Lead/${b}`, { FB_Lead_Id__c: 'fb-3' });
    expect(clash.status).to.equal(400);
    expect(clash.body[0]).to.include({ errorCode: 'DUPLICATE_VALUE' });
    expect(clash.body[0].message).to.include(`record with id: ${a}`);
    expect((await data('PATCH', `/sobjects/Lead/${a}`, { FB_Lead_Id__c: 'fb-3', FirstName: 'Ann' })).status).to.equal(204);

    const byOld = await data('PATCH', '/sobjects/Lead/FB_Lead_Id__c/fb-1', lead({}));
    expect(byOld.status).to.equal(201);
    expect(byOld.body.id).to.not.equal(a);
  });

  it('rolls a failed allOrNone collection back: updated Leads keep their place and values, created ones are gone, and lookups see the state before', async () => {
    const a = (await data('POST', '/sobjects/Lead', lead({ FB_Lead_Id__c: 'fb-1', Email: 'ann@example.com' }))).body.id as string;
    const b = (await data('POST', '/sobjects/Lead', lead({ FB_Lead_Id__c: 'fb-2' }))).body.id as string;
    const before = [...fake.leads.values()].map((l) => ({ ...l }));

    const answer = await data('PATCH', '/composite/sobjects/Lead/FB_Lead_Id__c', {
      allOrNone: true,
      records: [
        { attributes: { type: 'Lead' }, FB_Lead_Id__c: 'fb-1', Email: 'ann.new@example.com' },
        { attributes: { type: 'Lead' }, ...lead({ FB_Lead_Id__c: 'fb-9', Email: 'new@example.com' }) },
        { attributes: { type: 'Lead' }, ...lead({ FB_Lead_Id__c: 'fb-8', Email: 'not-an-email' }) },
      ],
    });
    expect(answer.status).to.equal(200);
    expect(answer.body.map((r: { errors: { statusCode: string }[] }) => r.errors[0]?.statusCode)).to.deep.equal([
      'ALL_OR_NONE_OPERATION_ROLLED_BACK',
      'ALL_OR_NONE_OPERATION_ROLLED_BACK',
      'INVALID_EMAIL_ADDRESS',
    ]);

    expect([...fake.leads.keys()]).to.deep.equal([a, b]);
    expect([...fake.leads.values()]).to.deep.equal(before);
    expect(fake.leadByExternalId('fb-1')?.Id).to.equal(a);
    expect(fake.leadByExternalId('fb-9')).to.equal(undefined);
    // The duplicate rule matches the email Ann had before the call, not the rolled-back one.
    expect((await data('POST', '/sobjects/Lead', lead({ Email: 'ANN@example.com' }))).body[0]).to.include({ errorCode: 'DUPLICATES_DETECTED' });
    expect((await data('POST', '/sobjects/Lead', lead({ Email: 'ann.new@example.com' }))).status).to.equal(201);
    expect((await data('POST', '/sobjects/Lead', lead({ Email: 'new@example.com' }))).status).to.equal(201);
  });
});

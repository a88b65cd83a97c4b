// The lead log through the real program: a lead delivered by the pipeline (signed webhook → fake
// Graph → webhook receiver) is found by its email and its phone, shows its way in the timeline,
// and counts in health and leads per day; no answer is in any of those answers.
import { expect } from 'chai';
import { isAccepted } from '../fakes/webhook-receiver.js';
import { type ApiProgram, startApiProgram } from '../helpers/api-program.js';
import { postLeadgen, waitUntil } from '../helpers/e2e.js';

const PAGE = '1400000001';
const FORM = '2400000001';
const PAGE_TOKEN = 'EAAB-lead-log-e2e-page-secret';
const RECEIVER_SECRET = 'lead-log-e2e-receiver-secret';
const LEADGEN_ID = '9400000000000000001';
const OTHER_LEADGEN_ID = '9400000000000000002';
const EMAIL = 'Rider.One@Example.com';
const PHONE = '+1 415 555 0199';

describe('e2e: the lead log of the real program', function () {
  this.timeout(300_000);
  let fx: ApiProgram;
  const texts: string[] = [];

  const get = async (path: string) => {
    const r = await fx.api.get(path);
    texts.push(r.text);
    return r;
  };

  before(async () => {
    fx = await startApiProgram({ receiverSecret: RECEIVER_SECRET });
    const { graph } = fx;
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Acme Bikes');
    graph.installApp(PAGE);
    graph.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Test ride',
      questions: [
        { key: 'email', type: 'EMAIL', label: 'Email' },
        { key: 'phone_number', type: 'PHONE', label: 'Phone' },
      ],
    });
    graph.addLead({
      id: LEADGEN_ID,
      form_id: FORM,
      page_id: PAGE,
      field_data: [
        { name: 'email', values: [EMAIL] },
        { name: 'phone_number', values: [PHONE] },
      ],
    });
    graph.addLead({ id: OTHER_LEADGEN_ID, form_id: FORM, page_id: PAGE, field_data: [{ name: 'email', values: ['someone.else@example.com'] }] });
  });

  after(async () => {
    await fx?.close();
  });

  it('finds a lead delivered through the pipeline by its email and by its phone, and shows its way', async () => {
    const { api, program, receiver, workspaceId: ws } = fx;
    expect((await api.post(`/workspaces/${ws}/pages`, { page_id: PAGE, token: PAGE_TOKEN })).status).to.equal(200);
    const dest = await api.post(`/workspaces/${ws}/destinations`, {
      type: 'webhook',
      config: { url: `${receiver.url}/leads` },
      credentials: { secret: RECEIVER_SECRET },
    });
    expect(dest.status, dest.text).to.equal(201);
    const destinationId = dest.body.destination.id as string;
    expect((await api.post(`/workspaces/${ws}/routes`, { page_id: PAGE, destination_id: destinationId })).status).to.equal(201);

    for (const leadgenId of [LEADGEN_ID, OTHER_LEADGEN_ID])
      expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId })).status).to.equal(200);
    await waitUntil(async () => receiver.received.some((r) => r.body?.leadgen_id === LEADGEN_ID && isAccepted(r)), undefined, 'the lead at the receiver');

    const found = await waitUntil(
      async () => {
        const r = await get(`/workspaces/${ws}/leads?q=${encodeURIComponent(' rider.one@example.COM ')}`);
        return r.body.items?.[0]?.delivery_status === 'delivered' ? r : undefined;
      },
      undefined,
      'the lead found by its email as delivered',
    );
    expect(found.body.items.map((l: { leadgen_id: string }) => l.leadgen_id)).to.deep.equal([LEADGEN_ID]);
    const leadId = found.body.items[0].id as string;

    const byPhone = await get(`/workspaces/${ws}/leads?q=${encodeURIComponent('+1 (415) 555-0199')}`);
    expect(byPhone.body.items.map((l: { id: string }) => l.id)).to.deep.equal([leadId]);

    const timeline = await get(`/workspaces/${ws}/leads/${leadId}/timeline`);
    expect(timeline.status, timeline.text).to.equal(200);
    expect(timeline.body.events.map((e: { type: string; outcome?: string }) => e.outcome ?? e.type)).to.deep.equal([
      'received',
      'fetched',
      'routed',
      'delivered',
    ]);

    const health = await get(`/workspaces/${ws}/health`);
    expect(health.body.pages[0]).to.include({ page_id: PAGE, status: 'valid' });
    expect(health.body.pages[0].last_lead_at).to.be.a('string');
    expect(health.body.destinations[0]).to.include({ id: destinationId, status: 'ok', dead_last_24h: 0 });
    expect(health.body.destinations[0].last_delivered_at).to.be.a('string');

    const perDay = await waitUntil(
      async () => {
        const r = await get(`/workspaces/${ws}/stats/leads-per-day?days=1`);
        return r.body.items?.[0]?.delivered === 2 ? r : undefined;
      },
      undefined,
      'both leads counted as delivered today',
    );
    expect(perDay.body.items).to.have.length(1);
    expect(perDay.body.items[0]).to.include({ form_id: FORM, total: 2, delivered: 2 });

    const all = texts.join('\n');
    for (const v of [EMAIL, EMAIL.toLowerCase(), '4155550199', 'someone.else@example.com']) expect(all, 'an answer in the lead log').to.not.include(v);
    expect(program.output()).to.not.include(EMAIL).and.not.include('4155550199');
  });
});

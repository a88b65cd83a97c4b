// Setting up a workspace through the REST API of the real program (page, webhook destination,
// route), then a signed leadgen webhook: the lead is delivered and listed by GET leads.
import { expect } from 'chai';
import { isAccepted } from '../fakes/webhook-receiver.js';
import { type ApiProgram, startApiProgram } from '../helpers/api-program.js';
import { postLeadgen, waitUntil } from '../helpers/e2e.js';

const PAGE = '1300000001';
const FORM = '2300000001';
const PAGE_TOKEN = 'EAAB-api-e2e-page-secret';
const RECEIVER_SECRET = 'api-e2e-receiver-secret';
const LEADGEN_ID = '9300000000000000001';

describe('e2e: setting up a workspace through the REST API of the real program', function () {
  this.timeout(300_000);
  let fx: ApiProgram;

  before(async () => {
    fx = await startApiProgram({ receiverSecret: RECEIVER_SECRET });
    fx.graph.setPageToken(PAGE, PAGE_TOKEN, 'Acme Bikes');
    fx.graph.installApp(PAGE);
    fx.graph.addForm({ id: FORM, page_id: PAGE, name: 'Test ride', questions: [{ key: 'email', type: 'EMAIL', label: 'Email' }] });
    fx.graph.addLead({
      id: LEADGEN_ID,
      form_id: FORM,
      page_id: PAGE,
      field_data: [{ name: 'email', values: ['rider@example.com'] }],
      platform: 'fb',
      is_organic: true,
    });
  });

  after(async () => {
    await fx?.close();
  });

  it('adds a page, a webhook destination and a route; a signed leadgen webhook is delivered and listed in GET leads', async () => {
    const { api, program, receiver, workspaceId: ws } = fx;
    const page = await api.post(`/workspaces/${ws}/pages`, { page_id: PAGE, token: PAGE_TOKEN });
    expect(page.status, page.text).to.equal(200);
    const dest = await api.post(`/workspaces/${ws}/destinations`, {
      type: 'webhook',
      config: { url: `${receiver.url}/leads` },
      credentials: { secret: RECEIVER_SECRET },
    });
    expect(dest.status, dest.text).to.equal(201);
    const route = await api.post(`/workspaces/${ws}/routes`, { page_id: PAGE, destination_id: dest.body.destination.id });
    expect(route.status, route.text).to.equal(201);

    const posted = await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: LEADGEN_ID });
    expect(posted.status).to.equal(200);

    await waitUntil(async () => receiver.received.some((r) => r.body?.leadgen_id === LEADGEN_ID && isAccepted(r)), undefined, 'the lead at the receiver');
    const listed = await waitUntil(
      async () => {
        const r = await api.get(`/workspaces/${ws}/leads`);
        const lead = r.body.items?.find((l: { leadgen_id: string }) => l.leadgen_id === LEADGEN_ID);
        return lead?.deliveries[0]?.status === 'delivered' ? lead : undefined;
      },
      undefined,
      'the lead listed as delivered',
    );
    expect(listed).to.include({ page_id: PAGE, form_id: FORM, status: 'routed' });
    expect(JSON.stringify(listed)).to.not.include('rider@example.com');
    expect(program.output()).to.not.include(PAGE_TOKEN).and.not.include(RECEIVER_SECRET);
  });
});

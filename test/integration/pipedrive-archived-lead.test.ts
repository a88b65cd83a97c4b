// A lead delivered to Pipedrive, archived there by a salesperson, then delivered again with no
// ledger to say so (the operator removed the Pipedrive destination and added it again, and
// replayed the lead): the repeat must find the archived lead, not create a second one. Through
// the delivery step the workers run (deliverOne), on the real PostgreSQL, against the loopback
// fake Pipedrive, whose GET /v1/leads lists only leads that are not archived (as Pipedrive's).
import { expect } from 'chai';
import { graphLeadSchema } from '../../src/meta/graph-types.js';
import { deliverOne } from '../../src/pipeline/deliver-lead.js';
import { leadRowFromGraph } from '../../src/pipeline/lead-record.js';
import * as repo from '../../src/store/repos.js';
import { createPipedriveRoute } from '../helpers/rows.js';
import { startFakePipedrive, type FakePipedrive } from '../fakes/pipedrive-crm.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const PAGE = '830000011';
const FORM = '830000012';
const API_TOKEN = 'pd-archived-token';
const LEADGEN_ID = '8500000000000000001';

describe('pipedrive: a repeat delivery of a lead archived in Pipedrive, without its ledger', function () {
  this.timeout(60_000);
  let pipedrive: FakePipedrive;
  let t: TestApp;
  let workspaceId: string;

  before(async () => {
    pipedrive = await startFakePipedrive({ apiTokens: [API_TOKEN] });
    t = await createTestApp({ withQueues: false, env: { PIPEDRIVE_API_URL: pipedrive.url } });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Archived Pipedrive leads')).id;
  });
  after(async () => {
    await t?.cleanup();
    await pipedrive?.close();
  });

  const addPipedriveDestination = () => createPipedriveRoute(t.app, { workspaceId, pageId: PAGE, formId: FORM, apiToken: API_TOKEN });

  it('finds the archived lead again and creates no second lead', async () => {
    const graphLead = graphLeadSchema.parse({
      id: LEADGEN_ID,
      created_time: '2026-11-20T10:15:00+0000',
      form_id: FORM,
      field_data: [
        { name: 'full_name', values: ['Walter Skinner'] },
        { name: 'email', values: ['walter.skinner@example.com'] },
        { name: 'budget', values: ['5000'] },
      ],
      platform: 'fb',
      is_organic: false,
    });
    const row = leadRowFromGraph(
      t.app.keyRing,
      { workspaceId, eventId: 0, pageId: PAGE, pageName: null, formName: 'Form', receivedAt: new Date(), isTest: false },
      graphLead,
    );
    const lead = await repo.insertLead(t.app.db, { ...row, event_id: null });

    // First delivery: person, lead and note.
    const first = await addPipedriveDestination();
    const [d1] = await repo.ensureDeliveries(t.app.db, [{ workspaceId, leadId: lead.id, destinationId: first.dest.id, routeId: first.route.id }]);
    expect(await deliverOne(t.app, d1.id)).to.include({ type: 'done', detail: 'created' });
    const firstRow = await repo.findDelivery(t.app.db, d1.id);
    const pdLeadId = firstRow?.external_id ?? '';
    expect(pipedrive.leads.get(pdLeadId)).to.include({ origin_id: LEADGEN_ID, is_archived: false });

    // A salesperson archives it in Pipedrive.
    pipedrive.archiveLead(pdLeadId);

    // The Pipedrive account is added again as a new destination, and the lead replayed to it:
    // a new delivery, with an empty ledger.
    const again = await addPipedriveDestination();
    const [d2] = (await repo.ensureDeliveries(t.app.db, [{ workspaceId, leadId: lead.id, destinationId: again.dest.id, routeId: again.route.id }])).filter(
      (d) => d.destination_id === again.dest.id,
    );
    expect(d2.connector_state).to.equal(null);
    const leadsBefore = pipedrive.leads.size;
    const notesBefore = pipedrive.notes.length;

    expect(await deliverOne(t.app, d2.id)).to.include({ type: 'done', detail: 'updated' });

    const secondRow = await repo.findDelivery(t.app.db, d2.id);
    expect(secondRow).to.include({ status: 'delivered', external_id: pdLeadId, action: 'updated' });
    expect(
      [...pipedrive.leads.values()].filter((l) => l.origin_id === LEADGEN_ID),
      'Pipedrive leads of this leadgen id',
    ).to.have.length(1);
    expect(pipedrive.leads.size).to.equal(leadsBefore);
    expect(pipedrive.notes).to.have.length(notesBefore);
    expect(pipedrive.persons.size).to.equal(1);
    // Still archived and unedited: archived leads are not editable through Pipedrive's API.
    expect(pipedrive.leads.get(pdLeadId)).to.include({ is_archived: true });
    expect(pipedrive.requests.filter((r) => r.method === 'PATCH')).to.deep.equal([]);
  });
});

// The blind index across a key rotation, on the real PostgreSQL. A lead stored before the index
// existed is indexed by the re-indexing the maintenance loop runs. A lead indexed under the old
// key is found while the new key is first and `keys rotate` has not run; `keys rotate` re-makes
// its rows under the new key; after the old key is removed it is still found. (In this order:
// the rotation leaves the page token under the new key, which this suite's app lacks.)
import { expect } from 'chai';
import { createApp, type App } from '../../src/app.js';
import { rotateKeys } from '../../src/services/rotate-keys.js';
import { loadConfig } from '../../src/config/env.js';
import { parseSearchQuery } from '../../src/lead/blind-index.js';
import { fetchLeadForEvent } from '../../src/pipeline/fetch-lead.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { reindexLeads } from '../../src/pipeline/lead-search-index.js';
import { listLeadSummaries } from '../../src/services/leads.js';
import * as repo from '../../src/store/repos.js';
import { type FakeGraph, startFakeGraph } from '../fakes/meta-graph.js';
import { TEST_APP_SECRET, TEST_KEYS } from '../helpers/e2e.js';
import { createTestApp, type TestApp, testEnv } from '../helpers/test-app.js';

const PAGE = '8300000001';
const FORM = '8300000002';
const TOKEN = 'EAAB-rotation-page-secret';
const K2 = `k2:${Buffer.alloc(32, 9).toString('base64')}`;

describe('lead search across a key rotation', function () {
  this.timeout(60_000);
  let t: TestApp;
  let graph: FakeGraph;
  const others: App[] = [];
  let ws: string;

  /** The same database and queues, with another key ring. */
  async function appWithKeys(keys: string): Promise<App> {
    const app = await createApp(loadConfig(testEnv(t.schema.url, t.prefix, { META_GRAPH_URL: graph.url, LEADRELAY_ENCRYPTION_KEYS: keys })), {
      migrate: false,
      withQueues: false,
    });
    others.push(app);
    return app;
  }

  const findIds = async (app: App, q: string) => (await listLeadSummaries(app, ws, { search: parseSearchQuery(q)!, limit: 10 })).map((l) => l.id);

  async function fetchLead(leadgenId: string, email: string): Promise<string> {
    graph.addLead({ id: leadgenId, form_id: FORM, page_id: PAGE, field_data: [{ name: 'email', values: [email] }] });
    const [event] = await repo.recordLeadgenEvents(t.app.db, [
      { pageId: PAGE, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false },
    ]);
    await fetchLeadForEvent(t.app, event!.id);
    return (await t.app.db.selectFrom('leads').select('id').where('leadgen_id', '=', leadgenId).executeTakeFirstOrThrow()).id;
  }

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    t = await createTestApp({ env: { META_GRAPH_URL: graph.url } });
    ws = (await repo.createWorkspace(t.app.db, 'Rotating')).id;
    graph.setPageToken(PAGE, TOKEN);
    graph.addForm({ id: FORM, page_id: PAGE, name: 'Form', questions: [{ key: 'email', type: 'EMAIL', label: 'Email' }] });
    await repo.upsertPage(t.app.db, { workspaceId: ws, pageId: PAGE, name: null, tokenEnvelope: t.app.keyRing.encrypt(TOKEN, pageTokenAad(PAGE)) });
  });

  after(async () => {
    for (const app of others) await app.close();
    await t?.cleanup();
    await graph?.close();
  });

  it('indexes a lead stored before the index existed', async () => {
    const leadId = await fetchLead('9500000000000000002', 'bo@example.com');
    await t.app.db.deleteFrom('lead_search').where('lead_id', '=', leadId).execute();
    await t.app.db.updateTable('leads').set({ search_kid: null }).where('id', '=', leadId).execute();
    expect(await findIds(t.app, 'bo@example.com')).to.deep.equal([]);
    expect(await reindexLeads(t.app)).to.deep.equal({ indexed: 1, failed: 0 });
    expect(await findIds(t.app, 'bo@example.com')).to.deep.equal([leadId]);
  });

  it('finds a lead indexed under the old key before, during and after the rotation', async () => {
    const leadId = await fetchLead('9500000000000000001', 'ann@example.com');
    const rowsOf = () => t.app.db.selectFrom('lead_search').select('hash').where('lead_id', '=', leadId).execute();
    const before = await rowsOf();
    expect(before).to.have.length(1);

    const rotating = await appWithKeys(`${K2},${TEST_KEYS}`);
    expect(await findIds(rotating, 'Ann@example.com'), 'new key first, not yet rotated').to.deep.equal([leadId]);

    const r = await rotateKeys(rotating);
    // Both leads of this suite hold answers: both are re-made.
    expect(r.searchIndexed).to.equal(2);
    const after = await rowsOf();
    expect(after).to.have.length(1);
    expect(after[0]!.hash, 'made again under the new key').to.not.equal(before[0]!.hash);
    expect((await t.app.db.selectFrom('leads').select('search_kid').where('id', '=', leadId).executeTakeFirstOrThrow()).search_kid).to.equal('k2');
    expect((await rotateKeys(rotating)).searchIndexed, 'a second run has nothing to re-make').to.equal(0);

    const rotated = await appWithKeys(K2);
    expect(await findIds(rotated, 'ann@example.com'), 'old key removed').to.deep.equal([leadId]);
  });
});

// Disconnecting and deleting, through the real program (API and CLI) against loopback fakes of
// Meta, HubSpot, Pipedrive and a webhook receiver:
// - a destination's credentials are revoked at the CRM's revoke endpoint and deleted, its
//   waiting deliveries parked; a page is uninstalled at Meta and its token deleted, its later
//   leads kept but not fetched; a route is deleted and its unsent deliveries stopped;
// - a deleted workspace, after its grace period (0 here), leaves no row in any table of the
//   schema but its pages' lead floors (a page id and a time), and nothing of another workspace changes; one restored within its grace period works
//   again, the lead that arrived meanwhile delivered; a purged workspace's page connected to
//   another workspace does not get its leads from before the purge again by reconciliation.
// The outbox sweep is held back (OUTBOX_MIN_AGE_MS): deliveries seeded as pending stay pending
// until the step under test moves them.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { sql } from 'kysely';
import { openDb, type DbHandle } from '../../src/store/db.js';
import * as repo from '../../src/store/repos.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { startFakePipedrive, type FakePipedrive } from '../fakes/pipedrive-crm.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { ApiClient } from '../helpers/api.js';
import {
  baseEnv,
  cli,
  createOwner,
  OWNER_PASSWORD,
  postLeadgen,
  removeQueues,
  runCli,
  startProgram,
  TEST_APP_SECRET,
  waitUntil,
  type RunningProgram,
} from '../helpers/e2e.js';
import { makeBareLeadRow } from '../helpers/rows.js';
import { countWorkspaceRows, findMentions, listIndirectlyScopedTables } from '../helpers/schema-scan.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const FAR_FUTURE = Date.now() + 365 * 86_400_000;

describe('e2e: disconnect pages and destinations, delete routes and workspaces', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let hubspot: FakeHubspot;
  let pipedrive: FakePipedrive;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let api: ApiClient;
  let ownerId: string;
  /** Workspaces: A for disconnects, DOOMED deleted for good, OTHER untouched, RESTORED deleted then restored. */
  const ws = { a: '', doomed: '', other: '', restored: '' };

  const addWebhookDestination = (workspaceId: string, name: string) =>
    cli(
      [
        'destinations',
        'add',
        '--workspace',
        workspaceId,
        '--type',
        'webhook',
        '--url',
        `${receiver.url}/${name}`,
        '--name',
        name,
        '--secret',
        'webhook-signing-secret-0123',
      ],
      env,
    );
  const addPage = async (workspaceId: string, pageId: string) => {
    const token = `EAAB-page-token-${pageId}`;
    graph.setPageToken(pageId, token, `Page ${pageId}`);
    graph.installApp(pageId);
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', pageId, '--token', token, '--skip-check'], env);
    return token;
  };
  const addRoute = async (workspaceId: string, pageId: string, destinationId: string) => {
    await cli(['routes', 'add', '--workspace', workspaceId, '--page-id', pageId, '--destination', destinationId], env);
    return (await dbh.db.selectFrom('routes').select('id').where('destination_id', '=', destinationId).orderBy('created_at', 'desc').executeTakeFirstOrThrow())
      .id;
  };
  /** A stored lead with a delivery waiting to be sent (not queued: the test moves it). */
  const seedPendingDelivery = async (workspaceId: string, pageId: string, destinationId: string, routeId: string) => {
    const lead = await repo.insertLead(
      dbh.db,
      makeBareLeadRow(workspaceId, String(9_300_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e9))), pageId),
    );
    const [delivery] = await repo.ensureDeliveries(dbh.db, [{ workspaceId, leadId: lead.id, destinationId, routeId }]);
    return { lead, delivery: delivery! };
  };
  const deliveryRow = (id: string) => dbh.db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const destinationRow = (id: string) => dbh.db.selectFrom('destinations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const addOAuthDestination = async (workspaceId: string, body: Record<string, unknown>) => {
    const r = await api.post(`/workspaces/${workspaceId}/destinations`, body);
    expect(r.status, r.text).to.equal(201);
    return r.body.destination.id as string;
  };

  /**
   * Everything a workspace can own, each through the program where it has a way in (CLI, API) and
   * written as the program writes it otherwise: page, destinations, route, lead with its search
   * hashes, delivery and attempt, form, page check, recent CRM record, API key, invitation,
   * Facebook login and test lead tie, audit entries. Returns every id and name to look for later.
   */
  async function populate(workspaceId: string, tag: string, pageId: string): Promise<string[]> {
    await addPage(workspaceId, pageId);
    const destinationId = await addWebhookDestination(workspaceId, `hook-${tag}`);
    const routeId = await addRoute(workspaceId, pageId, destinationId);
    const { lead, delivery } = await seedPendingDelivery(workspaceId, pageId, destinationId, routeId);
    await repo.recordAttempt(dbh.db, {
      workspaceId,
      deliveryId: delivery.id,
      attempt: 1,
      startedAt: new Date(),
      outcome: 'retry',
      httpStatus: 503,
      reason: 'status_code_503',
    });
    await dbh.db
      .insertInto('lead_search')
      .values({ lead_id: lead.id, workspace_id: workspaceId, kind: 'email', hash: `hash-${tag}` })
      .execute();
    await repo.upsertForm(dbh.db, { workspaceId, formId: `${pageId}9`, pageId, name: `Form of ${tag}`, questions: [] });
    await dbh.db
      .insertInto('page_checks')
      .values({ page_id: pageId, workspace_id: workspaceId, checked_at: new Date(), outcome: 'ok', is_app_installed: true, problem: null })
      .execute();
    await dbh.db
      .insertInto('connector_recent_records')
      .values({ workspace_id: workspaceId, destination_id: destinationId, key_hash: `key-${tag}`, external_id: `ext-${tag}` })
      .execute();
    const key = JSON.parse(await cli(['api-keys', 'create', '--workspace', workspaceId, '--name', `key of ${tag}`, '--role', 'editor', '--json'], env)) as {
      id: string;
    };
    await dbh.db
      .insertInto('account_links')
      .values({
        token_hash: `invite-${tag}`,
        purpose: 'invitation',
        workspace_id: workspaceId,
        email: `invitee-${tag}@example.com`,
        role: 'viewer',
        created_by: ownerId,
        expires_at: new Date(FAR_FUTURE),
      })
      .execute();
    const connectionId = randomUUID();
    await dbh.db
      .insertInto('facebook_connections')
      .values({
        id: connectionId,
        workspace_id: workspaceId,
        user_id: ownerId,
        fb_user_id: `${pageId}55`,
        name: `Facebook of ${tag}`,
        token_envelope: 'sealed',
      })
      .execute();
    await dbh.db
      .insertInto('facebook_test_leads')
      .values({ workspace_id: workspaceId, page_id: pageId, leadgen_id: lead.leadgen_id, fb_user_id: `${pageId}55` })
      .execute();
    return [
      workspaceId,
      pageId,
      destinationId,
      routeId,
      lead.id,
      lead.leadgen_id,
      delivery.id,
      key.id,
      connectionId,
      `hook-${tag}`,
      `Form of ${tag}`,
      `invitee-${tag}@example.com`,
    ];
  }

  before(async () => {
    schema = await createTestSchema('e2e');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    hubspot = await startFakeHubspot({ accessTokens: ['hs-access-a', 'hs-access-doomed'], refreshTokens: ['hs-refresh-a', 'hs-refresh-doomed'] });
    pipedrive = await startFakePipedrive();
    pipedrive.oauth.refreshTokens.add('pd-refresh-a');
    receiver = await startFakeReceiver({ secret: 'webhook-signing-secret-0123' });
    env = baseEnv({
      DATABASE_URL: schema.url,
      META_GRAPH_URL: graph.url,
      HUBSPOT_API_URL: hubspot.url,
      HUBSPOT_CLIENT_ID: 'hs-client',
      HUBSPOT_CLIENT_SECRET: 'hs-secret',
      PIPEDRIVE_API_URL: pipedrive.url,
      PIPEDRIVE_OAUTH_URL: pipedrive.url,
      PIPEDRIVE_CLIENT_ID: pipedrive.oauth.clientId,
      PIPEDRIVE_CLIENT_SECRET: pipedrive.oauth.clientSecret,
      OUTBOX_MIN_AGE_MS: '600000',
      WORKSPACE_DELETION_GRACE_DAYS: '0',
      API_RATE_LIMIT_PER_MINUTE: '100000',
    });
    for (const k of Object.keys(ws) as (keyof typeof ws)[]) ws[k] = await cli(['workspaces', 'create', '--name', `Workspace ${k}`], env);
    const email = await createOwner(env);
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    ownerId = (await dbh.db.selectFrom('users').select('id').executeTakeFirstOrThrow()).id;
    const signIn = await fetch(`${program.url}/api/v1/auth/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: OWNER_PASSWORD }),
    });
    expect(signIn.status).to.equal(200);
    const [name, value] = signIn.headers.getSetCookie()[0]!.split(';')[0]!.split('=');
    api = new ApiClient(program.url);
    api.setCookie(name!, value!);
    api.csrfToken = ((await signIn.json()) as { csrf_token: string }).csrf_token;
  });

  after(async () => {
    await program?.kill();
    await dbh?.close();
    await Promise.all([graph?.close(), hubspot?.close(), pipedrive?.close(), receiver?.close()]);
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it("revokes a destination's OAuth token at the CRM, deletes its credentials and parks its waiting deliveries", async () => {
    const destinationId = await addOAuthDestination(ws.a, {
      type: 'hubspot',
      name: 'HubSpot A',
      credentials: { type: 'oauth', accessToken: 'hs-access-a', refreshToken: 'hs-refresh-a', expiresAt: FAR_FUTURE },
    });
    const routeId = await addRoute(ws.a, '1600000001', destinationId);
    const { delivery } = await seedPendingDelivery(ws.a, '1600000001', destinationId, routeId);

    const r = await api.post(`/workspaces/${ws.a}/destinations/${destinationId}/disconnect`);
    expect(r.status, r.text).to.equal(200);
    expect(r.body.revocation).to.deep.equal({ status: 'revoked' });
    expect(r.body.parked_deliveries).to.equal(1);
    expect(hubspot.revokedTokens).to.deep.equal(['hs-refresh-a']);
    const dest = await destinationRow(destinationId);
    expect(dest).to.include({ credentials_envelope: null, status: 'disabled', status_reason: 'disconnected' });
    expect(await deliveryRow(delivery.id)).to.include({ status: 'parked', last_error_reason: 'destination_disconnected' });
    expect(r.text).to.not.include('hs-refresh-a').and.not.include('hs-access-a');

    // New credentials (here: none given) are refused for a disconnected OAuth destination.
    const again = await api.put(`/workspaces/${ws.a}/destinations/${destinationId}/credentials`, { config: {} });
    expect(again.status).to.equal(422);
  });

  it('disconnects a destination from the CLI: revoked at the CRM, no credentials left', async () => {
    const destinationId = await addOAuthDestination(ws.a, {
      type: 'pipedrive',
      name: 'Pipedrive A',
      credentials: { type: 'oauth', accessToken: 'pd-access-a', refreshToken: 'pd-refresh-a', expiresAt: FAR_FUTURE, apiDomain: pipedrive.url },
    });
    const out = await cli(['destinations', 'disconnect', destinationId], env);
    expect(out).to.include('credentials revoked at the CRM and deleted');
    expect(pipedrive.oauth.revokedTokens).to.deep.equal(['pd-refresh-a']);
    expect((await destinationRow(destinationId)).credentials_envelope).to.equal(null);

    const hook = await addWebhookDestination(ws.a, 'hook-a');
    const r = await api.post(`/workspaces/${ws.a}/destinations/${hook}/disconnect`);
    expect(r.body.revocation.status).to.equal('not_revocable');
    expect((await destinationRow(hook)).credentials_envelope).to.equal(null);
  });

  it('uninstalls the app from a page at Meta and deletes its token; later leads of the page are kept, not fetched', async () => {
    const pageId = '1600000002';
    await addPage(ws.a, pageId);
    const out = await cli(['pages', 'disconnect', '--workspace', ws.a, '--page-id', pageId], env);
    expect(out).to.include('LeadRelay removed from the page at Meta');
    expect(graph.installedFields(pageId)).to.equal(undefined);
    expect(graph.calls.some((c) => c.method === 'DELETE' && c.path.endsWith(`/${pageId}/subscribed_apps`))).to.equal(true);
    const page = await dbh.db.selectFrom('pages').selectAll().where('page_id', '=', pageId).executeTakeFirstOrThrow();
    expect(page).to.include({ status: 'disconnected', token_envelope: null });

    const leadgenId = '9300000000000000777';
    graph.addLead({ id: leadgenId, form_id: '2600000002', page_id: pageId });
    expect((await postLeadgen(program.url, { pageId, formId: '2600000002', leadgenId })).status).to.equal(200);
    const event = await waitUntil(
      async () => {
        const e = await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', leadgenId).executeTakeFirst();
        return e?.status === 'parked' ? e : undefined;
      },
      60_000,
      'the event parked',
    );
    expect(event.status_reason).to.equal('page_disconnected');
    expect(graph.calls.filter((c) => c.path.endsWith(`/${leadgenId}`))).to.have.length(0);
  });

  it('deletes a route from the CLI and the API, stopping its deliveries not yet sent; disables and enables one', async () => {
    const destinationId = await addWebhookDestination(ws.a, 'hook-routes');
    const first = await addRoute(ws.a, '1600000003', destinationId);
    const { delivery } = await seedPendingDelivery(ws.a, '1600000003', destinationId, first);
    expect(await cli(['routes', 'disable', first], env)).to.include('disabled');
    expect((await repo.findRoute(dbh.db, first))?.is_enabled).to.equal(false);
    expect(await cli(['routes', 'enable', first], env)).to.include('enabled');
    expect(await cli(['routes', 'delete', first], env)).to.include('1 delivery(ies) not yet sent were stopped');
    expect(await repo.findRoute(dbh.db, first)).to.equal(undefined);
    expect(await deliveryRow(delivery.id)).to.include({ status: 'dead', last_error_reason: 'route_deleted' });

    const second = await addRoute(ws.a, '1600000003', destinationId);
    const r = await api.delete(`/workspaces/${ws.a}/routes/${second}`);
    expect(r.status, r.text).to.equal(200);
    expect(r.body).to.deep.equal({ deleted: true, stopped_deliveries: 0 });
    expect((await api.delete(`/workspaces/${ws.a}/routes/${second}`)).status).to.equal(404);
  });

  it('leaves no row of a deleted workspace in any table after its grace period, and changes nothing of another workspace', async () => {
    const doomedIds = await populate(ws.doomed, 'doomed', '1700000001');
    await populate(ws.other, 'other', '1700000002');
    const hubspotDoomed = await addOAuthDestination(ws.doomed, {
      type: 'hubspot',
      name: 'HubSpot doomed',
      credentials: { type: 'oauth', accessToken: 'hs-access-doomed', refreshToken: 'hs-refresh-doomed', expiresAt: FAR_FUTURE },
    });
    doomedIds.push(hubspotDoomed);
    const doomedBefore = await countWorkspaceRows(dbh.db, ws.doomed);
    const filled = Object.entries(doomedBefore)
      .filter(([, n]) => n > 0)
      .map(([t]) => t);
    expect(filled, 'the workspace to delete holds rows in these tables').to.include.members([
      'workspaces',
      'pages',
      'destinations',
      'routes',
      'leads',
      'lead_search',
      'deliveries',
      'delivery_attempts',
      'forms',
      'page_checks',
      'connector_recent_records',
      'api_keys',
      'account_links',
      'memberships',
      'facebook_connections',
      'facebook_test_leads',
      'audit_log',
    ]);
    const otherBefore = await countWorkspaceRows(dbh.db, ws.other);
    const otherRows = await dbh.db.selectFrom('pages').selectAll().where('workspace_id', '=', ws.other).execute();

    const r = await api.delete(`/workspaces/${ws.doomed}`);
    expect(r.status, r.text).to.equal(200);
    expect(r.body.deletion.is_deleted).to.equal(true);
    await waitUntil(async () => !(await repo.findWorkspace(dbh.db, ws.doomed)), 60_000, 'the deleted workspace purged');

    const after = await countWorkspaceRows(dbh.db, ws.doomed);
    expect(Object.entries(after).filter(([, n]) => n > 0)).to.deep.equal([]);
    expect(Object.keys(after)).to.include.members(filled);
    // Tables without a workspace_id that point at workspace rows: none may point at the deleted workspace's.
    for (const { table, column } of await listIndirectlyScopedTables(dbh.db)) {
      const { rows } = await sql<{ n: string }>`select count(*) as n from ${sql.table(table)} where ${sql.ref(column)}::text = any(${doomedIds})`.execute(
        dbh.db,
      );
      expect(Number(rows[0]!.n), `${table}.${column}`).to.equal(0);
    }
    // And no column of any table names any of its ids or names. Only audit entries that are not
    // its own (the installation's record of its deletion, another workspace's record of its owner
    // set-up) may name the workspace's bare id: an audit log is append-only, and those are not its rows.
    // And its page's lead floor names the page: a page id and a time, no lead data, which keeps
    // reconciliation from recording the page's leads from before the purge again elsewhere.
    const mentions = await findMentions(dbh.db, doomedIds);
    const floors = mentions.filter((m) => m.table === 'page_lead_floors');
    expect(floors.map((m) => [m.column, m.value, Object.keys(m.rows[0]!).sort()])).to.deep.equal([
      ['page_id', '1700000001', ['not_before', 'page_id', 'updated_at']],
    ]);
    const outsideTheLog = mentions.filter(
      (m) => m.table !== 'page_lead_floors' && !(m.table === 'audit_log' && m.value === ws.doomed && m.rows.every((row) => row.workspace_id !== ws.doomed)),
    );
    expect(outsideTheLog.map((m) => `${m.table}.${m.column}`)).to.deep.equal([]);
    const purged = await dbh.db
      .selectFrom('audit_log')
      .selectAll()
      .where('workspace_id', 'is', null)
      .where('target_id', '=', ws.doomed)
      .orderBy('id')
      .execute();
    expect(purged.map((e) => e.action)).to.deep.equal(['workspace.deletionRequested', 'workspace.purged']);
    // What it held outside LeadRelay was revoked first.
    expect(hubspot.revokedTokens).to.include('hs-refresh-doomed');
    expect(graph.installedFields('1700000001')).to.equal(undefined);

    expect(await countWorkspaceRows(dbh.db, ws.other)).to.deep.equal(otherBefore);
    expect(await dbh.db.selectFrom('pages').selectAll().where('workspace_id', '=', ws.other).execute()).to.deep.equal(otherRows);
    expect(graph.installedFields('1700000002')).to.deep.equal(['leadgen']);
  });

  it('a page of a purged workspace connected to another: reconciliation records none of its leads from before the purge again, even with --since; a later one it does', async () => {
    const pageId = '1900000001';
    const formId = '2900000001';
    const gone = await cli(['workspaces', 'create', '--name', 'Workspace gone'], env);
    graph.addForm({ id: formId, page_id: pageId, questions: [{ key: 'email', type: 'EMAIL' }] });
    const metaLead = (leadgenId: string, createdTime: number) =>
      graph.addLead({
        id: leadgenId,
        form_id: formId,
        page_id: pageId,
        created_time: createdTime,
        field_data: [{ name: 'email', values: [`${leadgenId}@example.com`] }],
      });
    const deliveredTo = (leadgenId: string) => receiver.accepted().filter((r) => r.body?.leadgen_id === leadgenId);
    await addPage(gone, pageId);
    await addRoute(gone, pageId, await addWebhookDestination(gone, 'hook-gone'));
    const early = '9300000000000000901';
    metaLead(early, Math.floor(Date.now() / 1000) - 3600);
    expect((await postLeadgen(program.url, { pageId, formId, leadgenId: early })).status).to.equal(200);
    await receiver.waitFor(() => deliveredTo(early).length === 1, 60_000);

    expect(await cli(['workspaces', 'delete', gone], env)).to.include('intake and delivery stopped');
    await waitUntil(async () => !(await repo.findWorkspace(dbh.db, gone)), 60_000, 'the deleted workspace purged');
    const purgedSec = Math.floor(Date.now() / 1000);

    await addPage(ws.other, pageId);
    await addRoute(ws.other, pageId, await addWebhookDestination(ws.other, 'hook-moved'));
    const late = '9300000000000000902';
    metaLead(late, purgedSec + 1);
    // Meta lists a lead once its second is over (no settle time here): the clock must pass it.
    await waitUntil(async () => Date.now() >= (purgedSec + 2) * 1000, 10_000, 'the clock past the later lead');
    const since = new Date(Date.now() - 6 * 3_600_000).toISOString();
    const run = await runCli(['leads', 'reconcile', '--workspace', ws.other, '--form', formId, '--since', since], { ...env, RECONCILE_SETTLE_MS: '0' });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.contain(`form ${formId} (page ${pageId}): Meta has 1, already recorded 0, recovered 1`);
    await receiver.waitFor(() => deliveredTo(late).length === 1, 60_000);
    expect(deliveredTo(early), 'delivered once, by the purged workspace').to.have.length(1);
    const events = await dbh.db.selectFrom('leadgen_events').select('leadgen_id').where('page_id', '=', pageId).execute();
    expect(events.map((e) => e.leadgen_id)).to.deep.equal([late]);
  });

  it('brings a workspace deleted from the CLI back working when restored within its grace period', async () => {
    const pageId = '1800000001';
    await addPage(ws.restored, pageId);
    const destinationId = await addWebhookDestination(ws.restored, 'hook-restored');
    await addRoute(ws.restored, pageId, destinationId);
    const withGrace = { ...env, WORKSPACE_DELETION_GRACE_DAYS: '30' };
    expect(await cli(['workspaces', 'delete', ws.restored], withGrace)).to.include('intake and delivery stopped');
    const state = await api.get(`/workspaces/${ws.restored}/deletion`);
    expect(state.body.is_deleted).to.equal(true);
    expect(new Date(state.body.purge_after).getTime()).to.be.greaterThan(Date.now() + 29 * 86_400_000);

    const leadgenId = '9300000000000000888';
    graph.addLead({ id: leadgenId, form_id: '2800000001', page_id: pageId, field_data: [{ name: 'email', values: ['restored@example.com'] }] });
    expect((await postLeadgen(program.url, { pageId, formId: '2800000001', leadgenId })).status).to.equal(200);
    const parked = await waitUntil(
      async () => {
        const e = await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', leadgenId).executeTakeFirst();
        return e?.status === 'parked' ? e : undefined;
      },
      60_000,
      'the event parked while the workspace is deleted',
    );
    expect(parked.status_reason).to.equal('workspace_deleted');
    expect(graph.calls.filter((c) => c.path.endsWith(`/${leadgenId}`))).to.have.length(0);

    expect(await cli(['workspaces', 'restore', ws.restored], withGrace)).to.include('resumed 1 waiting lead(s)');
    await receiver.waitFor((rc) => rc.accepted().some((req) => req.body?.leadgen_id === leadgenId), 60_000);
    expect((await api.get(`/workspaces/${ws.restored}/deletion`)).body.is_deleted).to.equal(false);
    expect((await api.post(`/workspaces/${ws.restored}/restore`)).status).to.equal(409);
  });

  it('writes no token or credential to its output', () => {
    const out = program.output();
    const secrets = ['hs-refresh-a', 'hs-access-a', 'hs-refresh-doomed', 'pd-refresh-a', 'pd-access-a', 'webhook-signing-secret-0123', 'EAAB-page-token-'];
    expect(secrets.filter((s) => out.includes(s))).to.deep.equal([]);
  });
});

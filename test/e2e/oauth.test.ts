// End to end through the real program: a customer connects HubSpot and Pipedrive by OAuth from
// a link `leadrelay destinations connect` prints; leads then go out with the OAuth tokens; a
// refresh token that dies parks the deliveries until the destination is re-authorised the same
// way; bad states, refusals and unsigned links change nothing.
//
// PUBLIC_URL is a name nothing resolves (https://relay.leadrelay.test), as if a TLS proxy stood
// in front of the program; the test sends what a browser would send there to the program's own
// loopback port instead. startProgram picks the port itself, so PUBLIC_URL cannot be it.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { computeCodeChallenge, createOAuthStateSigner } from '../../src/http/oauth-state.js';
import { destinationAad } from '../../src/pipeline/lead-record.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { startFakePipedrive, type FakePipedrive } from '../fakes/pipedrive-crm.js';
import { startFakeSalesforce, type FakeSalesforce } from '../fakes/salesforce-crm.js';
import { baseEnv, cli, postLeadgen, flushPrefix, runCli, startProgram, TEST_APP_SECRET, TEST_KEYS, waitUntil, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PUBLIC_URL = 'https://relay.leadrelay.test';
const PAGE = '1000000003';
const FORM = '2000000003';
const PAGE_TOKEN = 'EAAB-oauth-page-token';
let next = 7_400_000_000_000_000_000n;
const newLeadId = () => String(next++);

const keyRing = new KeyRing(TEST_KEYS.split(',').map((entry) => ({ kid: entry.split(':')[0], key: Buffer.from(entry.split(':')[1], 'base64') })));

describe('e2e: connecting CRMs by OAuth through the real program', function () {
  // Generous: on a loaded machine each CLI command and start-up takes many seconds, and each
  // wait below only runs to its bound when what it waits for never happens.
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let hubspot: FakeHubspot;
  let pipedrive: FakePipedrive;
  /** The production login host (SALESFORCE_LOGIN_URL) and a sandbox one chosen per destination. */
  let sfProduction: FakeSalesforce;
  let sfSandbox: FakeSalesforce;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let ws: string;
  let hubspotDest: string;

  /** What a browser at PUBLIC_URL reaches is the program on its loopback port. */
  const local = (url: string) => (url.startsWith(PUBLIC_URL) ? `${program.url}${url.slice(PUBLIC_URL.length)}` : url);
  const get = (url: string) => fetch(local(url), { redirect: 'manual' });
  const connectLink = (args: string[]) => cli(['destinations', 'connect', ...args], env);
  const destinations = () => dbh.db.selectFrom('destinations').selectAll().where('workspace_id', '=', ws).orderBy('created_at').execute();
  const findDestination = (id: string) => dbh.db.selectFrom('destinations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const credentialsOf = async (id: string) => {
    const d = await findDestination(id);
    expect(d.credentials_envelope).to.match(/^lr1\./);
    return keyRing.decryptJson<Record<string, string | number>>(d.credentials_envelope!, destinationAad(id));
  };
  const delivery = async (leadgenId: string, destinationId: string) =>
    dbh.db
      .selectFrom('deliveries')
      .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
      .selectAll('deliveries')
      .where('leads.leadgen_id', '=', leadgenId)
      .where('deliveries.destination_id', '=', destinationId)
      .executeTakeFirst();

  /** Opens a connect link as a browser would: the start route must send it to the CRM with a state. */
  const startFlow = async (link: string) => {
    const res = await get(link);
    expect(res.status, await res.clone().text()).to.equal(302);
    const authorize = new URL(res.headers.get('location')!);
    const state = authorize.searchParams.get('state');
    expect(state).to.be.a('string').and.not.equal('');
    return { authorize, state: state! };
  };
  const callback = (type: string, params: Record<string, string>) => get(`${PUBLIC_URL}/oauth/${type}/callback?${new URLSearchParams(params)}`);

  const send = async (id: string, email: string) => {
    graph.addLead({
      id,
      form_id: FORM,
      page_id: PAGE,
      field_data: [
        { name: 'full_name', values: ['Ingrid Øvergård'] },
        { name: 'email', values: [email] },
        { name: 'phone_number', values: ['+47 912 34 567'] },
      ],
      campaign_id: '77',
      campaign_name: 'Spring',
      ad_id: '78',
      platform: 'ig',
    });
    const res = await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: id });
    expect(res.status).to.equal(200);
  };

  before(async () => {
    schema = await createTestSchema('oauth');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    hubspot = await startFakeHubspot({ clientId: 'hs-client', clientSecret: 'hs-secret' });
    pipedrive = await startFakePipedrive();
    sfProduction = await startFakeSalesforce({ clientId: 'sf-client', clientSecret: 'sf-secret' });
    sfSandbox = await startFakeSalesforce({ clientId: 'sf-client', clientSecret: 'sf-secret' });
    env = baseEnv({
      DATABASE_URL: schema.url,
      META_GRAPH_URL: graph.url,
      PUBLIC_URL,
      HUBSPOT_API_URL: hubspot.url,
      HUBSPOT_CLIENT_ID: 'hs-client',
      HUBSPOT_CLIENT_SECRET: 'hs-secret',
      PIPEDRIVE_API_URL: pipedrive.url,
      PIPEDRIVE_OAUTH_URL: pipedrive.url,
      PIPEDRIVE_CLIENT_ID: pipedrive.oauth.clientId,
      PIPEDRIVE_CLIENT_SECRET: pipedrive.oauth.clientSecret,
      SALESFORCE_LOGIN_URL: sfProduction.url,
      SALESFORCE_CLIENT_ID: 'sf-client',
      SALESFORCE_CLIENT_SECRET: 'sf-secret',
      // One delivery at a time, so "resumed in order" is observable in the CRM.
      DELIVER_CONCURRENCY: '1',
      // Info lines too, so the last test can check that no log line holds a secret.
      LOG_LEVEL: 'info',
    });
    graph.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Test ride',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
        { key: 'phone_number', type: 'PHONE', label: 'Phone' },
      ],
    });
    graph.setPageToken(PAGE, PAGE_TOKEN);
    ws = await cli(['workspaces', 'create', '--name', 'OAuth'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
  });
  after(async () => {
    await program?.kill();
    await dbh?.close();
    await Promise.all([graph?.close(), hubspot?.close(), pipedrive?.close(), sfProduction?.close(), sfSandbox?.close()]);
    if (env) await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('HubSpot: the printed link leads to consent and back; the new destination delivers with the OAuth token', async () => {
    const link = await connectLink(['--workspace', ws, '--type', 'hubspot', '--name', 'HubSpot – Sales']);
    expect(link.startsWith(`${PUBLIC_URL}/oauth/hubspot/start?`), link).to.equal(true);

    const { authorize, state } = await startFlow(link);
    expect(authorize.origin + authorize.pathname).to.equal('https://app.hubspot.com/oauth/authorize');
    expect(authorize.searchParams.get('client_id')).to.equal('hs-client');
    const redirectUri = authorize.searchParams.get('redirect_uri')!;
    expect(redirectUri).to.equal(`${PUBLIC_URL}/oauth/hubspot/callback`);
    expect(authorize.searchParams.get('scope')!.split(' ')).to.include.members(['crm.objects.contacts.write', 'crm.objects.contacts.read', 'oauth']);

    // The person clicks "Connect app": HubSpot redirects back with a one-time code.
    const code = hubspot.issueAuthorizationCode(redirectUri);
    const res = await callback('hubspot', { code, state });
    const html = await res.text();
    expect(res.status, html).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/html/);
    expect(res.headers.get('cache-control')).to.equal('no-store');
    expect(html).to.contain('HubSpot connected');

    const created = await destinations();
    expect(created).to.have.length(1);
    const dest = created[0];
    hubspotDest = dest.id;
    expect(html).to.contain(dest.id);
    expect(html, 'a link on to the web app wizard').to.contain(`<a href="${PUBLIC_URL}/w/${ws}/wizard/crm?destination=${dest.id}">`);
    expect(dest).to.include({ type: 'hubspot', name: 'HubSpot – Sales', status: 'active' });
    const creds = await credentialsOf(dest.id);
    expect(creds.type).to.equal('oauth');
    expect(hubspot.tokens.valid.has(String(creds.accessToken))).to.equal(true);
    expect(hubspot.tokens.refresh.has(String(creds.refreshToken))).to.equal(true);
    for (const secret of [creds.accessToken, creds.refreshToken, code, 'hs-secret']) expect(html).to.not.contain(String(secret));

    // The state works once: the same callback again (a reload), or the same state with a new
    // code (a replay), is refused and creates nothing.
    const again = await callback('hubspot', { code, state });
    expect(again.status).to.equal(400);
    expect(await again.text()).to.contain('This sign-in was already used');
    const replayed = await callback('hubspot', { code: hubspot.issueAuthorizationCode(redirectUri), state });
    expect(replayed.status).to.equal(400);
    expect(await replayed.text()).to.contain('This sign-in was already used');
    expect(await destinations()).to.have.length(1);
    // So does the link: opened again after it connected, it no longer reaches the CRM.
    const reopened = await get(link);
    expect(reopened.status).to.equal(400);
    expect(await reopened.text()).to.contain('This connect link was already used');

    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', dest.id], env);
    const id = newLeadId();
    await send(id, 'ingrid@example.com');
    await waitUntil(async () => (await delivery(id, dest.id))?.status === 'delivered', 60_000, 'the HubSpot delivery');
    const contact = hubspot.byEmail('ingrid@example.com')!;
    expect(contact.properties.lr_fb_lead_id).to.equal(id);
    const upserts = hubspot.requests.filter((r) => r.path === '/crm/v3/objects/contacts/batch/upsert');
    expect(upserts.length).to.be.greaterThan(0);
    expect(
      upserts.every((r) => r.headers.authorization === `Bearer ${creds.accessToken}`),
      'sent with the OAuth access token',
    ).to.equal(true);
  });

  it('HubSpot: a revoked refresh token parks deliveries; re-authorising by OAuth resumes both, in order', async () => {
    const before = await credentialsOf(hubspotDest);
    // The access token expires and the refresh token is revoked (app uninstalled, or expired).
    hubspot.expireAccessToken(String(before.accessToken));
    hubspot.tokens.refresh.delete(String(before.refreshToken));

    const first = newLeadId();
    const second = newLeadId();
    await send(first, 'first.parked@example.com');
    await waitUntil(async () => (await delivery(first, hubspotDest))?.status === 'parked', 60_000, 'the first delivery parked');
    const parkedDest = await findDestination(hubspotDest);
    expect(parkedDest.status).to.equal('needs_reauth');
    expect(parkedDest.status_reason).to.equal('hubspot_refresh_revoked');
    await send(second, 'second.parked@example.com');
    await waitUntil(async () => (await delivery(second, hubspotDest))?.status === 'parked', 60_000, 'the second delivery parked');
    expect(hubspot.byEmail('first.parked@example.com')).to.equal(undefined);

    // --destination alone: workspace and type come from the destination.
    const link = await connectLink(['--destination', hubspotDest]);
    expect(new URL(link).searchParams.get('destination')).to.equal(hubspotDest);
    const { authorize, state } = await startFlow(link);
    const res = await callback('hubspot', { code: hubspot.issueAuthorizationCode(authorize.searchParams.get('redirect_uri')!), state });
    const html = await res.text();
    expect(res.status, html).to.equal(200);
    expect(html).to.contain('HubSpot reconnected').and.contain(hubspotDest).and.contain('2 waiting leads');

    await waitUntil(
      async () => (await delivery(first, hubspotDest))?.status === 'delivered' && (await delivery(second, hubspotDest))?.status === 'delivered',
      60_000,
      'both resumed deliveries',
    );
    const a = hubspot.byEmail('first.parked@example.com')!;
    const b = hubspot.byEmail('second.parked@example.com')!;
    expect(Number(a.id), 'the older lead reached HubSpot first').to.be.below(Number(b.id));
    const [da, db] = [(await delivery(first, hubspotDest))!, (await delivery(second, hubspotDest))!];
    expect(+new Date(da.delivered_at!)).to.be.at.most(+new Date(db.delivered_at!));

    const after = await findDestination(hubspotDest);
    expect(after).to.include({ status: 'active', status_reason: null });
    expect((await destinations()).length, 'no new destination').to.equal(1);
    const creds = await credentialsOf(hubspotDest);
    expect(creds.refreshToken).to.not.equal(before.refreshToken);
    expect(hubspot.tokens.refresh.has(String(creds.refreshToken))).to.equal(true);
  });

  it('Pipedrive: connect through the consent redirect; calls go to the returned api_domain', async () => {
    const link = await connectLink(['--workspace', ws, '--type', 'pipedrive']);
    const { authorize } = await startFlow(link);
    expect(authorize.origin).to.equal(new URL(pipedrive.url).origin);
    expect(authorize.pathname).to.equal('/oauth/authorize');
    expect(authorize.searchParams.get('client_id')).to.equal(pipedrive.oauth.clientId);

    // The fake's consent page approves at once and redirects back to PUBLIC_URL with code and state.
    const consent = await get(authorize.toString());
    expect(consent.status).to.equal(302);
    const back = consent.headers.get('location')!;
    expect(back.startsWith(`${PUBLIC_URL}/oauth/pipedrive/callback?`), back).to.equal(true);
    const res = await get(back);
    const html = await res.text();
    expect(res.status, html).to.equal(200);
    expect(html).to.contain('Pipedrive connected');
    const dest = (await destinations()).find((d) => d.type === 'pipedrive')!;
    const destId = dest.id;
    expect(html).to.contain(destId);
    expect(dest).to.include({ type: 'pipedrive', workspace_id: ws, status: 'active' });
    const creds = await credentialsOf(destId);
    expect(creds).to.include({ type: 'oauth', apiDomain: pipedrive.url });
    expect(pipedrive.oauth.accessTokens.has(String(creds.accessToken))).to.equal(true);
    expect(html).to.not.contain(String(creds.accessToken)).and.not.contain(String(creds.refreshToken));

    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', destId], env);
    const id = newLeadId();
    await send(id, 'pd.oauth@example.com');
    await waitUntil(async () => (await delivery(id, destId))?.status === 'delivered', 60_000, 'the Pipedrive delivery');
    expect([...pipedrive.leads.values()].filter((l) => l.origin_id === id)).to.have.length(1);
    const created = pipedrive.requests.filter((r) => r.method === 'POST' && r.path === '/v1/leads' && r.status === 201);
    expect(created.map((r) => r.auth)).to.deep.equal(['oauth']);
  });

  it('Salesforce: a sandbox login URL is used for consent, the code exchange (with PKCE) and the destination', async () => {
    const link = await connectLink(['--workspace', ws, '--type', 'salesforce', '--login-url', sfSandbox.url, '--name', 'SF sandbox']);
    const { authorize, state } = await startFlow(link);
    expect(authorize.origin + authorize.pathname).to.equal(`${sfSandbox.url}/services/oauth2/authorize`);
    expect(authorize.searchParams.get('response_type')).to.equal('code');
    expect(authorize.searchParams.get('scope')).to.equal('api refresh_token');
    expect(authorize.searchParams.get('code_challenge_method')).to.equal('S256');
    const challenge = authorize.searchParams.get('code_challenge')!;

    const consent = await get(authorize.toString());
    expect(consent.status).to.equal(302);
    const back = new URL(consent.headers.get('location')!);
    expect(back.searchParams.get('state')).to.equal(state);
    const res = await get(back.toString());
    const html = await res.text();
    expect(res.status, html).to.equal(200);
    expect(html).to.contain('Salesforce connected');

    const tokenCall = sfSandbox.requests.find((r) => r.path === '/services/oauth2/token')!;
    const form = tokenCall.body as Record<string, string>;
    expect(form.grant_type).to.equal('authorization_code');
    expect(form.redirect_uri).to.equal(`${PUBLIC_URL}/oauth/salesforce/callback`);
    expect(computeCodeChallenge(form.code_verifier), 'the verifier matches the challenge').to.equal(challenge);

    const dest = (await destinations()).find((d) => d.type === 'salesforce')!;
    expect(html).to.contain(dest.id);
    expect(dest).to.include({ name: 'SF sandbox', status: 'active' });
    expect(dest.config).to.deep.include({ loginUrl: sfSandbox.url });
    const creds = await credentialsOf(dest.id);
    expect(creds.instanceUrl).to.equal(sfSandbox.url);
    expect(sfSandbox.refreshTokens.has(String(creds.refreshToken))).to.equal(true);

    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', dest.id], env);
    const id = newLeadId();
    await send(id, 'sf.sandbox@example.com');
    await waitUntil(async () => (await delivery(id, dest.id))?.status === 'delivered', 60_000, 'the Salesforce delivery');
    expect(sfSandbox.leadByExternalId(id)?.Email).to.equal('sf.sandbox@example.com');
    expect(sfProduction.requests, 'nothing went to the production login host').to.have.length(0);
  });

  it('refuses unsigned or altered links, bad states, a declined consent and a refused code; nothing is created', async () => {
    const before = (await destinations()).map((d) => d.id);
    const expectPage = async (res: Response, status: number, text: RegExp) => {
      const html = await res.text();
      expect(res.status, html).to.equal(status);
      expect(html).to.match(text);
    };

    await expectPage(await get(`${PUBLIC_URL}/oauth/hubspot/start?workspace=${ws}`), 403, /Not a valid connect link/);
    const link = new URL(await connectLink(['--workspace', ws, '--type', 'hubspot']));
    const altered = new URL(link);
    altered.searchParams.set('name', 'Renamed');
    await expectPage(await get(altered.toString()), 403, /Not a valid connect link/);
    await expectPage(await get(`${PUBLIC_URL}/oauth/zoho/start?workspace=${ws}`), 404, /Unknown CRM/);

    const { state, authorize } = await startFlow(link.toString());
    const redirectUri = authorize.searchParams.get('redirect_uri')!;
    const forged = createOAuthStateSigner(randomBytes(32)).createState({ workspaceId: ws, type: 'hubspot' }, Date.now()).state;
    const [body, sig] = state.split('.');
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    const tampered = `${Buffer.from(JSON.stringify({ ...payload, name: 'Other' })).toString('base64url')}.${sig}`;

    await expectPage(await callback('hubspot', { code: hubspot.issueAuthorizationCode(redirectUri) }), 400, /state parameter is missing, altered/);
    await expectPage(
      await callback('hubspot', { code: hubspot.issueAuthorizationCode(redirectUri), state: forged }),
      400,
      /state parameter is missing, altered/,
    );
    await expectPage(
      await callback('hubspot', { code: hubspot.issueAuthorizationCode(redirectUri), state: tampered }),
      400,
      /state parameter is missing, altered/,
    );
    await expectPage(await callback('pipedrive', { code: 'x', state }), 400, /different CRM/);
    await expectPage(
      await callback('hubspot', { error: 'access_denied', error_description: 'The user denied access', state }),
      400,
      /Access was not allowed in HubSpot/,
    );
    await expectPage(await callback('hubspot', { code: 'not-a-code-hubspot-issued', state }), 400, /HubSpot refused the authorization code/);
    await expectPage(await callback('hubspot', { state }), 400, /sent no authorization code/);

    expect((await destinations()).map((d) => d.id)).to.deep.equal(before);
  });

  it('destinations connect refuses bad input with a one-line reason', async () => {
    const results = await Promise.all([
      runCli(['destinations', 'connect', '--workspace', '00000000-0000-4000-8000-000000000000', '--type', 'hubspot'], env),
      runCli(['destinations', 'connect', '--workspace', ws, '--type', 'hubspot', '--login-url', 'https://test.salesforce.com'], env),
      runCli(['destinations', 'connect', '--workspace', ws, '--type', 'hubspot'], { ...env, HUBSPOT_CLIENT_ID: '' }),
      runCli(['destinations', 'connect', '--workspace', ws, '--type', 'webhook'], env),
      runCli(['destinations', 'connect', '--workspace', ws, '--type', 'pipedrive', '--destination', hubspotDest], env),
    ]);
    const expected = [
      /workspace "0{8}-.*" not found/,
      /--login-url applies only to --type salesforce/,
      /HUBSPOT_CLIENT_ID is not set/,
      /'webhook' is invalid/,
      /is a hubspot destination, not pipedrive/,
    ];
    results.forEach((r, i) => {
      // Commander itself rejects an unknown --type choice (its own exit code); the rest are ours.
      if (i === 3) expect(r.code, r.stderr).to.not.equal(0);
      else expect(r.code, r.stderr).to.equal(2);
      expect(r.stdout).to.equal('');
      const [reason, ...rest] = r.stderr.trim().split('\n');
      expect(reason).to.match(expected[i]);
      // Commander adds this hint under the errors it reports itself (the bad --type choice).
      expect(rest.join('\n'), r.stderr).to.be.oneOf(i === 3 ? ['', '(add --help for usage)'] : ['']);
    });
  });

  it('logs no token, code or client secret', async () => {
    const secrets = [
      ...hubspot.tokens.valid,
      ...hubspot.tokens.refresh.keys(),
      ...pipedrive.oauth.accessTokens.keys(),
      ...pipedrive.oauth.refreshTokens,
      ...sfSandbox.validAccessTokens,
      ...sfSandbox.refreshTokens.keys(),
      'hs-secret',
      'sf-secret',
      pipedrive.oauth.clientSecret,
    ];
    expect(secrets.length).to.be.greaterThan(4);
    const output = program.output();
    expect(output, 'the program logged at info level').to.match(/destination (connected|re-authorised) by OAuth/);
    for (const secret of secrets) expect(output).to.not.contain(secret);
    // Authorization codes of both fakes.
    expect(output).to.not.match(/fake-code-|code-[0-9a-f]{48}|aPrx/);
  });
});

// Adding a CRM is one folder plus one registry line: the real program, given the test-only
// Echo CRM (test/fixtures/connectors/echo-crm) through LEADRELAY_EXTRA_CONNECTORS and nothing
// else, takes its flags in `destinations add` / `reauth`, connects it by OAuth (connect link →
// consent → callback) and delivers leads to its loopback fake, all from its manifest.
import { expect } from 'chai';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { destinationAad } from '../../src/pipeline/lead-record.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeEchoCrm, type FakeEchoCrm } from '../fixtures/connectors/echo-crm/fake.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { baseEnv, cli, flushPrefix, postLeadgen, runCli, startProgram, TEST_APP_SECRET, TEST_KEYS, waitUntil, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The compiled manifest of the test-only connector. */
const ECHO_MODULE = resolve(here, '../fixtures/connectors/echo-crm/manifest.js');
const PUBLIC_URL = 'https://relay.leadrelay.test';
const PAGE = '1000000009';
const FORM = '2000000009';
const PAGE_TOKEN = 'EAAB-echo-page-token';
const KEY_1 = 'echo-key-first-0001';
const KEY_2 = 'echo-key-second-0002';
const LEAD_ID = '7500000000000000001';

const keyRing = new KeyRing(TEST_KEYS.split(',').map((entry) => ({ kid: entry.split(':')[0], key: Buffer.from(entry.split(':')[1], 'base64') })));

describe('e2e: a CRM connector from outside connectors/ (LEADRELAY_EXTRA_CONNECTORS)', function () {
  this.timeout(120_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let echo: FakeEchoCrm;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let ws: string;
  let keyDest: string;
  let oauthDest: string;

  /** What a browser at PUBLIC_URL reaches is the program on its loopback port. */
  const get = (url: string) => fetch(url.startsWith(PUBLIC_URL) ? `${program.url}${url.slice(PUBLIC_URL.length)}` : url, { redirect: 'manual' });
  const findDestination = (id: string) => dbh.db.selectFrom('destinations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const credentialsOf = async (id: string) =>
    keyRing.decryptJson<Record<string, string>>((await findDestination(id)).credentials_envelope!, destinationAad(id));
  const delivery = (destinationId: string) =>
    dbh.db
      .selectFrom('deliveries')
      .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
      .selectAll('deliveries')
      .where('leads.leadgen_id', '=', LEAD_ID)
      .where('deliveries.destination_id', '=', destinationId)
      .executeTakeFirst();

  before(async () => {
    schema = await createTestSchema('extra_connector');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    echo = await startFakeEchoCrm({ apiKeys: [KEY_1, KEY_2] });
    env = baseEnv({
      DATABASE_URL: schema.url,
      META_GRAPH_URL: graph.url,
      PUBLIC_URL,
      LEADRELAY_EXTRA_CONNECTORS: ECHO_MODULE,
      ECHO_CRM_API_URL: echo.url,
      ECHO_CRM_CLIENT_ID: echo.clientId,
      ECHO_CRM_CLIENT_SECRET: echo.clientSecret,
      // Info lines too, so the last test can check that no log line holds a secret.
      LOG_LEVEL: 'info',
    });
    graph.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Echo form',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
        { key: 'phone_number', type: 'PHONE', label: 'Phone' },
        { key: 'budget', label: 'Budget' },
      ],
    });
    graph.setPageToken(PAGE, PAGE_TOKEN);
    ws = await cli(['workspaces', 'create', '--name', 'Echo'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
  });
  after(async () => {
    await program?.kill();
    await dbh?.close();
    await Promise.all([graph?.close(), echo?.close()]);
    if (env) await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('destinations add and reauth take the flags its manifest declares, refusing a missing or bad one in one line', async () => {
    const help = (await cli(['destinations', 'add', '--help'], env)).replace(/\s+/g, ' ');
    expect(help)
      .to.contain('"echo-crm"')
      .and.contain('--echo-key <key> echo-crm: API key')
      .and.contain('--echo-space <space> echo-crm: space the records go to');

    const missing = await runCli(['destinations', 'add', '--workspace', ws, '--type', 'echo-crm', '--echo-space', 'sales'], env);
    expect(missing.code).to.equal(2);
    expect(missing.stderr.trim()).to.equal(
      'error: --echo-key is required for --type echo-crm: give it with --echo-key-file <path>, --echo-key-stdin or LEADRELAY_ECHO_KEY',
    );
    const short = await runCli(['destinations', 'add', '--workspace', ws, '--type', 'echo-crm'], { ...env, LEADRELAY_ECHO_KEY: 'k-shrt' });
    expect(short.code).to.equal(2);
    expect(short.stderr.trim()).to.equal('error: invalid echo-crm credentials: LEADRELAY_ECHO_KEY: the API key has at least 8 characters');

    keyDest = await cli(['destinations', 'add', '--workspace', ws, '--type', 'echo-crm', '--echo-key', KEY_1, '--echo-space', 'sales'], env);
    const row = await findDestination(keyDest);
    expect(row).to.include({ type: 'echo-crm', name: 'Echo CRM', status: 'active' });
    expect(row.config).to.deep.equal({ space: 'sales' });
    expect(row.credentials_envelope)
      .to.match(/^lr1\./)
      .and.not.contain(KEY_1);
    expect(await credentialsOf(keyDest)).to.deep.equal({ type: 'api_key', apiKey: KEY_1 });

    const reauth = await runCli(['destinations', 'reauth', keyDest, '--echo-key', KEY_2], env);
    expect(reauth.code, reauth.stderr).to.equal(0);
    expect(reauth.stdout.trim()).to.equal('credentials replaced; resumed 0 parked deliveries');
    expect(await credentialsOf(keyDest)).to.deep.equal({ type: 'api_key', apiKey: KEY_2 });
    expect((await findDestination(keyDest)).config, 'config flags left out are kept').to.deep.equal({ space: 'sales' });
  });

  it('connects by OAuth: the link leads to consent with PKCE, and the callback (with its account parameter) creates the destination', async () => {
    const link = await cli(['destinations', 'connect', '--workspace', ws, '--type', 'echo-crm'], env);
    expect(link.startsWith(`${PUBLIC_URL}/oauth/echo-crm/start?`), link).to.equal(true);

    const start = await get(link);
    expect(start.status, await start.clone().text()).to.equal(302);
    const authorize = new URL(start.headers.get('location')!);
    expect(authorize.origin + authorize.pathname).to.equal(`${echo.url}/oauth/authorize`);
    expect(authorize.searchParams.get('client_id')).to.equal(echo.clientId);
    expect(authorize.searchParams.get('redirect_uri')).to.equal(`${PUBLIC_URL}/oauth/echo-crm/callback`);
    expect(authorize.searchParams.get('code_challenge_method')).to.equal('S256');

    // The fake's consent page approves at once and sends the browser back with code, state and account.
    const consent = await get(authorize.toString());
    expect(consent.status).to.equal(302);
    const back = new URL(consent.headers.get('location')!);
    expect(back.searchParams.get('account')).to.equal(echo.account);
    const res = await get(back.toString());
    const html = await res.text();
    expect(res.status, html).to.equal(200);
    expect(html).to.contain('Echo CRM connected');

    const created = (await dbh.db.selectFrom('destinations').selectAll().where('workspace_id', '=', ws).where('id', '!=', keyDest).execute())[0];
    oauthDest = created.id;
    expect(html).to.contain(oauthDest);
    expect(created).to.include({ type: 'echo-crm', name: `Echo CRM (${echo.account})`, status: 'active' });
    const creds = await credentialsOf(oauthDest);
    expect(creds).to.include({ type: 'oauth', account: echo.account });
    expect(echo.accessTokens.has(creds.accessToken)).to.equal(true);
    expect(html).to.not.contain(creds.accessToken).and.not.contain(creds.refreshToken);
  });

  it("delivers a lead to both destinations, mapped by the preset its manifest names, refreshing an expired token through the manifest's refresh", async () => {
    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', keyDest], env);
    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', oauthDest], env);
    const before = await credentialsOf(oauthDest);
    echo.expireAccessTokens();

    graph.addLead({
      id: LEAD_ID,
      form_id: FORM,
      page_id: PAGE,
      field_data: [
        { name: 'full_name', values: ['Aiko Tanaka'] },
        { name: 'email', values: ['aiko@example.com'] },
        { name: 'phone_number', values: ['+44 7700 900123'] },
        { name: 'budget', values: ['5000'] },
      ],
      platform: 'fb',
    });
    expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: LEAD_ID })).status).to.equal(200);
    await waitUntil(
      async () => (await delivery(keyDest))?.status === 'delivered' && (await delivery(oauthDest))?.status === 'delivered',
      20_000,
      'both Echo CRM deliveries',
    );

    const records = [...echo.records.values()].filter((r) => r.leadgenId === LEAD_ID);
    expect(records.map((r) => r.by).sort()).to.deep.equal([`account:${echo.account}`, `key:${KEY_2.slice(0, 4)}`]);
    for (const r of records) {
      expect(r.fields).to.deep.equal({ email: 'aiko@example.com', full_name: 'Aiko Tanaka', phone: '+447700900123', notes: 'Budget: 5000' });
    }
    expect(records.find((r) => r.by.startsWith('key:'))!.space).to.equal('sales');
    expect((await delivery(oauthDest))!.external_id).to.equal(records.find((r) => r.by.startsWith('account:'))!.id);

    const after = await credentialsOf(oauthDest);
    expect(after.accessToken, 'the refreshed token was stored').to.not.equal(before.accessToken);
    expect(echo.accessTokens.has(after.accessToken)).to.equal(true);
    expect(echo.requests.filter((r) => r.path === '/oauth/token' && r.status === 200)).to.have.length(2);
  });

  it('is unknown without LEADRELAY_EXTRA_CONNECTORS, and the variable is refused in production', async () => {
    const { LEADRELAY_EXTRA_CONNECTORS: _, ...without } = env;
    const unknown = await runCli(['destinations', 'add', '--workspace', ws, '--type', 'echo-crm', '--echo-key', KEY_1], without);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.match(/'echo-crm' is invalid|unknown option '--echo-key'/);

    const production = await runCli(['workspaces', 'list'], { ...env, NODE_ENV: 'production' });
    expect(production.code).to.equal(2);
    expect(production.stdout).to.equal('');
    expect(production.stderr).to.contain('LEADRELAY_EXTRA_CONNECTORS: is for tests and is refused with NODE_ENV=production');
  });

  it('logs no API key, token, code or client secret', async () => {
    const secrets = [KEY_1, KEY_2, echo.clientSecret, ...echo.accessTokens.keys(), ...echo.refreshTokens.keys()];
    const output = program.output();
    expect(output, 'the program logged at info level').to.match(/destination connected by OAuth/);
    for (const secret of secrets) expect(output).to.not.contain(secret);
    expect(output).to.not.match(/echo-code-[0-9a-f]{24}/);
  });
});

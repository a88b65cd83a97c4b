// End to end through the real program: data-subject requests and the workspace export. Two
// people send several leads each through the pipeline to a webhook receiver and HubSpot (loopback
// fakes). A person's export holds exactly their leads (JSON and CSV); a correction is delivered
// again; an erasure leaves no trace of their email or phone in any text or JSON column of any
// table (a scan of the whole schema proves it), erases them in HubSpot, and leaves the other
// person as they were; the workspace export holds the expected files and no token or secret.
import { createGunzip } from 'node:zlib';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { expect } from 'chai';
import tar from 'tar-stream';
import { SESSION_COOKIE } from '../../src/api/session-cookie.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { parseCsvRows } from '../helpers/csv.js';
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
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PAGE = '1000000701';
const FORM = '2000000701';
const PAGE_TOKEN = 'EAAB-data-requests-page-token';
const HUBSPOT_TOKEN = 'pat-e2e-data-requests-0001';
const RECEIVER_SECRET = 'data-requests-receiver-secret';

/** How each person typed their details, and the forms LeadRelay compares them in. */
const ANN = {
  name: 'Annika Quarry',
  email: 'Annika.Quarry@Example.COM',
  phone: '+1 (415) 555-0123',
  forms: ['Annika.Quarry@Example.COM', 'annika.quarry@example.com', '+1 (415) 555-0123', '+14155550123', '14155550123', '4155550123', '415 555 0123'],
};
const BOB = { name: 'Bertram Stays', email: 'bertram.stays@example.com', phone: '+44 7700 900456' };

interface Session {
  cookie: string;
  csrf: string;
}

describe('e2e: data-subject requests and the workspace export', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let hubspot: FakeHubspot;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let dataDir: string;
  let workspaceId: string;
  let hookId: string;
  let hubspotId: string;
  let owner: Session;
  let adminKey: string;
  const leadsOf: Record<'ann' | 'bob', string[]> = { ann: [], bob: [] };
  let nextLeadgen = 9_700_000_000_000_000_000n;

  const api = async (method: string, path: string, auth: { key?: string; session?: Session }, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth.key) headers.authorization = `Bearer ${auth.key}`;
    if (auth.session) {
      headers.cookie = auth.session.cookie;
      headers['x-csrf-token'] = auth.session.csrf;
    }
    return fetch(`${program.url}/api/v1/workspaces/${workspaceId}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  const deliveriesOf = (leadgenId: string) =>
    dbh.db
      .selectFrom('deliveries')
      .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
      .select(['deliveries.status', 'deliveries.destination_id', 'leads.id as lead_id'])
      .where('leads.leadgen_id', '=', leadgenId)
      .execute();

  /** A lead of a person through the whole pipeline, settled at both destinations. */
  async function sendLead(person: typeof BOB): Promise<string> {
    const id = String(nextLeadgen++);
    graph.addLead({
      id,
      form_id: FORM,
      page_id: PAGE,
      field_data: [
        { name: 'full_name', values: [person.name] },
        { name: 'email', values: [person.email] },
        { name: 'phone_number', values: [person.phone] },
      ],
      platform: 'fb',
      is_organic: false,
    });
    expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: id })).status).to.equal(200);
    const settled = await waitUntil(
      async () => {
        const ds = await deliveriesOf(id);
        return ds.length === 2 && ds.every((d) => d.status === 'delivered' || d.status === 'dead') && ds;
      },
      60_000,
      `lead ${id} delivered`,
    );
    return settled[0]!.lead_id;
  }

  async function signIn(email: string, password: string): Promise<Session> {
    const res = await fetch(`${program.url}/api/v1/auth/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { csrf_token: string };
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .find((pair) => pair.split('=')[0]!.endsWith(SESSION_COOKIE))!;
    return { cookie, csrf: body.csrf_token };
  }

  /** Legacy copies of a person's data, as rows stored before write-time redaction held them. */
  async function storeLegacyCopies(leadId: string, person: typeof BOB) {
    const [delivery] = await dbh.db.selectFrom('deliveries').select(['id', 'workspace_id']).where('lead_id', '=', leadId).execute();
    await dbh.db
      .updateTable('deliveries')
      .set({ last_error_message: `Contact already exists: ${person.email}` })
      .where('id', '=', delivery!.id)
      .execute();
    await dbh.db
      .insertInto('delivery_attempts')
      .values({
        workspace_id: delivery!.workspace_id,
        delivery_id: delivery!.id,
        attempt: 99,
        started_at: new Date(),
        finished_at: new Date(),
        outcome: 'retry',
        message: `${person.name} <${person.email}> ${person.phone}`,
        response_body: JSON.stringify({ email: person.email, phone: person.phone }),
      })
      .execute();
  }

  before(async () => {
    schema = await createTestSchema('e2e');
    dataDir = await mkdtemp(join(tmpdir(), 'leadrelay-e2e-dsr-'));
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    hubspot = await startFakeHubspot({ accessTokens: [HUBSPOT_TOKEN] });
    receiver = await startFakeReceiver({ secret: RECEIVER_SECRET });
    env = baseEnv({
      DATABASE_URL: schema.url,
      DATA_DIR: dataDir,
      META_GRAPH_URL: graph.url,
      HUBSPOT_API_URL: hubspot.url,
      DELIVERY_TIMEOUT_MS: '10000',
      DELIVERY_MAX_ATTEMPTS: '1',
      API_RATE_LIMIT_PER_MINUTE: '100000',
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
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Quarry Bikes');
    workspaceId = await cli(['workspaces', 'create', '--name', 'Quarry'], env);
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--token', PAGE_TOKEN, '--name', 'Quarry Bikes'], env);
    hookId = await cli(
      [
        'destinations',
        'add',
        '--workspace',
        workspaceId,
        '--type',
        'webhook',
        '--url',
        `${receiver.url}/leads`,
        '--secret',
        RECEIVER_SECRET,
        '--name',
        'Sales hook',
      ],
      env,
    );
    hubspotId = await cli(['destinations', 'add', '--workspace', workspaceId, '--type', 'hubspot', '--token', HUBSPOT_TOKEN, '--name', 'HubSpot EU'], env);
    for (const d of [hookId, hubspotId]) await cli(['routes', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--destination', d], env);
    const ownerEmail = await createOwner(env);
    adminKey = JSON.parse(await cli(['api-keys', 'create', '--workspace', workspaceId, '--name', 'dsr admin', '--role', 'admin', '--json'], env)).secret;
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    owner = await signIn(ownerEmail, OWNER_PASSWORD);

    // Ann's first lead: the receiver refuses it quoting her (stored redacted); then three more leads each.
    receiver.respondWith([{ status: 400, body: JSON.stringify({ message: `Invalid address ${ANN.email} for ${ANN.name}` }) }]);
    leadsOf.ann.push(await sendLead(ANN));
    for (let i = 0; i < 2; i++) leadsOf.ann.push(await sendLead(ANN));
    for (let i = 0; i < 2; i++) leadsOf.bob.push(await sendLead(BOB));
    await storeLegacyCopies(leadsOf.ann[1]!, ANN);
    await storeLegacyCopies(leadsOf.bob[0]!, BOB);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && process.env.E2E_DEBUG) console.error(program?.output().slice(-6000));
  });

  after(async () => {
    await program?.kill();
    await dbh?.close();
    await Promise.all([graph?.close(), hubspot?.close(), receiver?.close()]);
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("stores the receiver's refusal without the person's address or name", async () => {
    const [d] = await dbh.db
      .selectFrom('deliveries')
      .select(['status', 'last_error_message'])
      .where('lead_id', '=', leadsOf.ann[0]!)
      .where('destination_id', '=', hookId)
      .execute();
    expect(d!.status).to.equal('dead');
    expect(d!.last_error_message).to.contain('[redacted]').and.not.contain('Quarry').and.not.contain('Annika');
  });

  it("a person's export holds exactly their leads, with answers and where each went, as JSON and CSV", async () => {
    const res = await api('GET', `/data-requests/export?email=${encodeURIComponent(' annika.quarry@example.com ')}`, { key: adminKey });
    expect(res.status).to.equal(200);
    const receiptId = res.headers.get('x-leadrelay-receipt');
    const body = (await res.json()) as {
      receipt: { id: string; kind: string };
      leads: {
        id: string;
        answers: { key: string; values: string[] }[];
        deliveries: { destination: { name: string; type: string }; external_id: string | null }[];
      }[];
    };
    expect(body.receipt).to.include({ id: receiptId, kind: 'export' });
    expect(body.leads.map((l) => l.id).sort()).to.deep.equal([...leadsOf.ann].sort());
    for (const l of body.leads) {
      expect(l.answers).to.deep.include({ key: 'email', label: 'Email', values: [ANN.email] });
      expect(l.deliveries.map((d) => `${d.destination.type}:${d.destination.name}`).sort()).to.deep.equal(['hubspot:HubSpot EU', 'webhook:Sales hook']);
      expect(l.deliveries.find((d) => d.destination.type === 'hubspot')!.external_id).to.equal(hubspot.byEmail(ANN.email)!.id);
    }

    const csv = await api('GET', `/data-requests/export?phone=${encodeURIComponent('+1 415 555 0123')}&format=csv`, { key: adminKey });
    expect(csv.status).to.equal(200);
    expect(csv.headers.get('content-type')).to.match(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).to.match(/^attachment; filename="leadrelay-data-subject-/);
    const rows = parseCsvRows(await csv.text());
    expect([...new Set(rows.map((r) => r.lead_id))].sort()).to.deep.equal([...leadsOf.ann].sort());
    expect(rows, 'one row per lead and delivery').to.have.length(6);
    expect(rows.every((r) => r['answer:email'] === ANN.email && r['answer:full_name'] === ANN.name)).to.equal(true);

    // The CLI finds the same leads, and says nothing of the address.
    const found = await runCli(['leads', 'find', '--workspace', workspaceId, '--email', ANN.email, '--json'], env);
    expect(found.code).to.equal(0);
    expect((JSON.parse(found.stdout) as { leads: { id: string }[] }).leads.map((l) => l.id).sort()).to.deep.equal([...leadsOf.ann].sort());
    for (const v of ANN.forms) expect(found.stdout + found.stderr).to.not.contain(v);
  });

  it('a correction is stored and delivered again', async () => {
    const res = await api(
      'POST',
      '/data-requests/correct',
      { key: adminKey },
      {
        email: BOB.email,
        lead_id: leadsOf.bob[1],
        answers: [{ key: 'full_name', values: ['Bertram Corrected'] }],
        redeliver: true,
      },
    );
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { leads: string[] }).leads).to.deep.equal([leadsOf.bob[1]]);
    await receiver.waitFor(
      (r) => r.received.some((q) => isAccepted(q) && q.body?.answers?.some((a: { key: string; values: string[] }) => a.values[0] === 'Bertram Corrected')),
      60_000,
    );
    await waitUntil(async () => hubspot.byEmail(BOB.email)?.properties.lastname === 'Corrected', 60_000, 'HubSpot updated');
  });

  it("erasure leaves no trace of the person's email or phone in any table, erases them in HubSpot, and leaves the other person as they were", async () => {
    const res = await api('POST', '/data-requests/erase', { session: owner }, { phone: '+14155550123', in_crm: true });
    expect(res.status).to.equal(200);
    const { receipt } = (await res.json()) as { receipt: { status: string; counts: { leads: number; crm: { type: string; outcome: string }[] } } };
    expect(receipt.status).to.equal('done');
    expect(receipt.counts.leads).to.equal(3);
    expect(receipt.counts.crm.map((c) => `${c.type}:${c.outcome}`).sort()).to.deep.equal(['hubspot:erased', 'webhook:unsupported']);
    expect(hubspot.byEmail(ANN.email)).to.equal(undefined);
    expect(hubspot.byEmail(BOB.email)).to.not.equal(undefined);

    // Every text, character, JSON and array column of every table of the schema.
    const { rows: columns } = await dbh.pool.query<{ table_name: string; column_name: string }>(
      `select c.table_name, c.column_name from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
       where c.table_schema = current_schema() and c.data_type in ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY')`,
    );
    expect(columns.length).to.be.greaterThan(50);
    const scan = async (needles: string[]) => {
      const hits: string[] = [];
      for (const { table_name: t, column_name: c } of columns)
        for (const needle of needles) {
          const { rows } = await dbh.pool.query<{ n: number }>(`select count(*)::int as n from "${t}" where position(lower($1) in lower("${c}"::text)) > 0`, [
            needle,
          ]);
          if (rows[0]!.n > 0) hits.push(`${t}.${c}`);
        }
      return hits;
    };
    expect(await scan([...ANN.forms, ANN.name])).to.deep.equal([]);
    // The scan finds what is there: the other person's legacy copies were left alone.
    expect(await scan([BOB.email])).to.include.members(['deliveries.last_error_message', 'delivery_attempts.message']);
    for (const v of ANN.forms) expect(program.output(), 'the program logged nothing of hers').to.not.contain(v);

    // The other person keeps their leads and answers.
    const bob = await api('GET', `/data-requests/export?email=${encodeURIComponent(BOB.email)}`, { key: adminKey });
    const bobLeads = ((await bob.json()) as { leads: { id: string; answers: unknown[] | null }[] }).leads;
    expect(bobLeads.map((l) => l.id).sort()).to.deep.equal([...leadsOf.bob].sort());
    expect(bobLeads.every((l) => Array.isArray(l.answers) && l.answers.length === 3)).to.equal(true);
    // Her leads stay as tombstones.
    const tombstones = await dbh.db.selectFrom('leads').select(['answers_envelope', 'erased_at', 'form_id']).where('id', 'in', leadsOf.ann).execute();
    expect(tombstones.map((l) => [l.answers_envelope, l.erased_at !== null, l.form_id])).to.deep.equal(leadsOf.ann.map(() => [null, true, FORM]));
  });

  it('leads list --json prints no email from stored messages', async () => {
    const out = await cli(['leads', 'list', '--workspace', workspaceId, '--json'], env);
    expect(out).to.contain(leadsOf.bob[0]!);
    expect(out).to.not.contain(BOB.email);
  });

  it('the workspace export archive holds every table and leads.csv, with no token or secret', async () => {
    const refused = await api('POST', '/exports', { key: adminKey });
    expect(refused.status, 'an admin key is not an owner').to.equal(403);
    const started = await api('POST', '/exports', { session: owner });
    expect(started.status).to.equal(202);
    const job = (await started.json()) as { id: string };
    const done = await waitUntil(
      async () => {
        const r = (await (await api('GET', `/exports/${job.id}`, { session: owner })).json()) as {
          status: string;
          progress: number;
          done: number;
          total: number;
        };
        return r.status === 'done' && r;
      },
      60_000,
      'the export',
    );
    expect(done.progress).to.equal(1);
    expect(done.done).to.be.greaterThan(0);
    const files = await readdir(join(dataDir, 'exports'));
    expect(files).to.deep.equal([`${job.id}.tar.gz`]);
    expect((await stat(join(dataDir, 'exports', files[0]!))).mode & 0o777).to.equal(0o600);

    const download = await api('GET', `/exports/${job.id}/download`, { session: owner });
    expect(download.status).to.equal(200);
    expect(download.headers.get('content-type')).to.equal('application/gzip');
    const entries = new Map<string, string>();
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        entries.set(header.name, Buffer.concat(chunks).toString('utf8'));
        next();
      });
    });
    await pipeline(Readable.fromWeb(download.body as never), createGunzip(), extract);
    expect([...entries.keys()].sort()).to.deep.equal(
      [
        'manifest.json',
        'workspace.json',
        'members.json',
        'api_keys.json',
        'pages.json',
        'page_checks.json',
        'facebook_connections.json',
        'destinations.json',
        'routes.json',
        'mappings.json',
        'forms.json',
        'leads.json',
        'leads.csv',
        'deliveries.json',
        'delivery_attempts.json',
        'leadgen_events.json',
        'audit_log.json',
        'data_requests.json',
      ].sort(),
    );
    const leads = JSON.parse(entries.get('leads.json')!) as { id: string; answers: { key: string; values: string[] }[] | null }[];
    expect(leads.map((l) => l.id).sort()).to.deep.equal([...leadsOf.ann, ...leadsOf.bob].sort());
    expect(leads.find((l) => l.id === leadsOf.bob[0])!.answers).to.deep.include({ key: 'email', label: 'Email', values: [BOB.email] });
    expect(leads.find((l) => l.id === leadsOf.ann[0])!.answers, 'erased answers stay erased').to.equal(null);
    expect(parseCsvRows(entries.get('leads.csv')!).filter((r) => r.lead_id === leadsOf.bob[0])).to.have.length(2);
    expect(
      JSON.parse(entries.get('destinations.json')!)
        .map((d: { name: string }) => d.name)
        .sort(),
    ).to.deep.equal(['HubSpot EU', 'Sales hook']);

    // No secret, in clear or encrypted, anywhere in the archive.
    const envelopes = [
      ...(await dbh.db.selectFrom('pages').select('token_envelope as v').execute()),
      ...(await dbh.db.selectFrom('destinations').select('credentials_envelope as v').execute()),
      ...(await dbh.db.selectFrom('api_keys').select('key_hash as v').execute()),
      ...(await dbh.db.selectFrom('users').select('password_hash as v').execute()),
      ...(await dbh.db.selectFrom('user_sessions').select('id_hash as v').execute()),
    ]
      .map((r) => r.v)
      .filter((v): v is string => typeof v === 'string');
    const secrets = [PAGE_TOKEN, HUBSPOT_TOKEN, RECEIVER_SECRET, adminKey, OWNER_PASSWORD, owner.cookie.split('=')[1]!, ...envelopes];
    const archive = [...entries.values()].join('\n');
    expect(secrets.filter((s) => archive.includes(s))).to.deep.equal([]);
    for (const v of ANN.forms) expect(archive).to.not.contain(v);

    const audit = await dbh.db.selectFrom('audit_log').select(['action', 'details']).where('target_id', '=', job.id).orderBy('id').execute();
    expect(audit.map((a) => a.action)).to.deep.equal(['startWorkspaceExport', 'downloadWorkspaceExport']);
    expect(audit[1]!.details).to.deep.include({ reads: 'lead_answers' });
  });
});

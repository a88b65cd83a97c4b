// Tenant isolation, proven against the real binary: every workspace operation of the served
// OpenAPI document is called on workspace A, with A's real resource ids in its path and a
// minimal valid body built from its request schema, by
//   - an admin API key of workspace B and a signed-in owner of B: 404 (or 403), and the answer
//     is a bare problem that names nothing of A's the request did not already carry;
//   - a viewer key of A, for every operation whose permission a viewer lacks: 403.
// The walk reads the document, so an operation added later is walked without touching this file.
// Failures name the operation and the caller, never a key, a cookie or a body.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { hashPassword } from '../../src/accounts/passwords.js';
import { allows, type Permission } from '../../src/accounts/permissions.js';
import { insertUser, upsertMembership } from '../../src/accounts/store.js';
import { SESSION_COOKIE } from '../../src/api/session-cookie.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import * as repo from '../../src/store/repos.js';
import { baseEnv, cli, removeQueues, startProgram, type RunningProgram } from '../helpers/e2e.js';
import { makeBareLeadRow } from '../helpers/rows.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

type JsonSchema = Record<string, any>;
interface OpenApiDoc {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}
interface OpenApiOperation {
  operationId: string;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  'x-leadrelay-access'?: { kind: string; permission?: Permission };
}

/** One workspace's rows: its ids by path parameter name, and every id and name it must not leak. */
interface Tenant {
  workspaceId: string;
  params: Record<string, string>;
  /** Every identifier and name of the workspace's data, to look for in another caller's answers. */
  marks: string[];
  /** An owner signed in through the API: the session cookie (name=value) and its CSRF token. */
  session: { cookie: string; csrf: string };
  adminKey: string;
  viewerKey: string;
}

/** A path parameter nobody in this test has (an id of a kind the test made no row of): a well-formed unknown uuid. */
const UNKNOWN_ID = '00000000-0000-4000-8000-00000000abcd';
const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const PROBLEM_KEYS = ['type', 'title', 'status', 'detail', 'instance', 'errors'];

/** A minimal value the schema accepts: required properties only, first enum member, smallest number. */
function sampleOf(schema: JsonSchema | undefined, doc: OpenApiDoc, depth = 0): unknown {
  if (!schema || depth > 10) return undefined;
  if (schema.$ref) return sampleOf(doc.components?.schemas?.[String(schema.$ref).split('/').pop()!], doc, depth + 1);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (schema.default !== undefined) return schema.default;
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (Array.isArray(alternatives)) return sampleOf(alternatives.find((s: JsonSchema) => s.type !== 'null') ?? alternatives[0], doc, depth + 1);
  if (Array.isArray(schema.allOf)) return Object.assign({}, ...schema.allOf.map((s: JsonSchema) => sampleOf(s, doc, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
  switch (type ?? (schema.properties ? 'object' : undefined)) {
    case 'object':
      return Object.fromEntries((schema.required ?? []).map((k: string) => [k, sampleOf(schema.properties?.[k], doc, depth + 1)]));
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () => sampleOf(schema.items, doc, depth + 1));
    case 'string':
      if (schema.format === 'uuid') return UNKNOWN_ID;
      if (schema.format === 'email') return 'someone@example.com';
      if (schema.format === 'uri' || schema.format === 'url') return 'https://example.com/';
      if (schema.format === 'date-time') return new Date().toISOString();
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer':
    case 'number':
      return schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 1);
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return undefined;
  }
}

describe('e2e: tenant isolation over every workspace operation of the OpenAPI document', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let doc: OpenApiDoc;
  let a: Tenant;
  let b: Tenant;

  /** A workspace with a page, a webhook destination, a route, a lead with a delivery, keys and an owner, all named after `tag`. */
  async function makeTenant(tag: string, pageId: string): Promise<Tenant> {
    const name = `Workspace ${tag}`;
    const workspaceId = await cli(['workspaces', 'create', '--name', name], env);
    const pageName = `Page of ${tag}`;
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', pageId, '--token', `EAAB-token-${tag}`, '--name', pageName, '--skip-check'], env);
    const destinationName = `hook-${tag}`;
    const destinationId = await cli(
      ['destinations', 'add', '--workspace', workspaceId, '--type', 'webhook', '--url', `http://127.0.0.1:9/${destinationName}`, '--name', destinationName],
      env,
    );
    await cli(['routes', 'add', '--workspace', workspaceId, '--page-id', pageId, '--destination', destinationId], env);
    const route = (await dbh.db.selectFrom('routes').selectAll().where('workspace_id', '=', workspaceId).executeTakeFirstOrThrow()).id;
    const page = await dbh.db.selectFrom('pages').selectAll().where('workspace_id', '=', workspaceId).executeTakeFirstOrThrow();
    const leadgenId = `${pageId}77`;
    const lead = await repo.insertLead(dbh.db, makeBareLeadRow(workspaceId, leadgenId, pageId));
    const [delivery] = await repo.ensureDeliveries(dbh.db, [{ workspaceId, leadId: lead.id, destinationId, routeId: route }]);
    const keyOf = async (role: string) => {
      const out = JSON.parse(await cli(['api-keys', 'create', '--workspace', workspaceId, '--name', `${role} key of ${tag}`, '--role', role, '--json'], env));
      return out as { id: string; secret: string };
    };
    const admin = await keyOf('admin');
    const viewer = await keyOf('viewer');
    const email = `owner-${tag.toLowerCase()}@example.com`;
    const password = `password of ${tag} owner`;
    const user = await insertUser(dbh.db, { email, name: `Owner ${tag}`, passwordHash: await hashPassword(password) });
    await upsertMembership(dbh.db, { userId: user.id, workspaceId, role: 'owner' });
    const session = await signIn(email, password);
    // An alert channel (the API answers 503 until an owner exists, so after the owner).
    const channel = await fetch(`${program.url}/api/v1/workspaces/${workspaceId}/alert-channels`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'webhook', url: `http://127.0.0.1:9/alerts-${tag}`, name: `alerts of ${tag}` }),
    });
    const channelId = ((await channel.json()) as { channel: { id: string } }).channel.id;
    // The owner's Facebook login (Connect Facebook); its token is never read by this walk.
    const connectionId = randomUUID();
    await dbh.db
      .insertInto('facebook_connections')
      .values({
        id: connectionId,
        workspace_id: workspaceId,
        user_id: user.id,
        fb_user_id: `${pageId}55`,
        name: `Facebook of ${tag}`,
        token_envelope: 'not-read',
      })
      .execute();
    // A data-subject request's receipt and a workspace export (no file: only its row is looked up).
    const { id: requestId } = await dbh.db
      .insertInto('data_requests')
      .values({ workspace_id: workspaceId, kind: 'find', subject_kind: 'email', subject_hash: 'f'.repeat(64), requested_by_type: 'user', requested_by: email })
      .returning('id')
      .executeTakeFirstOrThrow();
    const { id: exportId } = await dbh.db
      .insertInto('export_jobs')
      .values({ workspace_id: workspaceId, requested_by: email })
      .returning('id')
      .executeTakeFirstOrThrow();
    const params: Record<string, string> = {
      workspaceId,
      pageId,
      destinationId,
      routeId: route,
      leadId: lead.id,
      deliveryId: delivery!.id,
      keyId: admin.id,
      apiKeyId: admin.id,
      userId: user.id,
      memberId: user.id,
      connectionId,
      channelId,
      // A lead form of the page (forms live on Facebook; no row names them).
      formId: `${pageId}99`,
      requestId,
      exportId,
    };
    const marks = [
      workspaceId,
      name,
      pageId,
      page.id,
      pageName,
      destinationId,
      destinationName,
      route,
      lead.id,
      leadgenId,
      delivery!.id,
      admin.id,
      viewer.id,
      user.id,
      email,
      connectionId,
      `Facebook of ${tag}`,
      requestId,
      exportId,
      channelId,
      `alerts of ${tag}`,
    ];
    return { workspaceId, params, marks, session, adminKey: admin.secret, viewerKey: viewer.secret };
  }

  /** Signs in through the API, as a browser does: the session cookie it sets and the CSRF token it answers. */
  async function signIn(email: string, password: string): Promise<Tenant['session']> {
    const res = await fetch(`${program.url}/api/v1/auth/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    expect(res.status, `signing in as ${email}`).to.equal(200);
    const body = (await res.json()) as { csrf_token: string; mfa_required: boolean };
    expect(body.mfa_required, `${email} needs no second factor`).to.equal(false);
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .find((pair) => pair.split('=')[0]!.endsWith(SESSION_COOKIE));
    expect(cookie, `the session cookie of ${email}`).to.be.a('string');
    return { cookie: cookie!, csrf: body.csrf_token };
  }

  before(async () => {
    schema = await createTestSchema('e2e');
    env = baseEnv({ DATABASE_URL: schema.url, API_RATE_LIMIT_PER_MINUTE: '100000' });
    program = await startProgram('serve', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    [a, b] = await Promise.all([makeTenant('Alpha', '1000000101'), makeTenant('Bravo', '1000000202')]);
    doc = (await (await fetch(`${program.url}/api/v1/openapi.json`)).json()) as OpenApiDoc;
  });
  after(async () => {
    await program?.kill();
    await dbh?.close();
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  interface Call {
    label: string;
    method: string;
    url: string;
    body: string | undefined;
    permission: Permission;
  }

  /** Every workspace operation of the document, as a call on workspace A. */
  function callsOnA(): Call[] {
    const calls: Call[] = [];
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item)) {
        if (!HTTP_METHODS.includes(method) || op['x-leadrelay-access']?.kind !== 'workspace') continue;
        const url = path.replace(/\{(\w+)\}/g, (_m, p: string) => encodeURIComponent(a.params[p] ?? UNKNOWN_ID));
        const bodySchema = op.requestBody?.content?.['application/json']?.schema;
        const body = method === 'get' || method === 'delete' ? undefined : JSON.stringify(sampleOf(bodySchema, doc) ?? {});
        calls.push({
          label: `${method.toUpperCase()} ${path} (${op.operationId})`,
          method: method.toUpperCase(),
          url,
          body,
          permission: op['x-leadrelay-access']!.permission!,
        });
      }
    return calls;
  }

  async function send(call: Call, auth: { key?: string; session?: Tenant['session'] }) {
    const headers: Record<string, string> = {};
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    if (auth.key) headers.authorization = `Bearer ${auth.key}`;
    if (auth.session) {
      headers.cookie = auth.session.cookie;
      headers['x-csrf-token'] = auth.session.csrf;
    }
    const res = await fetch(`${program.url}/api/v1${call.url}`, { method: call.method, headers, body: call.body, redirect: 'manual' });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  }

  /** What is wrong with an answer to a caller who must not reach A (empty when nothing is). */
  function leakProblems(call: Call, r: { status: number; type: string; text: string }, allowed: number[]): string[] {
    const problems: string[] = [];
    if (!allowed.includes(r.status)) problems.push(`answered ${r.status}`);
    if (!r.type.startsWith('application/problem+json')) problems.push(`answered ${r.type || 'no content type'}, not a problem`);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(r.text);
    } catch {
      problems.push('a body that is not JSON');
    }
    const extra = Object.keys(body).filter((k) => !PROBLEM_KEYS.includes(k));
    if (extra.length) problems.push(`a body with ${extra.join(', ')} beside the problem`);
    // What the caller sent (ids in the path, values in the body) may come back; nothing else of A's.
    const sent = `${call.url} ${call.body ?? ''}`;
    const leaked = a.marks.filter((m) => !sent.includes(m) && !sent.includes(encodeURIComponent(m)) && r.text.includes(m));
    if (leaked.length) problems.push(`a body naming ${leaked.length} of A's ids or names`);
    return problems.map((p) => `${call.label}: ${p}`);
  }

  it('the document lists workspace operations of every kind of resource the walk fills in', () => {
    const calls = callsOnA();
    expect(calls.length).to.be.greaterThan(3);
    const unfilled = calls.filter((c) => c.url.includes(UNKNOWN_ID)).map((c) => c.label);
    // Not a failure (the access check comes before any lookup), but worth seeing when it grows.
    if (unfilled.length) console.log(`      (walked with an unknown id for: ${unfilled.join('; ')})`);
  });

  it("an admin key of workspace B gets 404 on every workspace operation of A, naming nothing of A's", async () => {
    const failures: string[] = [];
    for (const call of callsOnA()) failures.push(...leakProblems(call, await send(call, { key: b.adminKey }), [404, 403]));
    expect(failures).to.deep.equal([]);
  });

  it("a signed-in owner of workspace B gets 404 on every workspace operation of A, naming nothing of A's", async () => {
    const failures: string[] = [];
    for (const call of callsOnA()) failures.push(...leakProblems(call, await send(call, { session: b.session }), [404, 403]));
    expect(failures).to.deep.equal([]);
  });

  it("refuses every installation operation to a workspace's owner and admin key with 403", async () => {
    const calls: Call[] = [];
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item)) {
        if (!HTTP_METHODS.includes(method) || op['x-leadrelay-access']?.kind !== 'operator') continue;
        calls.push({
          label: `${method.toUpperCase()} ${path}`,
          method: method.toUpperCase(),
          url: path,
          body: method === 'get' ? undefined : '{}',
          permission: 'config.read',
        });
      }
    expect(calls.length, 'the document has installation operations').to.be.greaterThan(0);
    const failures: string[] = [];
    for (const call of calls)
      for (const [who, auth] of [
        ["B's owner", { session: b.session }],
        ["B's admin key", { key: b.adminKey }],
      ] as const) {
        const r = await send(call, auth);
        if (r.status !== 403) failures.push(`${call.label} by ${who}: answered ${r.status}`);
      }
    expect(failures).to.deep.equal([]);
  });

  it('a viewer key of A gets 403 on every operation needing a right a viewer lacks', async () => {
    const viewer = { role: 'viewer' as const, canReadAnswers: false };
    const needing = callsOnA().filter((c) => !allows(viewer, c.permission));
    expect(needing.length, 'some operations need more than a viewer has').to.be.greaterThan(0);
    const failures: string[] = [];
    for (const call of needing) {
      const r = await send(call, { key: a.viewerKey });
      if (r.status !== 403) failures.push(`${call.label}: answered ${r.status}`);
      else if (!JSON.parse(r.text).detail?.includes(call.permission)) failures.push(`${call.label}: the 403 does not name ${call.permission}`);
    }
    expect(failures).to.deep.equal([]);
  });

  it("lists only B's own workspace to B's key and B's owner", async () => {
    const byKey = await fetch(`${program.url}/api/v1/workspaces`, { headers: { authorization: `Bearer ${b.adminKey}` } });
    const bySession = await fetch(`${program.url}/api/v1/workspaces`, { headers: { cookie: b.session.cookie } });
    for (const res of [byKey, bySession]) {
      expect(res.status).to.equal(200);
      const text = await res.text();
      expect(JSON.parse(text).items.map((w: { id: string }) => w.id)).to.deep.equal([b.workspaceId]);
      expect(a.marks.filter((m) => text.includes(m))).to.deep.equal([]);
    }
  });

  it("leaves A's data as it was after the walk", async () => {
    const ws = await repo.findWorkspace(dbh.db, a.workspaceId);
    expect(ws?.name).to.equal('Workspace Alpha');
    for (const table of ['pages', 'destinations', 'routes', 'leads', 'deliveries', 'alert_channels'] as const) {
      const rows = await dbh.db.selectFrom(table).select('id').where('workspace_id', '=', a.workspaceId).execute();
      expect(rows, table).to.have.length(1);
    }
    const keys = await dbh.db.selectFrom('api_keys').selectAll().where('workspace_id', '=', a.workspaceId).execute();
    expect(keys.map((k) => k.revoked_at)).to.deep.equal([null, null]);
    const r = await fetch(`${program.url}/api/v1/workspaces/${a.workspaceId}`, { headers: { authorization: `Bearer ${a.adminKey}` } });
    expect(r.status, "A's own admin key still works").to.equal(200);
  });
});

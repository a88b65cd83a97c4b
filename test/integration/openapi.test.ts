// The OpenAPI document against the router it describes: every route under /api/v1 that Express
// would answer is in the document and every operation in the document is routed (method and
// path); the document holds to OpenAPI 3.1's basic rules; the docs page and its assets are served.
import { expect } from 'chai';
import { allows } from '../../src/accounts/permissions.js';
import { createHttpApp } from '../../src/http/server.js';
import { createMetrics } from '../../src/util/metrics.js';
import { ApiClient, startApiServer } from '../helpers/api.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const PREFIX = '/api/v1';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** Routes under /api/v1 that are not operations: the document itself. */
const NOT_OPERATIONS = new Set(['GET /openapi.json']);

interface ListedRoute {
  path: string | RegExp;
  methods?: string[];
  router?: { listRoutes(): ListedRoute[] };
}

/** Every method and path the router answers, walking mounted routers (Express's router.listRoutes). */
function routesOf(router: { listRoutes(): ListedRoute[] }, base = ''): string[] {
  const found: string[] = [];
  for (const r of router.listRoutes()) {
    if (typeof r.path !== 'string') throw new Error(`a route with a RegExp path (${r.path}) cannot be checked against the document`);
    const path = `${base}${r.path === '/' ? '' : r.path}`;
    if (r.router) found.push(...routesOf(r.router, path));
    // HEAD comes along with every GET; `*` (all) would be a route the document cannot describe.
    for (const m of r.methods ?? []) if (m !== 'HEAD') found.push(`${m} ${path}`);
  }
  return found;
}

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
};
type Operation = {
  operationId?: string;
  responses?: Record<string, { description?: string }>;
  parameters?: { name: string; in: string; required?: boolean }[];
  'x-leadrelay-access'?: { kind: string; permission?: string };
};

describe('OpenAPI document', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let doc: Doc;
  let routed: string[];

  before(async () => {
    t = await createTestApp({ withQueues: false });
    server = await startApiServer(t.app);
    const r = await new ApiClient(server.url).get<Doc>('/openapi.json');
    expect(r.status).to.equal(200);
    doc = r.body;
    const web = createHttpApp(t.app, createMetrics()) as unknown as { router: { listRoutes(): ListedRoute[] } };
    routed = routesOf(web.router)
      .filter((r) => r.split(' ')[1]!.startsWith(`${PREFIX}/`))
      .map((r) => {
        const [method, path] = r.split(' ');
        return `${method} ${path!.slice(PREFIX.length).replace(/:(\w+)/g, '{$1}')}`;
      });
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([m]) => METHODS.includes(m))
        .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, op })),
    );

  it('lists every route under /api/v1 of the HTTP app, and routes every operation it lists', () => {
    const documented = operations().map((o) => o.key);
    const operationRoutes = routed.filter((r) => !NOT_OPERATIONS.has(r));
    expect(operationRoutes.length, 'the walk found the API routes').to.be.greaterThan(3);
    expect(
      operationRoutes.filter((r) => !documented.includes(r)),
      'routed but not documented',
    ).to.deep.equal([]);
    expect(
      documented.filter((d) => !operationRoutes.includes(d)),
      'documented but not routed',
    ).to.deep.equal([]);
    expect(new Set(routed).size, 'no route registered twice').to.equal(routed.length);
  });

  it('is OpenAPI 3.1 with a title and version', () => {
    expect(doc.openapi).to.match(/^3\.1\.\d+$/);
    expect(doc.info.title).to.be.a('string').and.not.empty;
    expect(doc.info.version).to.be.a('string').and.not.empty;
  });

  it('gives every operation a unique operationId and described responses', () => {
    const ids = operations().map((o) => o.op.operationId);
    for (const [i, { key, op }] of operations().entries()) {
      expect(op.operationId, key)
        .to.be.a('string')
        .and.match(/^[A-Za-z][A-Za-z0-9_]*$/);
      expect(ids.indexOf(op.operationId), `${key}: operationId used twice`).to.equal(i);
      const responses = Object.entries(op.responses ?? {});
      expect(responses, `${key}: responses`).to.not.be.empty;
      expect(
        responses.some(([status]) => /^2\d\d$/.test(status)),
        `${key}: a success response`,
      ).to.equal(true);
      for (const [status, res] of responses) expect(res.description, `${key} ${status}: description`).to.be.a('string').and.not.empty;
    }
  });

  it('declares each {param} of a path as a required path parameter, and no other', () => {
    for (const { key, path, op } of operations()) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), key).to.deep.equal(inPath);
      for (const p of declared) expect(p.required, `${key}: ${p.name} required`).to.equal(true);
    }
  });

  it('resolves every $ref to a schema of the document', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
    for (const ref of refs) {
      const m = /^#\/components\/schemas\/(.+)$/.exec(ref);
      expect(m, `${ref} is a local schema reference`).to.not.equal(null);
      expect(doc.components?.schemas?.[m![1]!], ref).to.not.equal(undefined);
    }
  });

  it("states who may call each operation, with a workspace operation's permission one of the role table's", () => {
    for (const { key, path, op } of operations()) {
      const access = op['x-leadrelay-access'];
      expect(access?.kind, key).to.be.oneOf(['public', 'user', 'authenticated', 'workspace', 'operator']);
      if (access!.kind !== 'workspace') continue;
      expect(path, `${key}: a workspace operation names its workspace`).to.match(/^\/workspaces\/\{workspaceId\}/);
      // Every permission is the owner's: one the owner lacks is not in the table.
      expect(allows({ role: 'owner', canReadAnswers: false }, access!.permission as never), `${key}: ${access!.permission}`).to.equal(true);
    }
  });

  it('serves the docs page and every asset it loads', async () => {
    const page = await fetch(`${server.url}/api/docs`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/^text\/html/);
    const html = await page.text();
    expect(html).to.include('swagger-ui');
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).to.be.greaterThan(1);
    for (const asset of assets) {
      const r = await fetch(new URL(asset, server.url));
      expect(r.status, asset).to.equal(200);
      expect((await r.arrayBuffer()).byteLength, asset).to.be.greaterThan(0);
    }
    const start = await (await fetch(`${server.url}/api/docs/start.js`)).text();
    expect(start).to.include('/api/v1/openapi.json');
  });
});

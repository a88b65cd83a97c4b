// What the web app needs from the server besides its operations: the public set-up state, the
// caller's permissions per workspace (so pages offer only what the role allows), and the built
// app served at / with its SPA fallback, caching and Content-Security-Policy.
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import express from 'express';
import { createWorkspace } from '../../src/store/repos.js';
import { createWebAppRouter } from '../../src/http/web-app.js';
import { createLogger } from '../../src/util/logger.js';
import { ApiClient, seedSession, seedUser, startApiServer } from '../helpers/api.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

describe('web app support: set-up state and permissions', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof startApiServer>>;

  before(async () => {
    t = await createTestApp({ withQueues: false });
    server = await startApiServer(t.app);
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  it('says no owner exists before set-up (while other operations answer 503), and that one does after', async () => {
    const anonymous = new ApiClient(server.url);
    expect((await anonymous.get('/auth/setup-status')).body).to.deep.equal({ owner_exists: false });
    expect((await anonymous.get('/auth/session')).status).to.equal(503);
    await seedUser(t.app, { email: 'first@example.com' });
    const r = await anonymous.get('/auth/setup-status');
    expect(r.status).to.equal(200);
    expect(r.body).to.deep.equal({ owner_exists: true });
  });

  it("lists each workspace with what the caller's role allows there", async () => {
    const ws = await createWorkspace(t.app.db, 'Perms');
    const admin = await seedUser(t.app, { email: 'admin@example.com', workspaceId: ws.id, role: 'admin' });
    const viewer = await seedUser(t.app, { email: 'viewer@example.com', workspaceId: ws.id, role: 'viewer' });
    const adminSession = (await (await seedSession(t.app, server.url, admin.id)).get('/auth/session')).body;
    const viewerSession = (await (await seedSession(t.app, server.url, viewer.id)).get('/auth/session')).body;
    expect(adminSession.workspaces[0].permissions).to.include.members(['members.manage', 'keys.manage', 'audit.read', 'workspace.manage']);
    expect(adminSession.workspaces[0].permissions).to.not.include('workspace.own');
    expect(viewerSession.workspaces[0].permissions).to.deep.equal(['config.read', 'leads.read']);
  });
});

describe('web app serving', () => {
  let dir: string;
  let url: string;
  let server: http.Server;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'web-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>app</title><script type="module" src="/assets/app-abc123.js"></script>');
    writeFileSync(join(dir, 'assets', 'app-abc123.js'), 'console.log(1)');
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    const app = express();
    app.use(createWebAppRouter(createLogger('silent'), dir));
    app.use((_req, res) => {
      res.status(404).json({ error: 'not found' });
    });
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a deep link with index.html, uncached, under a strict CSP', async () => {
    for (const path of ['/', '/setup?token=lrsetup_x', '/w/123/settings/members', '/index.html']) {
      const r = await fetch(`${url}${path}`);
      expect(r.status, path).to.equal(200);
      expect(await r.text(), path).to.include('<title>app</title>');
      expect(r.headers.get('cache-control'), path).to.equal('no-cache');
      const csp = r.headers.get('content-security-policy') ?? '';
      expect(csp, path).to.include("default-src 'self'");
      expect(csp, path).to.include("script-src 'self'");
      expect(csp, path).to.include("frame-ancestors 'none'");
      expect(csp, path).to.not.include('unsafe-inline');
      expect(r.headers.get('referrer-policy'), path).to.equal('no-referrer');
    }
  });

  it('caches hashed assets for a year and answers a missing one with 404, not the app', async () => {
    const asset = await fetch(`${url}/assets/app-abc123.js`);
    expect(asset.status).to.equal(200);
    expect(asset.headers.get('cache-control')).to.equal('public, max-age=31536000, immutable');
    expect((await fetch(`${url}/assets/gone-999.js`)).status).to.equal(404);
    expect((await fetch(`${url}/favicon.svg`)).headers.get('cache-control')).to.equal('public, max-age=3600');
  });

  it("leaves the server's own paths and non-GET requests alone", async () => {
    for (const path of ['/api/v1/nothing', '/api', '/webhooks/meta', '/oauth/x/callback', '/healthz', '/readyz', '/metrics']) {
      const r = await fetch(`${url}${path}`);
      expect(r.status, path).to.equal(404);
      expect(await r.text(), path).to.not.include('<title>app</title>');
    }
    expect((await fetch(`${url}/w/123`, { method: 'POST' })).status).to.equal(404);
  });

  it('says the app is not built (503) when there is no build, and still leaves the server paths alone', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'web-empty-'));
    const app = express();
    app.use(createWebAppRouter(createLogger('silent'), empty));
    app.use((_req, res) => {
      res.status(404).end();
    });
    const s = http.createServer(app);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    try {
      const r = await fetch(`${base}/sign-in`);
      expect(r.status).to.equal(503);
      expect(await r.text()).to.include('npm run build');
      expect((await fetch(`${base}/api/v1/x`)).status).to.equal(404);
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

// Calling the REST API in tests: a client with a cookie jar and the CSRF header (as a browser
// session) or a bearer key, and ways to seed people and keys straight into the database for
// suites that are not about signing in.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashPassword } from '../../src/accounts/passwords.js';
import { createApiKey, createSession, insertUser, upsertMembership } from '../../src/accounts/store.js';
import { sessionCookieName } from '../../src/api/session-cookie.js';
import type { App } from '../../src/app.js';
import { createHttpApp } from '../../src/http/server.js';
import { createWorkspace } from '../../src/store/repos.js';
import type { Role } from '../../src/store/schema.js';
import { createMetrics } from '../../src/util/metrics.js';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  /** The body as sent (for scanning it for leaked values). */
  text: string;
}

export class ApiClient {
  private cookies = new Map<string, string>();
  csrfToken: string | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly opts: { bearer?: string } = {},
  ) {}

  withKey(key: string): ApiClient {
    return new ApiClient(this.baseUrl, { bearer: key });
  }

  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (this.opts.bearer) h.authorization = `Bearer ${this.opts.bearer}`;
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.csrfToken && method !== 'GET') h['x-csrf-token'] = this.csrfToken;
    const res = await fetch(`${this.baseUrl}${path.startsWith('/api/') ? path : `/api/v1${path}`}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (value === '' || /max-age=0|expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  get = <T = any>(path: string) => this.request<T>('GET', path);
  post = <T = any>(path: string, body: unknown = {}) => this.request<T>('POST', path, body);
  patch = <T = any>(path: string, body: unknown) => this.request<T>('PATCH', path, body);
  put = <T = any>(path: string, body: unknown) => this.request<T>('PUT', path, body);
  delete = <T = any>(path: string) => this.request<T>('DELETE', path);

  /** Puts a cookie in the jar (a session made without signing in). */
  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  /** Whether the jar holds a cookie of this name. */
  hasCookie(name: string): boolean {
    return this.cookies.has(name);
  }
}

/** The HTTP app of `app` on an ephemeral loopback port (no workers). */
export async function startApiServer(app: App): Promise<{ url: string; close(): Promise<void> }> {
  const web = createHttpApp(app, createMetrics());
  const server = http.createServer(web);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

export const TEST_PASSWORD = 'correct horse battery staple';

/** A user with a membership, straight into the database. */
export async function seedUser(app: App, u: { email: string; workspaceId?: string; role?: Role; password?: string }) {
  const user = await insertUser(app.db, { email: u.email, name: null, passwordHash: await hashPassword(u.password ?? TEST_PASSWORD) });
  if (u.workspaceId) await upsertMembership(app.db, { userId: user.id, workspaceId: u.workspaceId, role: u.role ?? 'owner' });
  return user;
}

/** An API key of a workspace, straight into the database; returns the secret. */
export async function seedApiKey(app: App, workspaceId: string, role: 'admin' | 'editor' | 'viewer' = 'admin'): Promise<string> {
  const { secret } = await createApiKey(app.db, { workspaceId, name: `test ${role}`, role, createdBy: null });
  return secret;
}

/** A signed-in session (MFA done) of a user, straight into the database: a client with its cookie and CSRF token. */
export async function seedSession(app: App, baseUrl: string, userId: string): Promise<ApiClient> {
  const s = await createSession(app.db, { userId, mfaVerified: true, ip: null, userAgent: null });
  const client = new ApiClient(baseUrl);
  client.setCookie(sessionCookieName(app.config), s.cookie);
  client.csrfToken = s.csrfToken;
  return client;
}

export interface SeededWorkspaces {
  /** The workspace under test ("Acme"), its path prefix, and an admin and a viewer key of it. */
  ws: string;
  base: string;
  api: ApiClient;
  viewer: ApiClient;
  /** Another workspace ("Other"), for checks that one workspace never sees another's things. */
  other: string;
}

/**
 * Two workspaces, the first one's owner (the API answers 503 until a first user exists) and an
 * admin and a viewer key of it, straight into the database, for the API at `baseUrl`.
 */
export async function seedWorkspaces(app: App, baseUrl: string): Promise<SeededWorkspaces> {
  const ws = (await createWorkspace(app.db, 'Acme')).id;
  const other = (await createWorkspace(app.db, 'Other')).id;
  await seedUser(app, { email: 'owner@example.org', workspaceId: ws });
  const client = new ApiClient(baseUrl);
  return {
    ws,
    base: `/workspaces/${ws}`,
    api: client.withKey(await seedApiKey(app, ws, 'admin')),
    viewer: client.withKey(await seedApiKey(app, ws, 'viewer')),
    other,
  };
}

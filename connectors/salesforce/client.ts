// One jsforce Connection per operation (deliver, describeFields, verify), with what jsforce
// leaves to us:
// - a timeout and no hidden retries on every request (jsforce retries GETs 5 times over
//   ~15 s by default and has no timeout of its own below 30 minutes);
// - the status and headers of the last response, which its errors lack (Retry-After, 5xx);
// - the refresh: jsforce notices the 401, calls our refresh function and replays the request;
//   we persist the new access token (and a rotated refresh token, which jsforce never keeps)
//   from the `refresh` event at once.
// https://jsforce.github.io/document/#access-token-refresh
import type { Connection, ConnectionConfig, HttpRequest, HttpRequestOptions, StreamPromise, TokenResponse } from 'jsforce';
import { ConnectorError, isConnectorError, memoryKey, type ConnectorContext, type ConnectorMemory } from '../types.js';
import { classifySalesforceError } from './classify-error.js';
import {
  FIELD_CACHE_TTL_MS,
  salesforceConfigSchema,
  salesforceCredentialsSchema,
  type SalesforceConfig,
  type SalesforceCredentials,
  type SalesforceSettings,
} from './manifest.js';
import { refreshAccessTokenShared, SalesforceTokenError } from './oauth.js';
import { salesforceDescribeSchema, type SalesforceDescribe } from './record.js';

export type SalesforceContext = ConnectorContext<SalesforceConfig, SalesforceCredentials, SalesforceSettings>;

/**
 * One refresh per operation. jsforce refreshes on every 401, including the 401 of a request it
 * just replayed with a fresh token, so a session Salesforce keeps refusing would loop forever.
 */
const MAX_REFRESHES_PER_SESSION = 1;

interface RecordedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A Connection whose every request (including those jsforce's sobject helpers make) carries
 * our request options: a timeout, no retries, and a transport that records the response.
 * jsforce hands `options.transport` to its HttpApi, which uses it in place of the connection's.
 */
interface RecordingConnection extends Connection {
  lastResponse: RecordedResponse | undefined;
  useRequestDefaults(timeoutMs: number): void;
}
type RecordingConnectionClass = new (config: ConnectionConfig) => RecordingConnection;

// jsforce is loaded on first use: it costs ~15 MB resident, which processes that never talk to
// Salesforce (the HTTP role, most workers) need not pay.
let recordingConnectionClass: Promise<RecordingConnectionClass> | undefined;

function loadRecordingConnection(): Promise<RecordingConnectionClass> {
  recordingConnectionClass ??= import('jsforce').then(({ Connection: JsforceConnection }) => {
    class Recording extends JsforceConnection {
      lastResponse: RecordedResponse | undefined;
      private requestDefaults: HttpRequestOptions & { transport?: unknown } = {};

      useRequestDefaults(timeoutMs: number): void {
        const transport = {
          httpRequest: (req: HttpRequest, options: HttpRequestOptions) => {
            this.lastResponse = undefined;
            const pending = this._transport.httpRequest(req, options);
            pending.then(
              (res) => {
                this.lastResponse = { status: res.statusCode, headers: res.headers ?? {}, body: typeof res.body === 'string' ? res.body : '' };
              },
              () => undefined,
            );
            return pending;
          },
        };
        // Retries: the delivery worker retries with backoff and counts attempts; a retry hidden
        // in here would hold a worker slot for ~15 s and hide the failure from the delivery log.
        this.requestDefaults = { timeout: timeoutMs, retry: { maxRetries: 0 }, transport };
      }

      override request<R = unknown>(request: string | HttpRequest, options: object = {}): StreamPromise<R> {
        return super.request<R>(request, { ...this.requestDefaults, ...options });
      }
    }
    return Recording as unknown as RecordingConnectionClass;
  });
  return recordingConnectionClass;
}

type CallOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface SalesforceSession {
  readonly config: SalesforceConfig;
  readonly conn: Connection;
  /** Runs jsforce calls; a failure comes back as a value, for callers that resolve some (duplicates). */
  attempt<T>(op: (conn: Connection) => Promise<T>): Promise<CallOutcome<T>>;
  /** Runs jsforce calls; a failure is thrown as ConnectorError. */
  run<T>(op: (conn: Connection) => Promise<T>): Promise<T>;
  toConnectorError(err: unknown): ConnectorError;
  /** Status and (truncated) body of the last response, for the delivery attempt. */
  lastResponse(): { status: number; body: string } | undefined;
  /** Waits for credential saves started by refreshes; throws when one failed. */
  settle(): Promise<void>;
}

/** Runs `fn` with a session and waits for the credential saves its refreshes started. */
export async function withSalesforceSession<T>(ctx: SalesforceContext, fn: (session: SalesforceSession) => Promise<T>): Promise<T> {
  const session = openSalesforceSession(ctx, await loadRecordingConnection());
  let result: T;
  try {
    result = await fn(session);
  } catch (err) {
    // The operation's own failure is the one to report; a lost save would only surface later
    // as a refresh failure.
    await session.settle().catch(() => undefined);
    throw err;
  }
  await session.settle();
  return result;
}

function openSalesforceSession(ctx: SalesforceContext, RecordingConnection: RecordingConnectionClass): SalesforceSession {
  const config = parseOrPark(salesforceConfigSchema, ctx.config, 'salesforce_config_invalid', 'destination settings');
  const credentials = parseOrPark(salesforceCredentialsSchema, ctx.credentials, 'salesforce_credentials_invalid', 'stored credentials');
  const sf = ctx.settings.connector;
  const loginUrl = config.loginUrl ?? sf.loginUrl;
  const secrets = [credentials.accessToken, credentials.refreshToken];

  let refreshes = 0;
  let refreshFailure: unknown;
  let isSaveFailed = false;
  const pendingSaves: Promise<void>[] = [];

  const refreshFn = (c: Connection, callback: (err: Error | null | undefined, accessToken?: string, res?: TokenResponse) => void): void => {
    if (refreshes >= MAX_REFRESHES_PER_SESSION) {
      callback(new Error('session_rejected_after_refresh'));
      return;
    }
    refreshes += 1;
    refreshAccessTokenShared(ctx.memory, {
      loginUrl,
      clientId: sf.clientId,
      clientSecret: sf.clientSecret,
      refreshToken: c.refreshToken ?? credentials.refreshToken,
      timeoutMs: ctx.settings.timeoutMs,
      nowMs: ctx.now(),
    }).then(
      (res) => callback(undefined, res.access_token, res as unknown as TokenResponse),
      (err: unknown) => {
        // jsforce rethrows this as "Unable to refresh session due to: <message>", dropping the
        // error itself; keep it for toConnectorError and give jsforce only the code.
        refreshFailure = err;
        callback(new Error(err instanceof SalesforceTokenError ? err.oauthError : 'refresh_request_failed'));
      },
    );
  };

  let conn: RecordingConnection;
  try {
    conn = new RecordingConnection({
      instanceUrl: credentials.instanceUrl,
      accessToken: credentials.accessToken,
      refreshToken: credentials.refreshToken,
      // Always explicit: jsforce defaults to 50.0.
      version: sf.apiVersion,
      oauth2: { loginUrl, clientId: sf.clientId, clientSecret: sf.clientSecret },
      refreshFn,
    });
  } catch {
    throw new ConnectorError({
      kind: 'auth',
      reason: 'salesforce_credentials_invalid',
      crmMessage: 'The stored Salesforce instance URL is not usable; connect Salesforce again.',
    });
  }
  conn.useRequestDefaults(ctx.settings.timeoutMs);

  conn.on('refresh', (accessToken: string, res?: { refresh_token?: string; instance_url?: string }) => {
    if (res?.refresh_token) {
      // Refresh-token rotation: the old one is spent. jsforce does not keep the new one.
      conn.refreshToken = res.refresh_token;
      secrets.push(res.refresh_token);
    }
    if (res?.instance_url && /^https?:\/\//i.test(res.instance_url)) conn.instanceUrl = res.instance_url.replace(/\/+$/, '');
    secrets.push(accessToken);
    const next: SalesforceCredentials = {
      accessToken,
      refreshToken: conn.refreshToken ?? credentials.refreshToken,
      instanceUrl: conn.instanceUrl,
    };
    pendingSaves.push(
      ctx.saveCredentials(next).then(
        () => undefined,
        () => {
          isSaveFailed = true;
        },
      ),
    );
  });

  const toConnectorError = (err: unknown): ConnectorError => {
    if (isConnectorError(err)) return err;
    const isRefreshFailure = err instanceof Error && err.message.startsWith('Unable to refresh session') && refreshFailure !== undefined;
    if (isRefreshFailure) {
      // A token-endpoint error carries its own status; a bare refresh failure has none.
      return new ConnectorError(classifySalesforceError(refreshFailure));
    }
    const res = conn.lastResponse;
    const cls = classifySalesforceError(err, { status: res?.status, headers: res?.headers, nowMs: ctx.now() });
    return new ConnectorError({
      ...cls,
      responseBody: res ? clipBody(redact(res.body, secrets), ctx.settings.responseBodyMaxBytes) : undefined,
    });
  };

  const attempt = async <T>(op: (c: Connection) => Promise<T>): Promise<CallOutcome<T>> => {
    try {
      return { ok: true, value: await op(conn) };
    } catch (error) {
      return { ok: false, error };
    }
  };

  return {
    config,
    conn,
    attempt,
    async run(op) {
      const outcome = await attempt(op);
      if (!outcome.ok) throw toConnectorError(outcome.error);
      return outcome.value;
    },
    toConnectorError,
    lastResponse() {
      const res = conn.lastResponse;
      return res ? { status: res.status, body: clipBody(redact(res.body, secrets), ctx.settings.responseBodyMaxBytes) } : undefined;
    },
    async settle() {
      await Promise.all(pendingSaves);
      if (isSaveFailed) {
        // The refreshed tokens are not stored: under refresh-token rotation the stored refresh
        // token is already spent. Retrying the delivery is safe (upsert / remembered id).
        throw new ConnectorError({ kind: 'retryable', reason: 'salesforce_credentials_not_saved' });
      }
    },
  };
}

interface CachedDescribe {
  sobject: string;
  loadedAtMs: number;
  describe: Promise<SalesforceDescribe>;
}

const DESCRIBE = memoryKey<CachedDescribe>('salesforce.describe');

/**
 * The destination's object describe, reused for FIELD_CACHE_TTL_MS (deliveries need its
 * LeadSource picklist and external id fields). Concurrent callers share one request.
 */
export function describeSObject(ctx: SalesforceContext, session: SalesforceSession, opts: { isFresh?: boolean } = {}): Promise<SalesforceDescribe> {
  const sobject = session.config.sobject;
  const nowMs = ctx.now();
  const hit = ctx.memory.get(DESCRIBE);
  if (!opts.isFresh && hit && hit.sobject === sobject && nowMs - hit.loadedAtMs < FIELD_CACHE_TTL_MS) return hit.describe;

  const entry: CachedDescribe = {
    sobject,
    loadedAtMs: nowMs,
    describe: session
      .run((conn) => conn.sobject(sobject).describe())
      .then((raw) => {
        const parsed = salesforceDescribeSchema.safeParse(raw);
        if (!parsed.success) throw new ConnectorError({ kind: 'retryable', reason: 'salesforce_describe_malformed' });
        return parsed.data;
      }),
  };
  ctx.memory.set(DESCRIBE, entry);
  entry.describe.catch(() => {
    if (ctx.memory.get(DESCRIBE) === entry) ctx.memory.delete(DESCRIBE);
  });
  return entry.describe;
}

/** Forgets a destination's describe (after its settings change, or on re-auth). */
export function clearFieldCache(memory: ConnectorMemory): void {
  memory.delete(DESCRIBE);
}

function parseOrPark<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } },
  value: unknown,
  reason: string,
  what: string,
): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  // Issue paths and zod's messages name what is wrong without repeating the values.
  const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new ConnectorError({ kind: 'auth', reason, crmMessage: `The ${what} are not valid: ${problems}` });
}

function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join('[redacted]');
  return out;
}

function clipBody(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= maxBytes ? text : bytes.subarray(0, maxBytes).toString('utf8');
}

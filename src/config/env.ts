// The one place that reads process.env. Everything else takes a typed AppConfig.
// The program's own variables are listed here; each connector's (its API hosts, OAuth client)
// are declared in its manifest (`settings`) and parsed here alongside, into `connectors`.
import { z } from 'zod';
import { listManifests } from '../../connectors/index.js';
import type { ConnectorManifest, ConnectorSettingDeclaration } from '../../connectors/types.js';
import { loadDefaults } from './defaults.js';

export { projectRoot } from './project-root.js';

const d = loadDefaults();

const int = (def: number) => z.coerce.number().int().nonnegative().default(def);
/** For settings where 0 cannot work (sizes, intervals, attempts, timeouts). */
const positiveInt = (def: number, max?: number) => {
  const base = z.coerce.number().int().positive();
  return (max === undefined ? base : base.max(max)).default(def);
};
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = (def?: string) => (def === undefined ? z.string().url() : z.string().url().default(def));

/** A key ring: `kid:base64key,kid2:base64key`. The first key encrypts; all decrypt. */
const KID_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;

/**
 * A key ring: `kid:base64key,kid2:base64key`. The first key encrypts; all decrypt. Problems are
 * named by position and key id only: no part of a key ever appears in an error.
 */
const keyRing = z
  .string()
  .min(1)
  .transform((value, ctx) => {
    const keys: { kid: string; key: Buffer }[] = [];
    const parts = value
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    parts.forEach((part, index) => {
      const at = `entry ${index + 1}`;
      const i = part.indexOf(':');
      if (i <= 0) {
        ctx.addIssue({ code: 'custom', message: `${at} is not kid:base64key` });
        return;
      }
      const kid = part.slice(0, i);
      const key = Buffer.from(part.slice(i + 1), 'base64');
      if (!KID_PATTERN.test(kid)) {
        ctx.addIssue({ code: 'custom', message: `${at}: the key id must be 1-32 of A-Z a-z 0-9 . _ - (is the key id before the colon?)` });
        return;
      }
      if (key.length !== 32)
        ctx.addIssue({ code: 'custom', message: `key "${kid}" must decode to 32 bytes (got ${key.length}); make one with: openssl rand -base64 32` });
      if (keys.some((k) => k.kid === kid)) ctx.addIssue({ code: 'custom', message: `key id "${kid}" appears twice` });
      keys.push({ kid, key });
    });
    if (parts.length === 0) ctx.addIssue({ code: 'custom', message: 'no keys given' });
    return keys;
  });

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(3000),
  HOST: z.string().default('0.0.0.0'),
  /** Default: http://localhost:<PORT>. */
  PUBLIC_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.string().url().optional(),
  DATABASE_POOL_MAX: positiveInt(20),
  DATABASE_PREPARED_STATEMENTS: bool(true),
  /** Where the embedded PostgreSQL (used when DATABASE_URL is unset) and the development key live. */
  DATA_DIR: z.string().default('./data'),
  /** Port for the embedded PostgreSQL; 0 picks a free one (the CLI finds it in DATA_DIR). */
  EMBEDDED_POSTGRES_PORT: int(0),
  /** Unset: the queues run on BullMQ's PostgreSQL backend in the same database. */
  REDIS_URL: z.string().url().optional(),
  /** How long SIGTERM/SIGINT may spend draining in-flight work before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: positiveInt(d.shutdown.timeoutMs),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('leadrelay'),
  META_APP_ID: z.string().default(''),
  META_APP_SECRET: z.string().default(''),
  META_VERIFY_TOKEN: z.string().default(''),
  META_GRAPH_URL: url('https://graph.facebook.com'),
  /** Where the Facebook Login dialog lives: {META_DIALOG_URL}/{META_GRAPH_VERSION}/dialog/oauth. */
  META_DIALOG_URL: url('https://www.facebook.com'),
  /**
   * A Facebook Login for Business configuration id (App Dashboard → Facebook Login for Business →
   * Configurations): the dialog then asks for the permissions the configuration lists. Unset: the
   * dialog asks for them by `scope`.
   */
  META_LOGIN_CONFIG_ID: z
    .string()
    .regex(/^\d{1,32}$/, 'must be the numeric id of a Facebook Login for Business configuration')
    .optional(),
  META_GRAPH_VERSION: z
    .string()
    .regex(/^v\d+\.\d+$/, 'must look like v25.0')
    .default('v25.0'),
  META_GRAPH_TIMEOUT_MS: positiveInt(d.graph.timeoutMs),
  META_GRAPH_RETRIES: int(d.graph.retries),
  META_GRAPH_RETRY_MIN_DELAY_MS: int(d.graph.retryMinDelayMs),
  LEADRELAY_ENCRYPTION_KEYS: keyRing.optional(),
  LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: bool(false),
  MAX_WEBHOOK_BODY_BYTES: positiveInt(d.http.maxWebhookBodyBytes),
  INTAKE_BATCH_MAX_ROWS: positiveInt(d.http.intakeBatchMaxRows),
  FETCH_JOB_WAIT_MS: int(d.http.fetchJobWaitMs),
  DELIVERY_TIMEOUT_MS: positiveInt(d.delivery.timeoutMs),
  DELIVERY_MAX_ATTEMPTS: positiveInt(d.delivery.maxAttempts),
  DELIVERY_BACKOFF_BASE_MS: positiveInt(d.delivery.backoffBaseMs),
  DELIVERY_BACKOFF_MAX_MS: positiveInt(d.delivery.backoffMaxMs),
  DELIVERY_RESPONSE_BODY_MAX_BYTES: positiveInt(d.delivery.responseBodyMaxBytes),
  FETCH_MAX_ATTEMPTS: positiveInt(d.fetch.maxAttempts),
  FETCH_BACKOFF_BASE_MS: positiveInt(d.fetch.backoffBaseMs),
  FETCH_CONCURRENCY: positiveInt(d.workers.fetchConcurrency),
  DELIVER_CONCURRENCY: positiveInt(d.workers.deliverConcurrency),
  WORKER_LOCK_DURATION_MS: positiveInt(d.workers.lockDurationMs),
  /** `start` runs the workers on its own event loop instead of in a supervised child process (for tests and benchmarks). */
  WORKERS_IN_PROCESS: bool(false),
  /**
   * How much lower than the HTTP process `start` runs its worker process (nice, 0–19; default 0):
   * when both want the CPU, the webhook receiver gets it first and the workers take what is left,
   * but so does every other process on the machine.
   */
  WORKER_PROCESS_NICE: z.coerce.number().int().min(0).max(19).default(d.workers.processNice),
  /** A worker whose event loop gives no sign of life for this long is killed and restarted (0 = never). */
  WATCHDOG_STALL_MS: int(d.watchdog.stallMs),
  /** A worker with one job running longer than this is killed and restarted; the job is taken up again (0 = never). */
  WATCHDOG_JOB_MAX_MS: int(d.watchdog.jobMaxMs),
  OUTBOX_SWEEP_INTERVAL_MS: positiveInt(d.maintenance.outboxSweepIntervalMs),
  OUTBOX_MIN_AGE_MS: int(d.maintenance.outboxMinAgeMs),
  FORM_DRIFT_INTERVAL_MS: int(d.maintenance.formDriftIntervalMs),
  /** How often every routed form's leads are compared with Meta's list (0 = off). */
  RECONCILE_INTERVAL_MS: int(d.reconciliation.intervalMs),
  /** How far back a form's first comparison looks; Meta keeps leads about 90 days, so at most 2160. */
  RECONCILE_LOOKBACK_HOURS: positiveInt(d.reconciliation.lookbackHours, 2160),
  /** Leads younger than this are left to their webhook (Meta's can come minutes late); the next run compares them. */
  RECONCILE_SETTLE_MS: int(d.reconciliation.settleMs),
  /** How often the health monitors run (page tokens, app subscriptions, destinations, dead letters, queue age); 0 = off. */
  MONITOR_INTERVAL_MS: int(d.monitoring.intervalMs),
  /** A lead waiting longer than this on the queues raises the queue-age alert. */
  MONITOR_QUEUE_AGE_ALERT_MS: positiveInt(d.monitoring.queueAgeAlertMs),
  /** A destination dead-lettering at least this share of its last hour's deliveries … */
  MONITOR_DEAD_LETTER_ALERT_PERCENT: positiveInt(d.monitoring.deadLetterAlertPercent, 100),
  /** … and at least this many of them raises the dead-letter alert. */
  MONITOR_DEAD_LETTER_ALERT_MIN: positiveInt(d.monitoring.deadLetterAlertMin),
  /** A page token expiring within this many days raises an alert (0 = only once expired). */
  MONITOR_TOKEN_EXPIRY_WARNING_DAYS: int(d.monitoring.tokenExpiryWarningDays),
  /** How often the work role sends due alert messages (opened, reminders, resolved); 0 = never. */
  ALERT_DISPATCH_INTERVAL_MS: int(d.alerts.dispatchIntervalMs),
  /** The first reminder of an unresolved alert comes this long after it opened; each next one twice as long after … */
  ALERT_REPEAT_FIRST_MS: positiveInt(d.alerts.repeatFirstMs),
  /** … but never longer than this apart. */
  ALERT_REPEAT_MAX_MS: positiveInt(d.alerts.repeatMaxMs),
  /** Retries of one alert message to one channel (network failures, 5xx, 429), with backoff from ALERT_RETRY_MIN_DELAY_MS. */
  ALERT_SEND_RETRIES: int(d.alerts.sendRetries),
  ALERT_RETRY_MIN_DELAY_MS: int(d.alerts.retryMinDelayMs),
  LEAD_RETENTION_DAYS: positiveInt(d.retention.leadRetentionDays),
  /** Delivery attempts (each try's outcome, the CRM's words) are deleted this many months after they were made; deliveries keep their counts. */
  ATTEMPT_RETENTION_MONTHS: positiveInt(d.retention.attemptRetentionMonths),
  /** Leadgen events are deleted this many days after they arrived (Meta keeps a lead about 90 days: past that it cannot be fetched again). */
  EVENT_RETENTION_DAYS: positiveInt(d.retention.eventRetentionDays),
  /**
   * Days a deleted workspace can still be restored before it is hard-deleted with every row and
   * secret it owns: at most 30 (the privacy promise), lower if wanted, 0 for tests (at once).
   */
  WORKSPACE_DELETION_GRACE_DAYS: z.coerce.number().int().min(0).max(30, 'must be at most 30 (deleted workspaces are gone within 30 days)').default(30),
  /** Requests a minute each API key, user or (before sign-in) IP address may make. */
  API_RATE_LIMIT_PER_MINUTE: positiveInt(600),
  /** Failed sign-ins in a row that lock an account, and for how long. */
  SIGN_IN_MAX_FAILURES: positiveInt(5),
  SIGN_IN_LOCKOUT_MINUTES: positiveInt(15),
  /** Failed sign-ins an IP address may make in 15 minutes (whatever the accounts) before it must wait. */
  SIGN_IN_IP_MAX_FAILURES: positiveInt(20),
  /** Behind a reverse proxy: the client's address comes from X-Forwarded-For (Express's "trust proxy"). */
  TRUST_PROXY: z.string().optional(),
  /** /metrics answers only with "Authorization: Bearer <METRICS_TOKEN>" … */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** … or only on this separate address (host:port), e.g. 127.0.0.1:9464. With neither, /metrics is off. */
  METRICS_LISTEN: z
    .string()
    .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9464')
    .optional(),
  /** Unset: invitation and password-reset links are shown to the admin (API) or printed (CLI) instead of mailed. */
  SMTP_URL: z.string().url().optional(),
  SMTP_FROM: z.string().default('LeadRelay <leadrelay@localhost>'),
  /**
   * Tests only: comma-separated paths of modules that each export a connector `manifest`, added
   * to the registry before anything else reads it (see readExtraConnectorModules). Refused in
   * production: it would run code from wherever it points.
   */
  LEADRELAY_EXTRA_CONNECTORS: z.string().optional(),
});

/** The schema of one connector setting: a URL (kept without a trailing slash) or text. */
function connectorSettingSchema(s: ConnectorSettingDeclaration) {
  if (s.type === 'url') return url(s.default).transform((v) => v.replace(/\/$/, ''));
  const text = s.pattern ? z.string().regex(s.pattern.regex, s.pattern.message) : z.string();
  return text.default(s.default);
}

/** The program's variables and every registered connector's. A connector may not take one of the program's. */
function fullEnvSchema(manifests: ConnectorManifest[]) {
  const shape: Record<string, z.ZodType> = {};
  for (const m of manifests) {
    for (const s of Object.values(m.settings ?? {})) {
      if (s.env in envSchema.shape) throw new Error(`connector "${m.id}" declares ${s.env}, a variable of LeadRelay itself`);
      shape[s.env] = connectorSettingSchema(s);
    }
  }
  return envSchema.extend(shape);
}

/** Each connector's settings, by connector id and setting key. */
function connectorSettingsOf(manifests: ConnectorManifest[], values: Record<string, unknown>): Record<string, Record<string, string>> {
  return Object.fromEntries(manifests.map((m) => [m.id, Object.fromEntries(Object.entries(m.settings ?? {}).map(([key, s]) => [key, String(values[s.env])]))]));
}

export type EnvInput = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function cleanEnv(env: EnvInput): EnvInput {
  // Empty strings mean "unset", as in most .env files.
  const cleaned: EnvInput = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v;
  return cleaned;
}

function parseEnv(env: EnvInput, manifests: ConnectorManifest[]) {
  const cleaned = cleanEnv(env);
  const result = fullEnvSchema(manifests).safeParse(cleaned);
  if (!result.success) {
    // Name every bad variable at once; never echo the value (it may be a secret).
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(problems);
  }
  if (result.data.NODE_ENV === 'production' && result.data.LEADRELAY_EXTRA_CONNECTORS !== undefined) throw new ConfigError([EXTRA_CONNECTORS_IN_PRODUCTION]);
  return result.data as z.infer<typeof envSchema> & Record<string, unknown>;
}

type Env = z.infer<typeof envSchema>;

const EXTRA_CONNECTORS_IN_PRODUCTION = 'LEADRELAY_EXTRA_CONNECTORS: is for tests and is refused with NODE_ENV=production';

/**
 * The module paths in LEADRELAY_EXTRA_CONNECTORS (tests only: connectors defined outside
 * connectors/, such as test/fixtures/connectors/). Read before the rest of the configuration,
 * because the connectors they add declare settings of their own. Throws ConfigError in production.
 */
export function readExtraConnectorModules(env: EnvInput = process.env): string[] {
  const cleaned = cleanEnv(env);
  const value = cleaned.LEADRELAY_EXTRA_CONNECTORS;
  if (value === undefined) return [];
  if (cleaned.NODE_ENV === 'production') throw new ConfigError([EXTRA_CONNECTORS_IN_PRODUCTION]);
  return value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

export interface AppConfig {
  env: Env['NODE_ENV'];
  port: number;
  host: string;
  publicUrl: string;
  logLevel: Env['LOG_LEVEL'];
  /** `url` unset: the embedded PostgreSQL under `dataDir`. */
  database: { url: string | undefined; poolMax: number; preparedStatements: boolean; dataDir: string; embeddedPort: number };
  /** `redisUrl` unset: BullMQ's PostgreSQL backend, in schema `<prefix>_queues` of the same database. */
  queue: { redisUrl: string | undefined; prefix: string };
  shutdownTimeoutMs: number;
  meta: {
    appId: string;
    appSecret: string;
    verifyToken: string;
    graphUrl: string;
    /** Base URL of the Facebook Login dialog (`https://www.facebook.com`; a loopback fake in tests). */
    dialogUrl: string;
    /** Facebook Login for Business configuration id; undefined: the dialog asks by `scope`. */
    loginConfigId: string | undefined;
    graphVersion: string;
    graphTimeoutMs: number;
    graphRetries: number;
    graphRetryMinDelayMs: number;
  };
  encryptionKeys: { kid: string; key: Buffer }[] | undefined;
  allowPrivateDestinations: boolean;
  intake: { maxBodyBytes: number; batchMaxRows: number; fetchJobWaitMs: number };
  delivery: { timeoutMs: number; maxAttempts: number; backoffBaseMs: number; backoffMaxMs: number; responseBodyMaxBytes: number };
  fetch: { maxAttempts: number; backoffBaseMs: number };
  /** `inProcess`: `start` runs the workers on the HTTP server's event loop (default: in a supervised child process). */
  /** `processNice`: the worker process's niceness above the HTTP process's (0–19). */
  workers: { fetchConcurrency: number; deliverConcurrency: number; lockDurationMs: number; inProcess: boolean; processNice: number };
  /** When a worker counts as stuck (0 = never): no sign of life from its event loop for `stallMs`, or one job running for `jobMaxMs`. */
  watchdog: { stallMs: number; jobMaxMs: number };
  maintenance: { outboxSweepIntervalMs: number; outboxMinAgeMs: number; formDriftIntervalMs: number };
  reconciliation: { intervalMs: number; lookbackHours: number; settleMs: number };
  retention: { leadRetentionDays: number; attemptRetentionMonths: number; eventRetentionDays: number };
  /** A deleted workspace's grace period (restore possible), in days: 0–30. */
  workspaceDeletion: { graceDays: number };
  monitoring: { intervalMs: number; queueAgeAlertMs: number; deadLetterAlertPercent: number; deadLetterAlertMin: number; tokenExpiryWarningDays: number };
  alerts: { dispatchIntervalMs: number; repeatFirstMs: number; repeatMaxMs: number; sendRetries: number; retryMinDelayMs: number };
  api: {
    rateLimitPerMinute: number;
    signInMaxFailures: number;
    signInLockoutMinutes: number;
    signInIpMaxFailures: number;
    trustProxy: string | undefined;
  };
  metrics: { token: string | undefined; listen: { host: string; port: number } | undefined };
  smtp: { url: string | undefined; from: string };
  /** Each registered connector's own settings (its manifest's `settings`), by connector id and key. */
  connectors: Record<string, Record<string, string>>;
}

/**
 * Parses the environment once: the program's variables and those every registered connector
 * declares. Throws ConfigError naming every bad variable.
 */
export function loadConfig(env: EnvInput = process.env, manifests: ConnectorManifest[] = listManifests()): AppConfig {
  const e = parseEnv(env, manifests);
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    logLevel: e.LOG_LEVEL,
    database: {
      url: e.DATABASE_URL,
      poolMax: e.DATABASE_POOL_MAX,
      preparedStatements: e.DATABASE_PREPARED_STATEMENTS,
      dataDir: e.DATA_DIR,
      embeddedPort: e.EMBEDDED_POSTGRES_PORT,
    },
    queue: { redisUrl: e.REDIS_URL, prefix: e.QUEUE_PREFIX },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    meta: {
      appId: e.META_APP_ID,
      appSecret: e.META_APP_SECRET,
      verifyToken: e.META_VERIFY_TOKEN,
      graphUrl: e.META_GRAPH_URL.replace(/\/$/, ''),
      dialogUrl: e.META_DIALOG_URL.replace(/\/$/, ''),
      loginConfigId: e.META_LOGIN_CONFIG_ID,
      graphVersion: e.META_GRAPH_VERSION,
      graphTimeoutMs: e.META_GRAPH_TIMEOUT_MS,
      graphRetries: e.META_GRAPH_RETRIES,
      graphRetryMinDelayMs: e.META_GRAPH_RETRY_MIN_DELAY_MS,
    },
    encryptionKeys: e.LEADRELAY_ENCRYPTION_KEYS,
    allowPrivateDestinations: e.LEADRELAY_ALLOW_PRIVATE_DESTINATIONS,
    intake: { maxBodyBytes: e.MAX_WEBHOOK_BODY_BYTES, batchMaxRows: e.INTAKE_BATCH_MAX_ROWS, fetchJobWaitMs: e.FETCH_JOB_WAIT_MS },
    delivery: {
      timeoutMs: e.DELIVERY_TIMEOUT_MS,
      maxAttempts: e.DELIVERY_MAX_ATTEMPTS,
      backoffBaseMs: e.DELIVERY_BACKOFF_BASE_MS,
      backoffMaxMs: e.DELIVERY_BACKOFF_MAX_MS,
      responseBodyMaxBytes: e.DELIVERY_RESPONSE_BODY_MAX_BYTES,
    },
    fetch: { maxAttempts: e.FETCH_MAX_ATTEMPTS, backoffBaseMs: e.FETCH_BACKOFF_BASE_MS },
    workers: {
      fetchConcurrency: e.FETCH_CONCURRENCY,
      deliverConcurrency: e.DELIVER_CONCURRENCY,
      lockDurationMs: e.WORKER_LOCK_DURATION_MS,
      inProcess: e.WORKERS_IN_PROCESS,
      processNice: e.WORKER_PROCESS_NICE,
    },
    watchdog: { stallMs: e.WATCHDOG_STALL_MS, jobMaxMs: e.WATCHDOG_JOB_MAX_MS },
    maintenance: { outboxSweepIntervalMs: e.OUTBOX_SWEEP_INTERVAL_MS, outboxMinAgeMs: e.OUTBOX_MIN_AGE_MS, formDriftIntervalMs: e.FORM_DRIFT_INTERVAL_MS },
    retention: {
      leadRetentionDays: e.LEAD_RETENTION_DAYS,
      attemptRetentionMonths: e.ATTEMPT_RETENTION_MONTHS,
      eventRetentionDays: e.EVENT_RETENTION_DAYS,
    },
    reconciliation: { intervalMs: e.RECONCILE_INTERVAL_MS, lookbackHours: e.RECONCILE_LOOKBACK_HOURS, settleMs: e.RECONCILE_SETTLE_MS },
    workspaceDeletion: { graceDays: e.WORKSPACE_DELETION_GRACE_DAYS },
    monitoring: {
      intervalMs: e.MONITOR_INTERVAL_MS,
      queueAgeAlertMs: e.MONITOR_QUEUE_AGE_ALERT_MS,
      deadLetterAlertPercent: e.MONITOR_DEAD_LETTER_ALERT_PERCENT,
      deadLetterAlertMin: e.MONITOR_DEAD_LETTER_ALERT_MIN,
      tokenExpiryWarningDays: e.MONITOR_TOKEN_EXPIRY_WARNING_DAYS,
    },
    alerts: {
      dispatchIntervalMs: e.ALERT_DISPATCH_INTERVAL_MS,
      repeatFirstMs: e.ALERT_REPEAT_FIRST_MS,
      repeatMaxMs: e.ALERT_REPEAT_MAX_MS,
      sendRetries: e.ALERT_SEND_RETRIES,
      retryMinDelayMs: e.ALERT_RETRY_MIN_DELAY_MS,
    },
    api: {
      rateLimitPerMinute: e.API_RATE_LIMIT_PER_MINUTE,
      signInMaxFailures: e.SIGN_IN_MAX_FAILURES,
      signInLockoutMinutes: e.SIGN_IN_LOCKOUT_MINUTES,
      signInIpMaxFailures: e.SIGN_IN_IP_MAX_FAILURES,
      trustProxy: e.TRUST_PROXY,
    },
    metrics: { token: e.METRICS_TOKEN, listen: e.METRICS_LISTEN ? parseHostPort(e.METRICS_LISTEN) : undefined },
    smtp: { url: e.SMTP_URL, from: e.SMTP_FROM },
    connectors: connectorSettingsOf(manifests, e),
  };
}

function parseHostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  return { host: value.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(value.slice(i + 1)) };
}

/** What `leadrelay api` needs, and nothing more: where the API is, and a key if the environment has one. */
export interface ApiClientConfig {
  /** LEADRELAY_API_URL; default http://localhost:<PORT>. */
  url: string;
  /** LEADRELAY_API_KEY, if set (a key file or stdin may give it instead). */
  key: string | undefined;
}

const apiClientEnvSchema = z.object({
  PORT: int(3000),
  LEADRELAY_API_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. https://leadrelay.example.com' }).optional(),
  LEADRELAY_API_KEY: z.string().optional(),
});

export function loadApiClientConfig(env: EnvInput = process.env): ApiClientConfig {
  const result = apiClientEnvSchema.safeParse(cleanEnv(env));
  if (!result.success) throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  const e = result.data;
  return { url: (e.LEADRELAY_API_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''), key: e.LEADRELAY_API_KEY?.trim() || undefined };
}

/**
 * The environment a CLI command reads secrets from (LEADRELAY_<FLAG>, LEADRELAY_PASSWORD): the
 * process's own, handed out here so that this module stays the only reader of process.env.
 */
export function commandEnvironment(): EnvInput {
  return process.env;
}

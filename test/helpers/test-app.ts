// An App (src/app.ts) for integration tests: the real PostgreSQL in a fresh migrated schema,
// the queues on the real Redis under a prefix of their own or on BullMQ's PostgreSQL backend in
// a schema of their own, and a config parsed by loadConfig from test values, so the tests
// exercise the same wiring the binary uses.
import { randomBytes } from 'node:crypto';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, type AppConfig, type EnvInput } from '../../src/config/env.js';
import type { QueueBackendKind } from '../../src/pipeline/queues.js';
import { loseQueuedJobs, removeQueues, TEST_APP_SECRET, TEST_KEYS, TEST_VERIFY_TOKEN } from './e2e.js';
import { createTestSchema, TEST_REDIS_URL, type TestSchema } from './test-db.js';

/** Both queue backends, for suites that must hold on each. */
export const QUEUE_BACKENDS: QueueBackendKind[] = ['redis', 'postgres'];

export interface TestApp {
  app: App;
  config: AppConfig;
  schema: TestSchema;
  /** The QUEUE_PREFIX: every Redis key of this app starts with it, or its queue schema is named after it. */
  prefix: string;
  backend: QueueBackendKind;
  /** Empties the queue backend behind the app's back (as a Redis that lost everything); returns how much went. */
  loseQueuedJobs(): Promise<number>;
  /** Closes the app, drops its schema and deletes its Redis keys. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** Test values for every setting the pipeline reads; `env` overrides or adds to them. */
export function testEnv(schemaUrl: string, prefix: string, env: EnvInput = {}, backend: QueueBackendKind = 'redis'): EnvInput {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: schemaUrl,
    DATABASE_POOL_MAX: '5',
    // Empty means unset: the queues then run on PostgreSQL.
    REDIS_URL: backend === 'redis' ? TEST_REDIS_URL : '',
    QUEUE_PREFIX: prefix,
    META_APP_ID: '1234567890',
    META_APP_SECRET: TEST_APP_SECRET,
    META_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
    META_GRAPH_RETRIES: '0',
    META_GRAPH_RETRY_MIN_DELAY_MS: '10',
    LEADRELAY_ENCRYPTION_KEYS: TEST_KEYS,
    LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: 'true',
    DELIVERY_TIMEOUT_MS: '3000',
    DELIVERY_MAX_ATTEMPTS: '3',
    DELIVERY_BACKOFF_BASE_MS: '20',
    DELIVERY_BACKOFF_MAX_MS: '100',
    FETCH_BACKOFF_BASE_MS: '20',
    FETCH_CONCURRENCY: '4',
    DELIVER_CONCURRENCY: '4',
    WORKER_LOCK_DURATION_MS: '5000',
    // The maintenance loop of startWorkers must not sweep (or reconcile with Meta) behind a test's back.
    OUTBOX_SWEEP_INTERVAL_MS: '3600000',
    RECONCILE_INTERVAL_MS: '0',
    MONITOR_INTERVAL_MS: '0',
    OUTBOX_MIN_AGE_MS: '1000',
    ...env,
  };
}

export interface CreateTestAppOptions {
  /** Environment values on top of testEnv's. */
  env?: EnvInput;
  /** Open the queues (default true). */
  withQueues?: boolean;
  /** Default redis. */
  backend?: QueueBackendKind;
}

/** Builds an App on a fresh migrated schema with a unique queue prefix. */
export async function createTestApp(opts: CreateTestAppOptions = {}): Promise<TestApp> {
  const schema = await createTestSchema('it');
  const prefix = `it${randomBytes(5).toString('hex')}`;
  const backend = opts.backend ?? 'redis';
  let app: App;
  let config: AppConfig;
  try {
    config = loadConfig(testEnv(schema.url, prefix, opts.env, backend));
    app = await createApp(config, { migrate: true, withQueues: opts.withQueues ?? true });
  } catch (err) {
    await schema.drop();
    throw err;
  }
  let isClosed = false;
  return {
    app,
    config,
    schema,
    prefix,
    backend,
    loseQueuedJobs: () => loseQueuedJobs(backend, prefix),
    async cleanup() {
      if (isClosed) return;
      isClosed = true;
      try {
        await app.close();
      } finally {
        await schema.drop();
        await removeQueues(backend, prefix);
      }
    },
  };
}

// The program's shared parts, built once from the typed config and handed to every role.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AppConfig } from './config/env.js';
import { KeyRing } from './crypto/key-ring.js';
import { createGraphClient, type GraphClient } from './meta/graph-client.js';
import { createQueues, type Queues } from './pipeline/queues.js';
import { openDb, type DbHandle } from './store/db.js';
import { migrateToLatest } from './store/migrate.js';
import { createLogger, type Logger } from './util/logger.js';

export interface App {
  config: AppConfig;
  dbh: DbHandle;
  db: DbHandle['db'];
  keyRing: KeyRing;
  queues: Queues;
  graph: GraphClient;
  logger: Logger;
  close(): Promise<void>;
}

export interface CreateAppOptions {
  /** Apply pending migrations first (the default for `start`, `serve` and `work`). */
  migrate?: boolean;
  /** Connect to Redis (commands that only touch PostgreSQL skip it). */
  withQueues?: boolean;
  logger?: Logger;
}

export async function createApp(config: AppConfig, opts: CreateAppOptions = {}): Promise<App> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const keyRing = KeyRing.fromConfig(config.encryptionKeys ?? loadDevelopmentKey(config, logger));
  const dbh = await openDb({ url: config.database.url, poolMax: config.database.poolMax, pgliteDir: config.database.pgliteDir });
  if (opts.migrate !== false) {
    const applied = await migrateToLatest(dbh.db);
    if (applied.length) logger.info({ migrations: applied, database: dbh.kind }, 'migrations applied');
  }
  const queues = opts.withQueues === false ? nullQueues() : createQueues(config.redis.url, config.redis.prefix);
  const graph = createGraphClient({
    graphUrl: config.meta.graphUrl,
    version: config.meta.graphVersion,
    appSecret: config.meta.appSecret,
    appId: config.meta.appId,
    timeoutMs: config.meta.graphTimeoutMs,
    retries: config.meta.graphRetries,
    retryMinDelayMs: config.meta.graphRetryMinDelayMs,
  });
  return {
    config,
    dbh,
    db: dbh.db,
    keyRing,
    queues,
    graph,
    logger,
    async close() {
      await queues.close();
      await dbh.close();
    },
  };
}

/**
 * Outside production, a newcomer's `npm start` must work with no setup: with no
 * LEADRELAY_ENCRYPTION_KEYS, a key is made once and kept beside the embedded database (mode 600).
 * Production refuses to start without a configured key ring.
 */
function loadDevelopmentKey(config: AppConfig, logger: Logger): { kid: string; key: Buffer }[] | undefined {
  if (config.env === 'production') return undefined;
  const file = join(dirname(config.database.pgliteDir), 'dev-encryption.key');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  }
  logger.warn({ file }, 'LEADRELAY_ENCRYPTION_KEYS is not set: using a development key from a local file (set a real key ring in production)');
  return [{ kid: 'dev', key: Buffer.from(readFileSync(file, 'utf8').trim(), 'base64') }];
}

function nullQueues(): Queues {
  const fail = async () => {
    throw new Error('this command runs without Redis');
  };
  return {
    fetch: undefined as never,
    deliver: undefined as never,
    prefix: '',
    redisUrl: '',
    redis: undefined as never,
    enqueueFetch: fail,
    enqueueFetchBatch: fail,
    enqueueDeliveries: fail,
    ping: async () => false,
    close: async () => {},
  };
}

// The program's shared parts, built once from the typed config and handed to every role.
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
  const keyRing = KeyRing.fromConfig(config.encryptionKeys);
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
    enqueueDeliveries: fail,
    ping: async () => false,
    close: async () => {},
  };
}

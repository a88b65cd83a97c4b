// The program's shared parts, built once from the typed config and handed to every role.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConnectors } from '../connectors/index.js';
import type { AppConfig } from './config/env.js';
import { KeyRing } from './crypto/key-ring.js';
import { createGraphClient, type GraphClient } from './meta/graph-client.js';
import type { GraphForm } from './meta/graph-types.js';
import { createConnectorLocks, type ConnectorLocks } from './pipeline/connector-locks.js';
import { ConfigCache } from './pipeline/config-cache.js';
import type { BatchTurns } from './pipeline/deliver-batch.js';
import { createConnectorMemories, type ConnectorMemories } from './pipeline/connector-memory.js';
import type { Queues, QueueBackendSpec } from './pipeline/queues.js';
import { queuesOnDemand } from './pipeline/queues-on-demand.js';
import { openDb, type DbHandle } from './store/db.js';
import { acquireEmbeddedPostgres, type EmbeddedRole } from './store/embedded-postgres.js';
import { type DeliveredOutcome, writeDeliveredOutcomes } from './store/delivered-outcomes.js';
import { storeFetchedLeads, type FetchedLeadRows, type StoredLead } from './store/fetched-leads.js';
import { GroupCommit } from './store/group-commit.js';
import { migrateToLatest } from './store/migrate.js';
import { createLogger, type Logger } from './util/logger.js';
import { TtlCache } from './util/ttl-cache.js';

export interface App {
  config: AppConfig;
  dbh: DbHandle;
  db: DbHandle['db'];
  keyRing: KeyRing;
  queues: Queues;
  graph: GraphClient;
  logger: Logger;
  /** Forms' names and questions as the fetch step last read them from Graph (null: unreadable), by form id. */
  formCache: TtlCache<GraphForm | null>;
  /** The configuration rows the fetch step reads per lead, exact as of the config counter it reads with each event. */
  configCache: ConfigCache;
  /** How this process paces batch calls per destination (deliver-batch.ts). */
  batchTurns: BatchTurns;
  /** Stores fetched leads, several concurrent fetches' in one statement under load (group commit). */
  leadStore: GroupCommit<FetchedLeadRows, StoredLead>;
  /** Records single sends' delivered outcomes, several concurrent ones in one statement under load (group commit): whether each was written. */
  deliveredStore: GroupCommit<DeliveredOutcome, boolean>;
  /** The locks behind ctx.withLock and the key that hashes connectors' lock and record keys. */
  connectorLocks: ConnectorLocks;
  /** What connectors remember of each destination between deliveries (ctx.memory): field lists, refreshed tokens. */
  connectorMemories: ConnectorMemories;
  close(): Promise<void>;
}

/**
 * Rows per statement of the lead and outcome stores, and statements in flight at once: a lone
 * row is written at once; rows that come while two statements are under way go together in the next.
 */
const STORE_GROUP_COMMIT = { maxWeight: 50, maxInFlight: 2, isolateFailures: true };

/** The fetched-lead store of a process, on `db`. */
export function createLeadStore(db: DbHandle['db']): App['leadStore'] {
  return new GroupCommit((items) => storeFetchedLeads(db, items), STORE_GROUP_COMMIT);
}

/** The delivered-outcome store of a process, on `db` (grouped as the lead store). */
export function createDeliveredStore(db: DbHandle['db']): App['deliveredStore'] {
  return new GroupCommit(async (items) => {
    const written = new Set(await writeDeliveredOutcomes(db, items));
    return items.map((item) => written.has(item.deliveryId));
  }, STORE_GROUP_COMMIT);
}

/** How long the fetch step reuses a form's name and questions (or the failure to read them). */
const FORM_CACHE_TTL_MS = 10 * 60_000;

export interface CreateAppOptions {
  /** Apply pending migrations first (the default for `start`, `serve` and `work`). */
  migrate?: boolean;
  /** Open the queues (commands that only touch PostgreSQL skip them). */
  withQueues?: boolean;
  /**
   * Open the queues (and load the queue library) on their first use, not now: for operator
   * commands, most of which never queue anything. `fetch` and `deliver` are then unavailable.
   */
  queuesOnFirstUse?: boolean;
  logger?: Logger;
  /** With the embedded database: a server owns the data directory, a CLI joins it. Default cli. */
  role?: EmbeddedRole;
  /**
   * Load every connector now (default true), so that one that does not load stops start-up. A
   * process that delivers nothing (`serve`, the HTTP side of `start`) passes false: it loads a
   * connector, with its SDKs, only when a request needs it (field lists, OAuth).
   */
  loadConnectors?: boolean;
}

/** The database of this config: DATABASE_URL, or the embedded PostgreSQL under DATA_DIR. */
export async function openConfiguredDb(config: AppConfig, role: EmbeddedRole, logger: Logger): Promise<DbHandle> {
  const onConnectionError = (err: Error) =>
    logger.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'a database connection failed; it is replaced on next use');
  const preparedStatements = config.database.preparedStatements;
  if (config.database.url) return openDb({ url: config.database.url, poolMax: config.database.poolMax, onConnectionError, preparedStatements });
  const embedded = await acquireEmbeddedPostgres({
    dataDir: config.database.dataDir,
    role,
    port: config.database.embeddedPort,
    onLog: (message) => logger.info(message),
  });
  try {
    return await openDb({
      url: embedded.url,
      kind: 'embedded',
      poolMax: config.database.poolMax,
      onConnectionError,
      preparedStatements,
      afterClose: () => embedded.release(),
    });
  } catch (err) {
    await embedded.release();
    throw err;
  }
}

export function queueBackendOf(config: AppConfig, dbh: DbHandle): QueueBackendSpec {
  return config.queue.redisUrl
    ? { kind: 'redis', redisUrl: config.queue.redisUrl, prefix: config.queue.prefix }
    : { kind: 'postgres', databaseUrl: dbh.url, prefix: config.queue.prefix };
}

export async function createApp(config: AppConfig, opts: CreateAppOptions = {}): Promise<App> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  // Every registered connector, whole: one that does not load stops start-up, not a delivery.
  if (opts.loadConnectors !== false) await loadConnectors();
  const keyRing = KeyRing.fromConfig(config.encryptionKeys ?? loadDevelopmentKey(config, logger));
  const dbh = await openConfiguredDb(config, opts.role ?? 'cli', logger);
  let queues: Queues;
  try {
    if (opts.migrate !== false) {
      const applied = await migrateToLatest(dbh.db);
      if (applied.length) logger.info({ migrations: applied, database: dbh.kind }, 'migrations applied');
    }
    if (opts.withQueues === false) queues = nullQueues();
    else if (opts.queuesOnFirstUse) queues = queuesOnDemand(queueBackendOf(config, dbh));
    else queues = (await import('./pipeline/queues.js')).createQueues(queueBackendOf(config, dbh));
  } catch (err) {
    await dbh.close();
    throw err;
  }
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
    formCache: new TtlCache<GraphForm | null>(FORM_CACHE_TTL_MS),
    configCache: new ConfigCache(),
    batchTurns: { lastCallAt: new Map(), waiting: new Set() },
    leadStore: createLeadStore(dbh.db),
    deliveredStore: createDeliveredStore(dbh.db),
    connectorLocks: createConnectorLocks(config, keyRing, dbh.url),
    connectorMemories: createConnectorMemories(),
    async close() {
      await queues.close();
      await dbh.close();
    },
  };
}

/** Where the development key lives when LEADRELAY_ENCRYPTION_KEYS is unset. */
export const developmentKeyFile = (config: AppConfig) => join(config.database.dataDir, 'dev-encryption.key');

/**
 * Outside production, a newcomer's `npm start` must work with no setup: with no
 * LEADRELAY_ENCRYPTION_KEYS, a key is made once and kept in DATA_DIR (mode 600). The warning
 * comes once per data directory, when the key is made (the server's start checklist repeats it).
 * Production refuses to start without a configured key ring.
 */
function loadDevelopmentKey(config: AppConfig, logger: Logger): { kid: string; key: Buffer }[] | undefined {
  if (config.env === 'production') return undefined;
  const file = developmentKeyFile(config);
  if (!existsSync(file)) {
    mkdirSync(config.database.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
    logger.warn({ file }, 'LEADRELAY_ENCRYPTION_KEYS is not set: made a development key in a local file (set a real key ring in production)');
  }
  return [{ kid: 'dev', key: Buffer.from(readFileSync(file, 'utf8').trim(), 'base64') }];
}

function nullQueues(): Queues {
  const fail = async () => {
    throw new Error('this command runs without the queues');
  };
  return {
    fetch: undefined as never,
    deliver: undefined as never,
    backend: undefined as never,
    enqueueFetch: fail,
    enqueueFetchBatch: fail,
    enqueueDeliveries: fail,
    removeFetchJobs: fail,
    removeDeliveryJobs: fail,
    findEventsInQueuedBatches: fail,
    ping: async () => false,
    close: async () => {},
  };
}

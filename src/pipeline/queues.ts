// BullMQ queues. PostgreSQL is the system of record; these are a work buffer: every job carries
// ids only, has a deterministic id (so adding it twice is a no-op) and can be rebuilt from rows.
// Two backends behind the same Queue/Worker API: Redis (REDIS_URL set: the choice for volume) or
// BullMQ's PostgreSQL backend in the application's own database (no Redis to run).
import { createPostgresBackend, Queue, type BackendFactory, type ConnectionOptions, type PostgresConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';

export const FETCH_QUEUE = 'fetch';
export const DELIVER_QUEUE = 'deliver';

/** One event (`ev-<id>`: sweeps, retries) or a whole intake batch (`evb-<first id>`). */
export interface FetchJob {
  eventId?: number;
  eventIds?: number[];
}
export interface DeliverJob {
  deliveryId: string;
}

export const fetchJobId = (eventId: number) => `ev-${eventId}`;
/**
 * Event ids are unique and each belongs to one intake batch job, so its first (smallest) id names
 * the job. A job holds whole inserts (src/pipeline/fetch-coalescer.ts), so its first id is the
 * first of an insert: the outbox sweep relies on that to find the batch job of a group of events.
 */
export const fetchBatchJobId = (eventIds: number[]) => `evb-${eventIds.reduce((a, b) => Math.min(a, b))}`;
export const deliverJobId = (deliveryId: string) => `dl-${deliveryId}`;

export type QueueBackendKind = 'redis' | 'postgres';

/** Where the queues live: a Redis server, or a schema of a PostgreSQL database. */
export type QueueBackendSpec = { kind: 'redis'; redisUrl: string; prefix: string } | { kind: 'postgres'; databaseUrl: string; prefix: string };

export interface Queues {
  fetch: Queue<FetchJob>;
  deliver: Queue<DeliverJob>;
  backend: QueueBackendSpec;
  enqueueFetch(eventIds: number[], delayMs?: number): Promise<void>;
  /** One job for a batch of new events (intake): far less queue work than one job each. */
  enqueueFetchBatch(eventIds: number[]): Promise<void>;
  enqueueDeliveries(items: { id: string; delayMs?: number }[]): Promise<void>;
  /** Removes these events' `ev-` jobs: a delayed or failed one would keep the same id from being queued again. */
  removeFetchJobs(eventIds: number[]): Promise<void>;
  /** Removes these deliveries' jobs, for the same reason. */
  removeDeliveryJobs(deliveryIds: string[]): Promise<void>;
  /**
   * Of these groups of event ids (each a guess at one intake insert), the ids a batch job still
   * waiting or running lists: they need no job of their own. A group is looked up by its first
   * id, which names the job that holds it and any inserts that joined it; only ids found in a
   * job's data are returned, so a wrong guess costs a duplicate job, never a forgotten event.
   */
  findEventsInQueuedBatches(groups: number[][]): Promise<Set<number>>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** The PostgreSQL schema holding the queue tables: one per QUEUE_PREFIX, beside the app's tables. */
export const queueSchemaName = (prefix: string) => `${prefix}_queues`;

function redisConnection(url: string, forWorker: boolean): Redis {
  // Workers block on Redis; BullMQ requires maxRetriesPerRequest null for them. A Redis that is
  // down must not hold a command forever: the caller's shutdown deadline still applies.
  const redis = new Redis(url, { maxRetriesPerRequest: forWorker ? null : 3, enableReadyCheck: true, lazyConnect: false });
  redis.on('error', () => {});
  return redis;
}

/** A database URL without a `search_path` option: the queue backend pins its own schema. */
function withoutSearchPath(databaseUrl: string): string {
  const u = new URL(databaseUrl);
  u.searchParams.delete('options');
  return u.toString();
}

export interface BackendConnection {
  /** The `connection` option for a Queue or Worker. */
  connection: unknown;
  /** The backend factory to pass the Queue/Worker constructor (undefined: Redis, the default). */
  factory: BackendFactory | undefined;
  /** Redis only: the key prefix. */
  prefix?: string;
  close(): void;
}

/**
 * A connection for one Queue or Worker. Redis workers need a blocking connection of their own;
 * PostgreSQL connections are pools that BullMQ builds and closes itself.
 */
export function openBackendConnection(spec: QueueBackendSpec, opts: { forWorker: boolean; poolMax?: number }): BackendConnection {
  if (spec.kind === 'redis') {
    const redis = redisConnection(spec.redisUrl, opts.forWorker);
    return { connection: redis as unknown as ConnectionOptions, factory: undefined, prefix: spec.prefix, close: () => redis.disconnect() };
  }
  const connection: PostgresConnectionOptions = {
    connectionString: withoutSearchPath(spec.databaseUrl),
    schema: queueSchemaName(spec.prefix),
    max: opts.poolMax ?? 4,
    application_name: 'leadrelay-queue',
    // BullMQ migrates its schema on first connect, under its own advisory lock.
    migrate: true,
  };
  return { connection, factory: createPostgresBackend as unknown as BackendFactory, close: () => {} };
}

const PING_TIMEOUT_MS = 2000;
/** How many batch jobs the outbox sweep looks up at once. */
const LOOKUP_WAVE = 32;

// Failed and finished jobs are removed: the rows in PostgreSQL hold the outcome, and a later
// replay must be able to add a job with the same id again.
const jobDefaults = { removeOnComplete: true, removeOnFail: true } as const;

function openQueue<T>(name: string, conn: BackendConnection): Queue<T> {
  const opts = { connection: conn.connection as ConnectionOptions, prefix: conn.prefix, defaultJobOptions: jobDefaults };
  const queue = conn.factory ? new Queue<T>(name, opts, conn.factory as never) : new Queue<T>(name, opts);
  queue.on('error', () => {});
  return queue;
}

export function createQueues(spec: QueueBackendSpec): Queues {
  const conn = openBackendConnection(spec, { forWorker: false });
  const fetch = openQueue<FetchJob>(FETCH_QUEUE, conn);
  const deliver = openQueue<DeliverJob>(DELIVER_QUEUE, conn);
  return {
    fetch,
    deliver,
    backend: spec,
    async enqueueFetch(eventIds, delayMs = 0) {
      if (eventIds.length === 0) return;
      await fetch.addBulk(eventIds.map((eventId) => ({ name: 'fetch', data: { eventId }, opts: { jobId: fetchJobId(eventId), delay: Math.max(0, delayMs) } })));
    },
    async enqueueFetchBatch(eventIds) {
      if (eventIds.length === 0) return;
      if (eventIds.length === 1) return this.enqueueFetch(eventIds);
      await fetch.add('fetch-batch', { eventIds }, { jobId: fetchBatchJobId(eventIds) });
    },
    async enqueueDeliveries(items) {
      if (items.length === 0) return;
      await deliver.addBulk(
        items.map((it) => ({ name: 'deliver', data: { deliveryId: it.id }, opts: { jobId: deliverJobId(it.id), delay: Math.max(0, it.delayMs ?? 0) } })),
      );
    },
    async removeFetchJobs(eventIds) {
      for (const id of eventIds) await fetch.remove(fetchJobId(id)).catch(() => 0);
    },
    async removeDeliveryJobs(deliveryIds) {
      for (const id of deliveryIds) await deliver.remove(deliverJobId(id)).catch(() => 0);
    },
    async findEventsInQueuedBatches(groups) {
      const covered = new Set<number>();
      // In waves, in id order: a group a job found earlier already lists is not looked up.
      for (let next = 0; next < groups.length; ) {
        const wave: number[][] = [];
        for (; next < groups.length && wave.length < LOOKUP_WAVE; next++) if (!covered.has(groups[next][0])) wave.push(groups[next]);
        for (const job of await Promise.all(wave.map((g) => fetch.getJob(fetchBatchJobId(g))))) {
          // A finished job would be removed at once (jobDefaults); one still kept runs nothing more.
          if (!job || job.finishedOn || !Array.isArray(job.data.eventIds)) continue;
          for (const id of job.data.eventIds) covered.add(id);
        }
      }
      return covered;
    },
    async ping() {
      // A queue client waits for its connection without a limit: a backend that is down would
      // make /readyz hang instead of answering 503.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS)));
      const probe = fetch.getJobCounts('wait').then(
        () => true,
        () => false,
      );
      try {
        return await Promise.race([probe, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await Promise.allSettled([fetch.close(), deliver.close()]);
      conn.close();
    },
  };
}

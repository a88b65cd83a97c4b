// BullMQ queues. PostgreSQL is the system of record; these are a work buffer: every job carries
// ids only, has a deterministic id (so adding it twice is a no-op) and can be rebuilt from rows.
import { Queue, type ConnectionOptions } from 'bullmq';
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
/** Event ids are unique and each belongs to one intake batch, so its first id names the batch. */
export const fetchBatchJobId = (eventIds: number[]) => `evb-${eventIds[0]}`;
export const deliverJobId = (deliveryId: string) => `dl-${deliveryId}`;

export interface Queues {
  fetch: Queue<FetchJob>;
  deliver: Queue<DeliverJob>;
  prefix: string;
  redisUrl: string;
  /** A plain Redis client for locks and pings. */
  redis: Redis;
  enqueueFetch(eventIds: number[], delayMs?: number): Promise<void>;
  /** One job for a batch of new events (intake): far less Redis work than one job each. */
  enqueueFetchBatch(eventIds: number[]): Promise<void>;
  enqueueDeliveries(items: { id: string; delayMs?: number }[]): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export function redisConnection(url: string, forWorker: boolean): Redis {
  // Workers block on Redis; BullMQ requires maxRetriesPerRequest null for them.
  return new Redis(url, { maxRetriesPerRequest: forWorker ? null : 3, enableReadyCheck: true, lazyConnect: false });
}

// Failed and finished jobs are removed: the rows in PostgreSQL hold the outcome, and a later
// replay must be able to add a job with the same id again.
const jobDefaults = { removeOnComplete: true, removeOnFail: true } as const;

export function createQueues(redisUrl: string, prefix: string): Queues {
  const redis = redisConnection(redisUrl, false);
  redis.on('error', () => {});
  const connection = redis as unknown as ConnectionOptions;
  const fetch = new Queue<FetchJob>(FETCH_QUEUE, { connection, prefix, defaultJobOptions: jobDefaults });
  const deliver = new Queue<DeliverJob>(DELIVER_QUEUE, { connection, prefix, defaultJobOptions: jobDefaults });
  fetch.on('error', () => {});
  deliver.on('error', () => {});
  return {
    fetch,
    deliver,
    prefix,
    redisUrl,
    redis,
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
    async ping() {
      try {
        return (await redis.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.allSettled([fetch.close(), deliver.close()]);
      redis.disconnect();
    },
  };
}

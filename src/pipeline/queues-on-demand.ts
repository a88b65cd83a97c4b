// The queues, opened on first use: an operator command that never queues anything (most of them)
// loads no queue library and opens no connection to Redis. Only the methods are offered; the raw
// BullMQ queues (`fetch`, `deliver`) are for the processes that run the workers.
import type { QueueBackendSpec, Queues } from './queues.js';

export function queuesOnDemand(spec: QueueBackendSpec): Queues {
  let opened: Promise<Queues> | undefined;
  const open = () => {
    opened ??= import('./queues.js').then((m) => m.createQueues(spec));
    return opened;
  };
  const rawQueue = (): never => {
    throw new Error('these queues open on first use and offer only their methods');
  };
  return {
    get fetch() {
      return rawQueue();
    },
    get deliver() {
      return rawQueue();
    },
    backend: spec,
    enqueueFetch: async (eventIds, delayMs) => (await open()).enqueueFetch(eventIds, delayMs),
    enqueueFetchBatch: async (eventIds) => (await open()).enqueueFetchBatch(eventIds),
    enqueueDeliveries: async (items) => (await open()).enqueueDeliveries(items),
    removeFetchJobs: async (eventIds) => (await open()).removeFetchJobs(eventIds),
    removeDeliveryJobs: async (deliveryIds) => (await open()).removeDeliveryJobs(deliveryIds),
    findEventsInQueuedBatches: async (groups) => (await open()).findEventsInQueuedBatches(groups),
    ping: async () => (await open()).ping(),
    async close() {
      // A queue that never opened has nothing to close.
      const queues = await opened?.catch(() => undefined);
      await queues?.close();
    },
  };
}

// Prometheus metrics (prom-client: the de-facto Node client; counters and histograms with the
// exposition format Prometheus scrapes, so we don't hand-write it).
import { AggregatorRegistry, Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One process's metrics as prom-client's getMetricsAsJSON gives them (what crosses the IPC channel). */
export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export interface Metrics {
  registry: Registry;
  webhookChanges: Counter<string>;
  webhookRejected: Counter<'reason'>;
  deliveries: Counter<'outcome' | 'type'>;
  deliveryLatency: Histogram<'type'>;
  workerRestarts: Counter<'reason'>;
  /** New events by how they went to be fetched: handed to the worker process, or a fetch job. */
  fetchDispatch: Counter<'path'>;
  /** Deliveries of just-fetched leads by how they started: a free place, the line, or a delivery job. */
  deliveryHandOff: Counter<'path'>;
  /** Times a delivery job went back to the queue because its destination had no place free and frees them slowly. */
  destinationBusy: Counter<'type'>;
  /**
   * Adds another process's metrics (the supervised worker process) to what /metrics shows: its
   * leadrelay_* series add up with this process's; its process and Node.js series carry
   * `process="worker"`. A source answering null (gone, too slow) is left out of that scrape.
   */
  addSource(source: () => Promise<MetricsSnapshot | null>): void;
  /** The exposition text of this process and every added source. */
  text(): Promise<string>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const sources: (() => Promise<MetricsSnapshot | null>)[] = [];
  return {
    registry,
    webhookChanges: new Counter({ name: 'leadrelay_webhook_changes_total', help: 'leadgen changes accepted from Meta', registers: [registry] }),
    webhookRejected: new Counter({ name: 'leadrelay_webhook_rejected_total', help: 'webhook requests refused', labelNames: ['reason'], registers: [registry] }),
    deliveries: new Counter({
      name: 'leadrelay_delivery_attempts_total',
      help: 'delivery attempts by outcome',
      labelNames: ['outcome', 'type'],
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'leadrelay_lead_to_destination_seconds',
      help: 'time from webhook receipt to delivery',
      labelNames: ['type'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    workerRestarts: new Counter({
      name: 'leadrelay_worker_restarts_total',
      help: 'worker processes killed or lost and started again, by reason (stalled, job_stuck, exited)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    fetchDispatch: new Counter({
      name: 'leadrelay_fetch_dispatch_total',
      help: 'new leadgen events by how they went to be fetched: path="worker_process" (handed over the start process\'s channel) or path="queue" (a fetch job)',
      labelNames: ['path'],
      registers: [registry],
    }),
    deliveryHandOff: new Counter({
      name: 'leadrelay_delivery_handoff_total',
      help: 'deliveries of just-fetched leads by how they started: path="place" (a delivery place was free), path="line" (waited in the worker\'s line), path="batch" (taken by the worker\'s batch run of a batching CRM) or path="job" (a delivery job: the line full, a slow destination\'s share of it full, or a batch run that could not take it)',
      labelNames: ['path'],
      registers: [registry],
    }),
    destinationBusy: new Counter({
      name: 'leadrelay_destination_busy_total',
      help: 'times a delivery job went back to the queue because its destination had no delivery place free to it and frees them slowly (a slow CRM; one of its jobs waits in a worker meanwhile)',
      labelNames: ['type'],
      registers: [registry],
    }),
    addSource(source) {
      sources.push(source);
    },
    async text() {
      if (sources.length === 0) return registry.metrics();
      const others = (await Promise.all(sources.map((s) => s()))).filter((s): s is MetricsSnapshot => s !== null);
      const own = await registry.getMetricsAsJSON();
      return AggregatorRegistry.aggregate([own, ...others.map(labelProcessSeries)]).metrics();
    },
  };
}

/** Marks another process's own process and Node.js series, so they stand beside this one's instead of adding up. */
function labelProcessSeries(snapshot: MetricsSnapshot): MetricsSnapshot {
  return snapshot.map((m) =>
    m.name.startsWith('leadrelay_') ? m : { ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, process: 'worker' } })) },
  );
}

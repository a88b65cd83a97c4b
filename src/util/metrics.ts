// Prometheus metrics (prom-client: the de-facto Node client; counters and histograms with the
// exposition format Prometheus scrapes, so we don't hand-write it).
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  webhookChanges: Counter<string>;
  webhookRejected: Counter<'reason'>;
  deliveries: Counter<'outcome' | 'type'>;
  deliveryLatency: Histogram<'type'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
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
  };
}

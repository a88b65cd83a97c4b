// The webhook connector registered under other ids with other manifest traits, for tests of the
// delivery paths those traits take (see registerExtraConnector).
import type { Connector, ConnectorManifest } from '../../connectors/types.js';
import { webhookConnector } from '../../connectors/webhook/index.js';
import { webhookManifest } from '../../connectors/webhook/manifest.js';

/**
 * The webhook connector declared batching (up to 10 leads a call, no wait for more): its jobs go
 * through deliver-batch.ts. Its batch call sends one request per lead.
 */
export function batchingWebhookManifest(id: string, label: string): ConnectorManifest {
  const manifest = {
    ...(webhookManifest as ConnectorManifest),
    id,
    label,
    batch: { maxRecords: 10, maxWaitMs: 0 },
    deliverBatch: async (ctx: Parameters<Connector['deliver']>[0], items: { record: Parameters<Connector['deliver']>[1] }[]) => {
      const out = [];
      for (const item of items) out.push({ ok: true as const, result: await webhookConnector.deliver(ctx, item.record) });
      return out;
    },
    load: async () => ({ ...(webhookConnector as Connector), ...manifest }) as Connector,
  } as unknown as ConnectorManifest;
  return manifest;
}

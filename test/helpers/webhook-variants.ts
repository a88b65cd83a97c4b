// The webhook connector registered under other ids with other manifest traits, for tests of the
// delivery paths those traits take (see registerExtraConnector).
import { registerExtraConnector } from '../../connectors/index.js';
import type { Connector, ConnectorManifest } from '../../connectors/types.js';
import { webhookConnector } from '../../connectors/webhook/index.js';
import { webhookManifest } from '../../connectors/webhook/manifest.js';
import * as repo from '../../src/store/repos.js';
import type { Destination } from '../../src/store/schema.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { createTestApp, type TestApp } from './test-app.js';

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

/** A test app without queues holding one workspace and one destination of a batching webhook variant, with the receiver it posts to. */
export interface BatchingDestination {
  t: TestApp;
  receiver: FakeReceiver;
  workspaceId: string;
  destination: Destination;
  close(): Promise<void>;
}

/** Registers batchingWebhookManifest(id, label) and opens a BatchingDestination of it; close() undoes both. */
export async function openBatchingDestination(id: string, label: string, workspaceName: string): Promise<BatchingDestination> {
  const unregister = registerExtraConnector(batchingWebhookManifest(id, label));
  const receiver = await startFakeReceiver();
  const t = await createTestApp({ withQueues: false });
  const workspaceId = (await repo.createWorkspace(t.app.db, workspaceName)).id;
  const destination = await repo.createDestination(t.app.db, {
    workspaceId,
    type: id,
    name: 'batch',
    config: { url: receiver.url },
    credentialsEnvelope: null,
  });
  return {
    t,
    receiver,
    workspaceId,
    destination,
    async close() {
      unregister();
      await t.cleanup();
      await receiver.close();
    },
  };
}

// Builds the context a connector gets for one destination: decrypted credentials, a way to
// store refreshed ones at once (re-encrypted), per-delivery state, settings from config.
import type { App } from '../app.js';
import type { ConnectorContext, ConnectorSettings } from '../../connectors/types.js';
import { getConnector } from '../../connectors/index.js';
import * as repo from '../store/repos.js';
import type { Destination } from '../store/schema.js';
import { destinationAad } from './lead-record.js';

export function connectorSettings(app: App): ConnectorSettings {
  const c = app.config;
  return {
    timeoutMs: c.delivery.timeoutMs,
    allowPrivateDestinations: c.allowPrivateDestinations,
    responseBodyMaxBytes: c.delivery.responseBodyMaxBytes,
    hubspot: c.hubspot,
    salesforce: c.salesforce,
    pipedrive: c.pipedrive,
  };
}

export function decryptCredentials(app: App, dest: Destination): Record<string, unknown> {
  if (!dest.credentials_envelope) return {};
  return app.keyRing.decryptJson<Record<string, unknown>>(dest.credentials_envelope, destinationAad(dest.id));
}

export function encryptCredentials(app: App, destinationId: string, credentials: Record<string, unknown>): string {
  return app.keyRing.encryptJson(credentials, destinationAad(destinationId));
}

export function buildConnectorContext(app: App, dest: Destination, deliveryId: string | null): ConnectorContext {
  const connector = getConnector(dest.type);
  const config = connector.configSchema.parse(dest.config ?? {});
  const credentials = connector.credentialsSchema.parse(decryptCredentials(app, dest));
  let stateCache: Record<string, unknown> | null | undefined;
  const ctx: ConnectorContext = {
    destinationId: dest.id,
    workspaceId: dest.workspace_id,
    config,
    credentials,
    async saveCredentials(next) {
      await repo.updateDestinationCredentials(app.db, dest.id, encryptCredentials(app, dest.id, next as Record<string, unknown>), false);
      ctx.credentials = next;
    },
    state: {
      async get() {
        if (!deliveryId) return null;
        if (stateCache === undefined) stateCache = (await repo.findDelivery(app.db, deliveryId))?.connector_state ?? null;
        return stateCache;
      },
      async set(value) {
        if (!deliveryId) return;
        stateCache = value;
        await repo.updateDelivery(app.db, deliveryId, { connector_state: repo.json(value) });
      },
    },
    settings: connectorSettings(app),
    now: () => Date.now(),
  };
  return ctx;
}

// Builds the context a connector gets for one destination: decrypted credentials, a way to
// store refreshed ones at once (re-encrypted), per-delivery state, a lock shared by every worker
// process and recently resolved records (for CRMs without an upsert), the App's memory of the
// destination, settings from config.
import { createHmac } from 'node:crypto';
import type { App } from '../app.js';
import { ConnectorError, type ConnectorContext, type ConnectorSettings, type DeliveryState } from '../../connectors/types.js';
import { getManifest } from '../../connectors/index.js';
import { LockWaitTimeoutError } from '../store/advisory-locks.js';
import { findRecentRecord, saveRecentRecord } from '../store/recent-records.js';
import * as repo from '../store/repos.js';
import type { Destination } from '../store/schema.js';
import { destinationAad } from './lead-record.js';

/** How long ctx.recentRecords remembers an id: well past any search-index lag, short enough that a person deleted or merged in the CRM is soon looked up again. */
const RECENT_RECORD_TTL_MS = 15 * 60_000;

/** Keyed hash of (destination, key): its first 8 bytes are the advisory lock id, its hex the record key. */
function hashDestinationKey(hashKey: Buffer, destinationId: string, key: string): Buffer {
  return createHmac('sha256', hashKey).update(destinationId).update('\n').update(key).digest();
}

/** The key hash ctx.recentRecords stores for `key` (e.g. a person key): to find a person's rows without the key. */
export function recentRecordKeyHash(app: App, destinationId: string, key: string): string {
  return hashDestinationKey(app.connectorLocks.hashKey, destinationId, key).toString('hex');
}

/** What a connector of this type gets of the configuration: the shared limits and its own settings. */
export function connectorSettings(app: App, type: string): ConnectorSettings {
  const c = app.config;
  return {
    timeoutMs: c.delivery.timeoutMs,
    allowPrivateDestinations: c.allowPrivateDestinations,
    responseBodyMaxBytes: c.delivery.responseBodyMaxBytes,
    connector: c.connectors[type] ?? {},
  };
}

function decryptCredentials(app: App, dest: Destination): Record<string, unknown> {
  if (!dest.credentials_envelope) return {};
  // Opened for every delivery: kept open by the key ring (a new envelope, after a token refresh, is opened anew).
  return app.keyRing.decryptJson<Record<string, unknown>>(dest.credentials_envelope, destinationAad(dest.id), true);
}

export function encryptCredentials(app: App, destinationId: string, credentials: Record<string, unknown>): string {
  return app.keyRing.encryptJson(credentials, destinationAad(destinationId));
}

/** One delivery's connector state (ctx.state), read once and kept in step with what it writes; none without a delivery. */
export function deliveryState(app: App, deliveryId: string | null): DeliveryState {
  let stateCache: Record<string, unknown> | null | undefined;
  return {
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
  };
}

/**
 * The credentials a connector itself saved last, by destination (a token it refreshed during a
 * send), in this process: a refusal of those is a refusal of the destination's credentials, not
 * of credentials a re-authorisation has replaced since the send began (recordFailure).
 */
const savedByConnector = new Map<string, string>();

/** The credential envelopes a refusal during a send of this destination may have been a refusal of: its own, and any its connector saved since. */
export function credentialsTheSendMayHaveUsed(dest: Destination): (string | null)[] {
  const saved = savedByConnector.get(dest.id);
  return saved === undefined ? [dest.credentials_envelope] : [dest.credentials_envelope, saved];
}

export function buildConnectorContext(app: App, dest: Destination, deliveryId: string | null): ConnectorContext {
  const manifest = getManifest(dest.type);
  const config = manifest.configSchema.parse(dest.config ?? {});
  const credentials = manifest.credentialsSchema.parse(decryptCredentials(app, dest));
  const recentRecordKey = (key: string) => ({
    workspaceId: dest.workspace_id,
    destinationId: dest.id,
    keyHash: recentRecordKeyHash(app, dest.id, key),
  });
  const ctx: ConnectorContext = {
    destinationId: dest.id,
    workspaceId: dest.workspace_id,
    config,
    credentials,
    async saveCredentials(next) {
      const envelope = encryptCredentials(app, dest.id, next as Record<string, unknown>);
      await repo.updateDestinationCredentials(app.db, dest.id, envelope, false);
      savedByConnector.set(dest.id, envelope);
      ctx.credentials = next;
    },
    state: deliveryState(app, deliveryId),
    async withLock(key, fn) {
      const locks = app.connectorLocks;
      const lockId = hashDestinationKey(locks.hashKey, dest.id, key).readBigInt64BE(0);
      const onLost = () =>
        app.logger.warn(
          { destinationId: dest.id, type: dest.type },
          'a connector lock ended before its holder finished (connection lost or hold limit passed): a concurrent delivery may have created a duplicate',
        );
      try {
        return await locks.withLock(lockId, fn, onLost);
      } catch (err) {
        if (err instanceof LockWaitTimeoutError) throw new ConnectorError({ kind: 'retryable', reason: 'lock_wait_timeout' });
        throw err;
      }
    },
    recentRecords: {
      find: (key) => findRecentRecord(app.db, recentRecordKey(key), RECENT_RECORD_TTL_MS),
      save: (key, externalId) => saveRecentRecord(app.db, recentRecordKey(key), externalId, RECENT_RECORD_TTL_MS, deliveryId),
    },
    memory: app.connectorMemories.of(dest.type, dest.id),
    settings: connectorSettings(app, dest.type),
    now: () => Date.now(),
  };
  return ctx;
}

// The locks behind ctx.withLock and the secret that hashes connectors' lock and record keys: one
// set per App (src/app.ts), with its own small pool of lock connections opened on first use.
// Idle lock connections close themselves and never keep the process alive.
import type { AppConfig } from '../config/env.js';
import type { KeyRing } from '../crypto/key-ring.js';
import { createAdvisoryLocks, type AdvisoryLocks } from '../store/advisory-locks.js';

/**
 * Limits of ctx.withLock, from the delivery timeout (10 s by default): a caller waits at most 3
 * timeouts (30 s) for its turn, then its delivery is retried later; a holder keeps the lock at
 * most 6 timeouts (60 s), room for a few CRM calls that each time out, before PostgreSQL ends
 * the lock's session.
 */
function connectorLockLimits(config: AppConfig): { waitMs: number; holdLimitMs: number } {
  return { waitMs: 3 * config.delivery.timeoutMs, holdLimitMs: 6 * config.delivery.timeoutMs };
}

export interface ConnectorLocks {
  /** Secret for hashing lock and record keys: no email or phone reaches PostgreSQL or its logs. */
  readonly hashKey: Buffer;
  withLock<T>(lockId: bigint, fn: () => Promise<T>, onLost: () => void): Promise<T>;
}

export function createConnectorLocks(config: AppConfig, keyRing: KeyRing, databaseUrl: string): ConnectorLocks {
  let hashKey: Buffer | undefined;
  let advisory: AdvisoryLocks | undefined;
  return {
    get hashKey() {
      return (hashKey ??= keyRing.deriveKey('connector-person-key'));
    },
    withLock(lockId, fn, onLost) {
      // Each delivery holds at most one lock at a time. The embedded database is a real
      // PostgreSQL server too, so the same advisory locks serve every deployment.
      advisory ??= createAdvisoryLocks({ connectionString: databaseUrl, maxConnections: config.workers.deliverConcurrency, ...connectorLockLimits(config) });
      return advisory.withLock(lockId, fn, { onLost });
    },
  };
}

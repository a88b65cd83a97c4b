// Cross-process locks: PostgreSQL session-level advisory locks (pg_advisory_lock), each held on
// a connection of a small pool of their own. Why this shape:
// - Session-level, not transaction-level: the holder makes CRM calls (up to seconds) while it
//   holds the lock, and must not keep a transaction open that long.
// - The lock dies with its connection: when a worker process dies, its connections close and
//   PostgreSQL releases its locks at once. A host that vanishes without closing its TCP
//   connection (a frozen VM, a cut network) is caught by idle_session_timeout: the server ends a
//   lock session that stays idle (its holder busy elsewhere) longer than the hold limit, so no
//   holder can keep a lock forever. https://www.postgresql.org/docs/current/runtime-config-client.html
// - Waits are bounded: lock_timeout on the lock statement (it applies to advisory locks too).
// - A pool of its own, not the application's (src/store/db.ts): when every application
//   connection held a lock and each holder needed one more for its own writes, the process would
//   deadlock; and a connection the server may end needs our error listener while it is checked
//   out (a pg client without one crashes the process).
// - Callers in one process queue in memory first (KeyedMutex), so many deliveries of one person
//   in one worker use one connection, not one each.
// Session state does not survive PgBouncer's transaction pooling: point DATABASE_URL at
// PostgreSQL itself or at a session-pooling PgBouncer.
// https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS
import pg from 'pg';
import { KeyedMutex, LockWaitTimeoutError } from '../util/keyed-mutex.js';

export { LockWaitTimeoutError } from '../util/keyed-mutex.js';

/** SQLSTATE lock_not_available: lock_timeout expired. */
const LOCK_NOT_AVAILABLE = '55P03';
/** SQLSTATE undefined_object: e.g. idle_session_timeout on PostgreSQL before 14. */
const UNDEFINED_OBJECT = '42704';

export interface AdvisoryLockOptions {
  connectionString: string;
  /** Most connections held or waiting for a lock at once (default 10); more callers wait for one. */
  maxConnections?: number;
  /** How long a caller waits for its lock, in memory, for a connection and in PostgreSQL together. */
  waitMs: number;
  /** Longest a lock may be held: PostgreSQL ends a lock session idle this long, releasing the lock. */
  holdLimitMs: number;
  /** Idle lock connections close after this long (default 10 000, capped at half the hold limit). */
  idleConnectionMs?: number;
}

interface WithLockOptions {
  /**
   * Called when the lock ended before `fn` did (its connection died, or it was held past the
   * hold limit): another holder may have run alongside. `fn`'s result is still returned.
   */
  onLost?: () => void;
}

export interface AdvisoryLocks {
  /**
   * Runs `fn` while this process holds advisory lock `key` (a signed 64-bit integer). Throws
   * LockWaitTimeoutError when the lock is not ours within waitMs (`fn` then never runs).
   */
  withLock<T>(key: bigint, fn: () => Promise<T>, opts?: WithLockOptions): Promise<T>;
  close(): Promise<void>;
}

export function createAdvisoryLocks(opts: AdvisoryLockOptions): AdvisoryLocks {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.maxConnections ?? 10,
    // Idle lock connections must close before the server's idle_session_timeout ends them.
    idleTimeoutMillis: Math.max(1, Math.min(opts.idleConnectionMs ?? 10_000, Math.floor(opts.holdLimitMs / 2))),
    connectionTimeoutMillis: opts.waitMs,
    // Lock connections alone must never keep a finished process (a CLI command, a test) alive.
    allowExitOnIdle: true,
    keepAlive: true,
  });
  // An idle lock connection the server ended: the pool drops it and opens another when needed.
  pool.on('error', () => {});
  const local = new KeyedMutex();
  const prepared = new WeakSet<pg.PoolClient>();

  async function prepare(client: pg.PoolClient): Promise<void> {
    if (prepared.has(client)) return;
    try {
      await client.query(`select set_config('idle_session_timeout', $1, false)`, [`${opts.holdLimitMs}ms`]);
    } catch (err) {
      // PostgreSQL 13 and older: a dead process still releases its locks, a vanished host
      // only once TCP keepalive notices.
      if ((err as { code?: string }).code !== UNDEFINED_OBJECT) throw err;
    }
    prepared.add(client);
  }

  async function lockOnConnection<T>(key: bigint, deadline: number, fn: () => Promise<T>, onLost: (() => void) | undefined): Promise<T> {
    const client = await pool.connect().catch((err: unknown) => {
      if (Date.now() >= deadline) throw new LockWaitTimeoutError(opts.waitMs);
      throw err;
    });
    let connectionError: unknown;
    const onError = (err: unknown) => (connectionError ??= err);
    client.on('error', onError);
    let isHeld = false;
    let releaseError: Error | undefined;
    try {
      await prepare(client);
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) throw new LockWaitTimeoutError(opts.waitMs);
      await client.query(`select set_config('lock_timeout', $1, false)`, [`${leftMs}ms`]);
      try {
        await client.query('select pg_advisory_lock($1::bigint)', [key.toString()]);
      } catch (err) {
        if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) throw new LockWaitTimeoutError(opts.waitMs);
        throw err;
      }
      isHeld = true;
      return await fn();
    } catch (err) {
      if (!isHeld) releaseError = err instanceof LockWaitTimeoutError ? undefined : toError(err);
      throw err;
    } finally {
      if (isHeld) {
        let isReleased = false;
        if (connectionError === undefined) {
          try {
            const { rows } = await client.query<{ released: boolean }>('select pg_advisory_unlock($1::bigint) as released', [key.toString()]);
            isReleased = rows[0]?.released === true;
          } catch (err) {
            connectionError ??= err;
          }
        }
        if (!isReleased) {
          // Never hand a connection of uncertain lock state back to the pool.
          releaseError = toError(connectionError ?? new Error('advisory lock was no longer held'));
          onLost?.();
        }
      }
      client.removeListener('error', onError);
      client.release(releaseError ?? (connectionError === undefined ? undefined : toError(connectionError)));
    }
  }

  return {
    withLock(key, fn, withOpts = {}) {
      const deadline = Date.now() + opts.waitMs;
      return local.run(key.toString(), opts.waitMs, () => lockOnConnection(key, deadline, fn, withOpts.onLost));
    },
    close: () => pool.end(),
  };
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

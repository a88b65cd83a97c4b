// One holder at a time per key, within this process, in arrival order, with a bounded wait.
// The cross-process lock (src/store/advisory-locks.ts) queues its callers here first, so that
// many deliveries of one person in one process wait in memory and hold no database connection.

/** Thrown when a caller waited `waitMs` without getting its turn. */
export class LockWaitTimeoutError extends Error {
  constructor(readonly waitMs: number) {
    super(`waited ${waitMs} ms for a lock`);
    this.name = 'LockWaitTimeoutError';
  }
}

export class KeyedMutex {
  // Per key, a promise that settles when the last caller queued so far has finished.
  readonly #tails = new Map<string, Promise<void>>();

  /** Keys someone holds or waits for (for tests and metrics). */
  get size(): number {
    return this.#tails.size;
  }

  /**
   * Runs `fn` once every earlier caller with this key has finished; gives up with
   * LockWaitTimeoutError after `waitMs` (fn then never runs). `fn` gets the time left of the wait,
   * for a second lock taken inside it.
   */
  async run<T>(key: string, waitMs: number, fn: (remainingMs: number) => Promise<T>): Promise<T> {
    const startedAt = Date.now();
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let finish!: () => void;
    const mine = new Promise<void>((resolve) => (finish = resolve));
    // The next caller waits for the previous one *and* this one: a caller that times out leaves
    // the queue without letting the one behind it jump ahead of a holder still working.
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    try {
      await waitAtMost(previous, waitMs);
      return await fn(Math.max(0, waitMs - (Date.now() - startedAt)));
    } finally {
      finish();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

function waitAtMost(promise: Promise<void>, waitMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LockWaitTimeoutError(waitMs)), waitMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A bound on how many tasks run at once (the fetch step's places, an intake batch's parallelism).

/** Runs a task when one of its places is free. */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** Runs at most `limit` of the tasks given to it at once. */
export function createLimiter(limit: number): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active < limit) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      // A place given back goes straight to the next task waiting.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

// Polling for pages that show something moving (a lead travelling, a page's health): query
// options that refetch on an interval while the tab is visible, and stop once the awaited state
// is reached, so nothing polls forever.
import { useMemo, useRef } from 'react';

export interface PollingOptions<T> {
  /** Milliseconds between refetches while polling (default 3000). */
  intervalMs?: number;
  /** Poll only while this is true (default true). */
  enabled?: boolean;
  /** Stop polling once the data says what was awaited arrived. */
  until?(data: T): boolean;
}

/**
 * Options to spread into useQuery / api.useQuery:
 * `api.useQuery('get', path, init, { ...usePolling({ until: (d) => d.items.length > 0 }) })`.
 * A failing query keeps the same pace (the next poll may succeed), never faster.
 */
export function usePolling<T>({ intervalMs = 3000, enabled = true, until }: PollingOptions<T> = {}) {
  const untilRef = useRef(until);
  untilRef.current = until;
  return useMemo(
    () => ({
      refetchInterval: (query: { state: { data: T | undefined } }): number | false => {
        if (!enabled) return false;
        const data = query.state.data;
        if (untilRef.current && data !== undefined && untilRef.current(data)) return false;
        return intervalMs;
      },
      refetchIntervalInBackground: false,
    }),
    [intervalMs, enabled],
  );
}

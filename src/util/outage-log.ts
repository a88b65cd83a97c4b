// A dependency that is down (Redis, PostgreSQL) makes its clients report an error every second
// or so. The first report of each source is logged at once with its reason; the rest are counted
// and logged at a falling rate (5 s, 10 s, 20 s, … up to every 5 minutes).
import type { Logger } from './logger.js';
import { errorSummary } from './error-summary.js';

export interface OutageLog {
  report(source: string, err: unknown): void;
}

export interface OutageLogOptions {
  firstRepeatMs?: number;
  maxRepeatMs?: number;
  now?: () => number;
}

export function createOutageLog(logger: Logger, opts: OutageLogOptions = {}): OutageLog {
  const firstRepeatMs = opts.firstRepeatMs ?? 5_000;
  const maxRepeatMs = opts.maxRepeatMs ?? 300_000;
  const now = opts.now ?? Date.now;
  const sources = new Map<string, { since: number; unlogged: number; nextAt: number; repeatMs: number }>();
  return {
    report(source, err) {
      const t = now();
      const s = sources.get(source);
      if (!s) {
        sources.set(source, { since: t, unlogged: 0, nextAt: t + firstRepeatMs, repeatMs: firstRepeatMs });
        logger.warn({ source, err: errorSummary(err) }, `${source} is failing; further failures are logged at a falling rate`);
        return;
      }
      s.unlogged++;
      if (t < s.nextAt) return;
      logger.warn({ source, err: errorSummary(err), failuresSinceLastLog: s.unlogged, failingForMs: t - s.since }, `${source} is still failing`);
      s.unlogged = 0;
      s.repeatMs = Math.min(maxRepeatMs, s.repeatMs * 2);
      s.nextAt = t + s.repeatMs;
    },
  };
}

// Exponential backoff with jitter; pure, so the policy is tested on its own.
export function computeBackoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  // ±20 % jitter so a burst of failures does not retry in lock-step.
  return Math.round(Math.min(maxMs, exp * (0.8 + 0.4 * random())));
}

// The deploy-time defaults of config/defaults.json (sizes, timeouts, intervals, concurrency),
// checked against their schema when the program starts. The environment overrides each one
// (src/config/env.ts names the variable).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { projectRoot } from './project-root.js';

const defaultsSchema = z.object({
  http: z.object({
    maxWebhookBodyBytes: z.number().int().positive(),
    intakeBatchMaxRows: z.number().int().positive(),
    fetchJobWaitMs: z.number().int().nonnegative(),
  }),
  graph: z.object({ timeoutMs: z.number().int().positive(), retries: z.number().int().nonnegative(), retryMinDelayMs: z.number().int().nonnegative() }),
  delivery: z.object({
    timeoutMs: z.number().int().positive(),
    maxAttempts: z.number().int().positive(),
    backoffBaseMs: z.number().int().positive(),
    backoffMaxMs: z.number().int().positive(),
    responseBodyMaxBytes: z.number().int().positive(),
  }),
  fetch: z.object({ maxAttempts: z.number().int().positive(), backoffBaseMs: z.number().int().positive() }),
  workers: z.object({
    fetchConcurrency: z.number().int().positive(),
    deliverConcurrency: z.number().int().positive(),
    lockDurationMs: z.number().int().positive(),
    processNice: z.number().int().min(0).max(19),
  }),
  maintenance: z.object({
    outboxSweepIntervalMs: z.number().int().positive(),
    outboxMinAgeMs: z.number().int().nonnegative(),
    formDriftIntervalMs: z.number().int().nonnegative(),
  }),
  reconciliation: z.object({
    intervalMs: z.number().int().nonnegative(),
    lookbackHours: z.number().int().positive(),
    settleMs: z.number().int().nonnegative(),
  }),
  retention: z.object({
    leadRetentionDays: z.number().int().positive(),
    attemptRetentionMonths: z.number().int().positive(),
    eventRetentionDays: z.number().int().positive(),
  }),
  monitoring: z.object({
    intervalMs: z.number().int().nonnegative(),
    queueAgeAlertMs: z.number().int().positive(),
    deadLetterAlertPercent: z.number().int().min(1).max(100),
    deadLetterAlertMin: z.number().int().positive(),
    tokenExpiryWarningDays: z.number().int().nonnegative(),
  }),
  alerts: z.object({
    dispatchIntervalMs: z.number().int().nonnegative(),
    repeatFirstMs: z.number().int().positive(),
    repeatMaxMs: z.number().int().positive(),
    sendRetries: z.number().int().nonnegative(),
    retryMinDelayMs: z.number().int().nonnegative(),
  }),
  shutdown: z.object({ timeoutMs: z.number().int().positive() }),
  watchdog: z.object({ stallMs: z.number().int().nonnegative(), jobMaxMs: z.number().int().nonnegative() }),
});
type Defaults = z.infer<typeof defaultsSchema>;

/** Reads and checks config/defaults.json; a missing or mistyped default stops the program at start, naming it. */
export function loadDefaults(root = projectRoot): Defaults {
  const raw = JSON.parse(readFileSync(resolve(root, 'config/defaults.json'), 'utf8'));
  return defaultsSchema.parse(raw);
}

import { noteDestinationNeedsReauth } from '../alerts/raise.js';
import { credentialsTheSendMayHaveUsed } from './connector-context.js';
import type { App } from '../app.js';
import { ConnectorError } from '../../connectors/types.js';
import * as repo from '../store/repos.js';
import type { Destination } from '../store/schema.js';
import { computeBackoffMs } from './backoff.js';
import type { StepOutcome } from './fetch-lead.js';
import type { Metrics } from '../util/metrics.js';

/** The strings of a lead sent to a CRM: its answers, and the mapped values (a name split in two, a phone put in E.164). */
export function sentValuesOf(answers: { values: unknown[] }[], fields: Record<string, unknown>): string[] {
  const out = answers.flatMap((a) => a.values.filter((v): v is string => typeof v === 'string'));
  for (const v of Object.values(fields)) if (typeof v === 'string') out.push(v);
  return out;
}

export function asConnectorError(err: unknown): ConnectorError {
  return err instanceof ConnectorError
    ? err
    : new ConnectorError({
        kind: 'retryable',
        reason: 'internal_error',
        crmMessage: err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : undefined,
        cause: err,
      });
}

// ---- failures -------------------------------------------------------------------------------------

/** The delivery a failure is recorded for. */
export interface FailureTarget {
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  /** Takes the lead's data out of what the CRM said. */
  redact(text: string | null | undefined): string | null;
  /** In a batch: the claim the delivery is held by; the write happens only while it holds. */
  claimToken?: string;
}

/** What a failure does to the destination, done once per batch however many of its leads it hits. */
export interface DestinationEffects {
  rateLimitedUntil?: Date;
  /** The refusal of its credentials was taken in (the destination set to need re-authorisation, unless `credentialsReplaced`). */
  isReauthNoted?: boolean;
  /** The refused credentials had been replaced meanwhile: the destination stays as it is, and the leads go again. */
  credentialsReplaced?: boolean;
  isReauthAlerted?: boolean;
  /**
   * When the leads a failure of the whole call hit are tried again: one time for all of them,
   * so they come due together and go again as one batch (each its own jitter would scatter them
   * into many small batches).
   */
  retryAt?: Map<ConnectorError, { at: Date; delayMs: number }>;
}

export async function recordFailure(
  app: App,
  dest: Destination,
  target: FailureTarget,
  e: ConnectorError,
  metrics?: Metrics,
  effects: DestinationEffects = {},
): Promise<StepOutcome> {
  const { db, logger } = app;
  const { deliveryId, attempt, redact } = target;
  const lastError = { last_error_kind: e.kind, last_error_reason: e.reason, last_error_message: redact(e.crmMessage) };
  metrics?.deliveries.inc({ outcome: e.kind, type: dest.type });
  logger.warn({ deliveryId, destinationId: dest.id, type: dest.type, kind: e.kind, reason: e.reason, attempt, httpStatus: e.httpStatus }, 'delivery failed');
  const isRetryExhausted = e.kind === 'retryable' && attempt >= app.config.delivery.maxAttempts;
  const outcome = e.kind === 'rate_limited' ? 'rate_limited' : e.kind === 'auth' ? 'auth' : e.kind === 'invalid' || isRetryExhausted ? 'dead' : 'retry';
  const attemptRow = {
    workspaceId: dest.workspace_id,
    deliveryId,
    attempt,
    startedAt: target.startedAt,
    httpStatus: e.httpStatus,
    errorKind: e.kind,
    reason: e.reason,
    message: redact(e.crmMessage),
    responseBody: redact(e.responseBody),
    outcome,
  } as const;
  // Whoever sees the delivery's new status also sees its attempt: under a claim both are one
  // statement, written only while the claim still holds; without one the attempt goes first.
  const token = target.claimToken;
  if (!token) await repo.recordAttempt(db, attemptRow);
  const write = async (set: Record<string, unknown>, onlyIfPending = false): Promise<void> => {
    if (token) await repo.writeClaimedOutcome(db, token, set, attemptRow);
    else if (onlyIfPending) await repo.parkDeliveryIfPending(db, deliveryId, set as typeof lastError);
    else await repo.updateDelivery(db, deliveryId, set);
  };

  if (e.kind === 'rate_limited') {
    const waitMs = Math.max(1000, e.retryAfterMs ?? 10_000);
    let until = effects.rateLimitedUntil;
    if (!until) {
      until = effects.rateLimitedUntil = new Date(Date.now() + waitMs);
      await repo.setDestinationRateLimit(db, dest.id, until);
    }
    // A rate-limit wait is not a failure of this lead: the attempt count stays.
    await write({ ...lastError, next_attempt_at: until });
    return { type: 'delay', delayMs: Math.max(0, until.getTime() - Date.now()), detail: e.reason };
  }
  if (e.kind === 'auth') {
    if (!effects.isReauthNoted) {
      // Only while the destination still holds the credentials the CRM refused (those the send
      // began with, or any its connector saved since, a refreshed token): ones a
      // re-authorisation put in while this send was at the CRM are not undone, and the lead goes
      // again with them.
      effects.credentialsReplaced = !(await repo.setDestinationNeedsReauthFor(db, dest.id, credentialsTheSendMayHaveUsed(dest), e.reason));
      effects.isReauthNoted = true;
      if (effects.credentialsReplaced)
        logger.info({ destinationId: dest.id, reason: e.reason }, 'credentials refused after they were replaced; sending again with the new ones');
    }
    if (effects.credentialsReplaced) {
      if (token) await repo.releaseClaims(db, [deliveryId], token);
      return { type: 'delay', delayMs: 0, detail: 'credentials_replaced' };
    }
    if (!effects.isReauthAlerted) {
      effects.isReauthAlerted = true;
      // One alert for the destination (not one per lead); sent by the alert dispatcher, not from here.
      // The alert outlives the lead (no erasure reaches it): it quotes the CRM only with the
      // lead's values and every email address taken out, as the delivery's own message does.
      await noteDestinationNeedsReauth(app, dest, { reason: e.reason, crmMessage: lastError.last_error_message ?? undefined });
    }
    // Only while still pending: a re-authorisation may have just resumed it.
    await write(target.claimToken ? { ...lastError, status: 'parked' } : lastError, true);
    return { type: 'done', detail: 'parked' };
  }
  if (outcome === 'dead') {
    await write({ ...lastError, status: 'dead', attempts: attempt });
    return { type: 'done', detail: 'dead' };
  }
  let retry = effects.retryAt?.get(e);
  if (!retry) {
    const delayMs = computeBackoffMs(attempt, app.config.delivery.backoffBaseMs, app.config.delivery.backoffMaxMs);
    retry = { at: new Date(Date.now() + delayMs), delayMs };
    (effects.retryAt ??= new Map()).set(e, retry);
  }
  await write({ ...lastError, attempts: attempt, next_attempt_at: retry.at });
  return { type: 'delay', delayMs: Math.max(0, retry.at.getTime() - Date.now()), detail: e.reason };
}

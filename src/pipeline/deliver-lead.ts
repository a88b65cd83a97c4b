// Delivery step: one delivery row (lead × destination) → the mapped record sent through the
// destination's connector. The failure kind decides what happens next, here and only here:
// retryable → later with backoff; rate_limited → after the CRM's wait, without using an
// attempt, and only this destination waits; auth → park every delivery of the destination
// until it is re-authorised; invalid → dead-letter with the CRM's own message.
// What the CRM says back (its message, the response body) often quotes the lead: it is stored
// only with the lead's answer values, the values sent and every email address taken out, so no
// copy of lead data outlives the answers' retention in a message.
import { noteDestinationNeedsReauth } from '../alerts/raise.js';
import type { App } from '../app.js';
import { loadConnector } from '../../connectors/index.js';
import { ConnectorError, type DeliveryResult } from '../../connectors/types.js';
import * as repo from '../store/repos.js';
import { DESTINATION_DISCONNECTED } from '../store/disconnects.js';
import { isWorkspaceBeingDeleted, WORKSPACE_DELETED_REASON } from '../store/workspace-deletion.js';
import { computeBackoffMs } from './backoff.js';
import { buildConnectorContext } from './connector-context.js';
import { decryptLeadAnswers, toCanonicalLead } from './lead-record.js';
import { buildDeliveryRecord, needsFieldList } from './mapping-step.js';
import type { FormQuestion } from '../mapping/schema.js';
import type { StepOutcome } from './fetch-lead.js';
import type { Metrics } from '../util/metrics.js';
import { redactAnswerValues } from '../lead/redact.js';

/** The strings of a lead sent to a CRM: its answers, and the mapped values (a name split in two, a phone put in E.164). */
function sentValuesOf(answers: { values: unknown[] }[], fields: Record<string, unknown>): string[] {
  const out = answers.flatMap((a) => a.values.filter((v): v is string => typeof v === 'string'));
  for (const v of Object.values(fields)) if (typeof v === 'string') out.push(v);
  return out;
}

export async function deliverOne(app: App, deliveryId: string, metrics?: Metrics): Promise<StepOutcome> {
  const { db, logger } = app;
  const delivery = await repo.findDelivery(db, deliveryId);
  if (!delivery) return { type: 'done', detail: 'delivery_missing' };
  if (delivery.status !== 'pending') return { type: 'done', detail: `already_${delivery.status}` };

  const dest = await repo.findDestination(db, delivery.destination_id);
  if (!dest) {
    await repo.updateDelivery(db, deliveryId, { status: 'dead', last_error_kind: 'invalid', last_error_reason: 'destination_deleted' });
    return { type: 'done', detail: 'destination_deleted' };
  }
  if (dest.status !== 'active') {
    // A disconnected destination has no credentials left: it is connected again with new ones.
    const reason = dest.status === 'disabled' && dest.status_reason === DESTINATION_DISCONNECTED ? 'destination_disconnected' : `destination_${dest.status}`;
    await repo.updateDelivery(db, deliveryId, { status: 'parked', last_error_kind: 'auth', last_error_reason: reason });
    return { type: 'done', detail: 'parked' };
  }
  if (await isWorkspaceBeingDeleted(db, delivery.workspace_id)) {
    await repo.updateDelivery(db, deliveryId, { status: 'parked', last_error_kind: 'paused', last_error_reason: WORKSPACE_DELETED_REASON });
    return { type: 'done', detail: 'parked' };
  }
  if (dest.rate_limited_until && new Date(dest.rate_limited_until).getTime() > Date.now()) {
    return { type: 'delay', delayMs: new Date(dest.rate_limited_until).getTime() - Date.now(), detail: 'destination_rate_limited' };
  }

  const lead = await repo.findLead(db, delivery.lead_id);
  if (!lead || lead.erased_at) {
    await repo.updateDelivery(db, deliveryId, { status: 'dead', last_error_kind: 'invalid', last_error_reason: 'lead_erased' });
    return { type: 'done', detail: 'lead_erased' };
  }
  const canonical = toCanonicalLead(lead, decryptLeadAnswers(app.keyRing, lead));
  const route = delivery.route_id ? await repo.findRoute(db, delivery.route_id) : undefined;
  const connector = await loadConnector(dest.type);
  const attempt = delivery.attempts + 1;
  const startedAt = new Date();

  let result: DeliveryResult;
  let sent = sentValuesOf(canonical.answers, {});
  const redact = (text: string | null | undefined) => redactAnswerValues(text ?? null, sent);
  try {
    const ctx = buildConnectorContext(app, dest, deliveryId);
    // Without a mapping of its own, a route uses the CRM's preset fitted to the fields the CRM
    // really has (connectors cache their field lists), so no delivery names a missing field.
    const fields = needsFieldList(connector, route ?? null) ? await connector.describeFields(ctx) : [];
    const formQuestions = route?.form_questions ? null : ((await repo.findFormQuestions(db, lead.workspace_id, lead.form_id)) as FormQuestion[] | null);
    const record = buildDeliveryRecord(connector, route ?? null, canonical, deliveryId, fields, formQuestions);
    sent = sentValuesOf(canonical.answers, record.fields);
    result = await connector.deliver(ctx, record);
  } catch (err) {
    const e =
      err instanceof ConnectorError
        ? err
        : new ConnectorError({
            kind: 'retryable',
            reason: 'internal_error',
            crmMessage: err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : undefined,
            cause: err,
          });
    const base = {
      workspaceId: dest.workspace_id,
      deliveryId,
      attempt,
      startedAt,
      httpStatus: e.httpStatus,
      errorKind: e.kind,
      reason: e.reason,
      message: redact(e.crmMessage),
      responseBody: redact(e.responseBody),
    };
    const lastError = { last_error_kind: e.kind, last_error_reason: e.reason, last_error_message: redact(e.crmMessage) };
    metrics?.deliveries.inc({ outcome: e.kind, type: dest.type });
    logger.warn({ deliveryId, destinationId: dest.id, type: dest.type, kind: e.kind, reason: e.reason, attempt, httpStatus: e.httpStatus }, 'delivery failed');
    const isRetryExhausted = e.kind === 'retryable' && attempt >= app.config.delivery.maxAttempts;
    const outcome = e.kind === 'rate_limited' ? 'rate_limited' : e.kind === 'auth' ? 'auth' : e.kind === 'invalid' || isRetryExhausted ? 'dead' : 'retry';
    // The attempt is written first, so whoever sees the delivery's new status also sees it.
    await repo.recordAttempt(db, { ...base, outcome });

    if (e.kind === 'rate_limited') {
      const waitMs = Math.max(1000, e.retryAfterMs ?? 10_000);
      const until = new Date(Date.now() + waitMs);
      await repo.setDestinationRateLimit(db, dest.id, until);
      // A rate-limit wait is not a failure of this lead: the attempt count stays.
      await repo.updateDelivery(db, deliveryId, { ...lastError, next_attempt_at: until });
      return { type: 'delay', delayMs: waitMs, detail: e.reason };
    }
    if (e.kind === 'auth') {
      await repo.setDestinationStatus(db, dest.id, 'needs_reauth', e.reason);
      // One alert for the destination (not one per lead); sent by the alert dispatcher, not from here.
      await noteDestinationNeedsReauth(app, dest, e);
      // Only while still pending: a re-authorisation may have just resumed it.
      await repo.parkDeliveryIfPending(db, deliveryId, lastError);
      return { type: 'done', detail: 'parked' };
    }
    if (outcome === 'dead') {
      await repo.updateDelivery(db, deliveryId, { ...lastError, status: 'dead', attempts: attempt });
      return { type: 'done', detail: 'dead' };
    }
    const delayMs = computeBackoffMs(attempt, app.config.delivery.backoffBaseMs, app.config.delivery.backoffMaxMs);
    await repo.updateDelivery(db, deliveryId, { ...lastError, attempts: attempt, next_attempt_at: new Date(Date.now() + delayMs) });
    return { type: 'delay', delayMs, detail: e.reason };
  }

  // Sent: what follows is bookkeeping. It is outside the try so that a database hiccup here is
  // never mistaken for a failed delivery (which would send the lead again).
  // One transaction: whoever sees the delivery as delivered also sees its attempt.
  await db.transaction().execute(async (trx) => {
    await repo.updateDelivery(trx, deliveryId, {
      status: 'delivered',
      attempts: attempt,
      external_id: result.externalId,
      external_url: result.url ?? null,
      action: result.action,
      delivered_at: new Date(),
      last_error_kind: null,
      last_error_reason: null,
      last_error_message: null,
      next_attempt_at: null,
    });
    await repo.recordAttempt(trx, {
      workspaceId: dest.workspace_id,
      deliveryId,
      attempt,
      startedAt,
      outcome: 'delivered',
      httpStatus: result.httpStatus,
      responseBody: redact(result.responseBody),
    });
  });
  metrics?.deliveries.inc({ outcome: 'delivered', type: dest.type });
  metrics?.deliveryLatency.observe({ type: dest.type }, (Date.now() - new Date(lead.received_at).getTime()) / 1000);
  logger.info({ deliveryId, destinationId: dest.id, type: dest.type, action: result.action, attempt }, 'lead delivered');
  return { type: 'done', detail: result.action };
}

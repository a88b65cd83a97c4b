// Delivery step: one delivery row (lead × destination) → the mapped record sent through the
// destination's connector. What a failure does next (retry, wait, park, dead-letter) is decided
// in delivery-failure.ts.
// What the CRM says back (its message, the response body) often quotes the lead: it is stored
// only with the lead's answer values, the values sent and every email address taken out, so no
// copy of lead data outlives the answers' retention in a message.
//
// A connector whose manifest declares `batch` sends through deliver-batch.ts instead.
import { randomUUID } from 'node:crypto';
import type { App } from '../app.js';
import { getManifest, loadConnector } from '../../connectors/index.js';
import type { DeliveryResult } from '../../connectors/types.js';
import * as repo from '../store/repos.js';
import { DESTINATION_DISCONNECTED } from '../store/disconnects.js';
import type { Delivery, Destination, Lead } from '../store/schema.js';
import { WORKSPACE_DELETED_REASON } from '../store/workspace-deletion.js';
import { buildConnectorContext } from './connector-context.js';
import { decryptLeadAnswers, type LeadAnswers, toCanonicalLead } from './lead-record.js';
import { buildDeliveryRecord, needsFieldList } from './mapping-step.js';
import type { FormQuestion } from '../mapping/schema.js';
import type { StepOutcome, StoredDelivery } from './fetch-lead.js';
import type { Metrics } from '../util/metrics.js';
import { redactAnswerValues } from '../lead/redact.js';
import { asConnectorError, recordFailure, sentValuesOf } from './delivery-failure.js';
import { deliverInBatch } from './deliver-batch.js';

/** How many times the destination gate decides again when the configuration changes under it, before the delivery waits a second. */
const GATE_ATTEMPTS = 3;

/** Runs a delivery's send holding one of its destination's places (see delivery-places.ts), or says why it must wait. */
export type DestinationPlace = (destination: Destination, send: () => Promise<StepOutcome>) => Promise<StepOutcome>;

const withoutPlaces: DestinationPlace = (_destination, send) => send();

export async function deliverOne(app: App, deliveryId: string, metrics?: Metrics, place: DestinationPlace = withoutPlaces): Promise<StepOutcome> {
  const { db } = app;
  // The delivery with its lead, in one query (the lead is needed only for a single-lead send,
  // but reading it here saves a round trip; the claim below checks the delivery is still pending),
  // and the configuration counter: the destination, the workspace's deletion flag, the route and
  // the form's questions come from the config cache, exact as of that counter.
  const found = await repo.findDeliveryWithLead(db, deliveryId);
  if (!found) return { type: 'done', detail: 'delivery_missing' };
  const { delivery, configVersion } = found;
  if (delivery.status !== 'pending') return { type: 'done', detail: `already_${delivery.status}` };
  // A second job of a delivery waiting for its retry (queued again meanwhile) waits for it too.
  const dueInMs = delivery.next_attempt_at ? new Date(delivery.next_attempt_at).getTime() - Date.now() : 0;
  if (dueInMs > 0) return { type: 'delay', delayMs: dueInMs, detail: 'waiting_for_retry' };

  const gate = await destinationGate(app, delivery, configVersion);
  if ('outcome' in gate) return gate.outcome;
  const { dest } = gate;

  const batch = getManifest(dest.type).batch;
  if (batch) {
    // Held by a batch at work: that batch records it (and queues it again if it must wait).
    if (delivery.claimed_until && new Date(delivery.claimed_until).getTime() > Date.now()) return { type: 'done', detail: 'claimed_by_batch' };
    // A place given at once runs the send within this call; one given later may find the
    // destination changed while the job waited (its address, its status): checked again then.
    let waited = false;
    const sending = place(dest, async () => {
      if (!waited) return deliverInBatch(app, delivery, dest, batch, metrics);
      const now = await repo.currentConfigVersion(db);
      const regate = now === configVersion ? gate : await destinationGate(app, delivery, now);
      if ('outcome' in regate) return regate.outcome;
      return deliverInBatch(app, delivery, regate.dest, batch, metrics);
    });
    waited = true;
    return sending;
  }
  return place(dest, () => claimAndSend(app, found, dest, configVersion, metrics));
}

/**
 * A single-lead send: claimed first, so only one run sends the lead at a time. The claim reads the
 * configuration counter: when the configuration changed since the delivery was read (the job
 * waited for its place meanwhile), the destination is checked again and the send goes by it.
 */
async function claimAndSend(
  app: App,
  found: { delivery: Delivery; lead: Lead | undefined },
  dest: Destination,
  readAt: number,
  metrics?: Metrics,
): Promise<StepOutcome> {
  const { db } = app;
  const deliveryId = found.delivery.id;

  // Only one run sends a lead at a time: a job queued again while an earlier run of it is still
  // at the CRM (its job lost with Redis, then swept back) waits for that run's claim instead of
  // sending the lead a second time. A run that died leaves its claim to lapse.
  // The claim is short and renewed while the run lasts, so a run killed mid-send (kill -9) holds
  // the lead up for one lease, not for the longest a send could take.
  const leaseMs = singleClaimLeaseMs(app);
  const claim = { token: randomUUID(), until: new Date(Date.now() + leaseMs), now: new Date() };
  const held = await repo.claimDelivery(db, deliveryId, claim);
  if (!held) return { type: 'done', detail: 'no_longer_pending' };
  if ('heldUntil' in held) {
    return { type: 'delay', delayMs: Math.max(0, held.heldUntil.getTime() - Date.now()) + 1000, detail: 'held_by_another_run' };
  }
  if ('dueAt' in held) return { type: 'delay', delayMs: Math.max(0, held.dueAt.getTime() - Date.now()), detail: 'waiting_for_retry' };
  let sendTo = dest;
  if (held.configVersion !== readAt) {
    const gate = await destinationGate(app, held.claimed, held.configVersion, claim.token);
    if ('outcome' in gate) {
      // A wait (rate limit) keeps the delivery pending: its claim is let go for the job that comes back.
      if (gate.outcome.type === 'delay') await repo.releaseClaims(db, [deliveryId], claim.token);
      return gate.outcome;
    }
    sendTo = gate.dest;
  }
  return runClaimed(app, held.claimed, found.lead, sendTo, { token: claim.token, configVersion: held.configVersion, leaseMs }, metrics);
}

/**
 * A delivery the fetch step has just stored claimed for this process (see DirectSends in
 * fetch-lead.ts): sent now, with no delivery job and no claim statement. When its destination
 * does not take it now, the claim is let go and the outcome says what follows.
 */
export async function sendStoredDelivery(app: App, stored: StoredDelivery, metrics?: Metrics): Promise<StepOutcome> {
  const { delivery, lead, configVersion } = stored;
  const token = delivery.claimed_by;
  if (!token) throw new Error('sendStoredDelivery needs a delivery stored with its claim');
  const gate = await destinationGate(app, delivery, configVersion, token);
  if ('dest' in gate && !getManifest(gate.dest.type).batch) {
    return runClaimed(app, delivery, lead, gate.dest, { token, configVersion, leaseMs: singleClaimLeaseMs(app) }, metrics, stored.answers);
  }
  await repo.releaseClaims(app.db, [delivery.id], token);
  return 'outcome' in gate ? gate.outcome : { type: 'delay', delayMs: 0, detail: 'batched' };
}

/** Sends a claimed delivery, renewing its claim every third of its lease while the send lasts. */
async function runClaimed(
  app: App,
  delivery: Delivery,
  lead: Lead | undefined,
  dest: Destination,
  claim: { token: string; configVersion: number; leaseMs: number },
  metrics?: Metrics,
  answers?: LeadAnswers,
): Promise<StepOutcome> {
  const { db } = app;
  const renewal = setInterval(() => {
    repo.renewClaim(db, delivery.id, claim.token, new Date(Date.now() + claim.leaseMs)).catch(() => {
      // PostgreSQL unreachable for a moment: the next tick tries again; the final write checks the claim anyway.
    });
  }, claim.leaseMs / 3);
  renewal.unref();
  try {
    return await sendOne(app, delivery, lead, dest, claim, metrics, answers);
  } finally {
    clearInterval(renewal);
  }
}

/**
 * Whether the delivery's destination takes it now: the destination, or what happens to the
 * delivery instead. A delivery that must not be sent is parked or dead-lettered only while no other
 * run holds it (`token`: the claim the caller holds itself): a run at the CRM with it records what
 * the CRM said.
 */
async function destinationGate(
  app: App,
  delivery: Delivery,
  configVersion: number,
  token?: string,
  attempt = 1,
): Promise<{ dest: Destination } | { outcome: StepOutcome }> {
  const { db, configCache } = app;
  // Written only while the configuration is still the one it was decided under: a destination
  // re-authorised or a workspace restored meanwhile decides it again (its resume may not have
  // seen this delivery still pending).
  const settle = async (set: Record<string, unknown>, detail: string): Promise<{ dest: Destination } | { outcome: StepOutcome }> => {
    const settled = await repo.settleDeliveryUnlessHeld(db, delivery.id, set, { token, now: new Date(), configVersion });
    if (settled === 'written') return { outcome: { type: 'done', detail } };
    if (settled === 'not_pending') return { outcome: { type: 'done', detail: 'no_longer_pending' } };
    // Looked at again once that run's claim lapses: a run that died leaves the delivery to this job, not to the outbox sweep.
    if (typeof settled === 'object')
      return { outcome: { type: 'delay', delayMs: Math.max(0, settled.heldUntil.getTime() - Date.now()) + 1000, detail: 'held_by_another_run' } };
    if (attempt < GATE_ATTEMPTS) return destinationGate(app, delivery, await repo.currentConfigVersion(db), token, attempt + 1);
    if (token) await repo.releaseClaims(db, [delivery.id], token);
    return { outcome: { type: 'delay', delayMs: 1000, detail: 'configuration_changing' } };
  };
  const dest = await configCache.destination(db, configVersion, delivery.destination_id);
  if (!dest) return settle({ status: 'dead', last_error_kind: 'invalid', last_error_reason: 'destination_deleted' }, 'destination_deleted');
  if (dest.status !== 'active') {
    // A disconnected destination has no credentials left: it is connected again with new ones.
    const reason = dest.status === 'disabled' && dest.status_reason === DESTINATION_DISCONNECTED ? 'destination_disconnected' : `destination_${dest.status}`;
    return settle({ status: 'parked', last_error_kind: 'auth', last_error_reason: reason }, 'parked');
  }
  if (await configCache.isWorkspaceBeingDeleted(db, configVersion, delivery.workspace_id)) {
    return settle({ status: 'parked', last_error_kind: 'paused', last_error_reason: WORKSPACE_DELETED_REASON }, 'parked');
  }
  if (dest.rate_limited_until && new Date(dest.rate_limited_until).getTime() > Date.now()) {
    // The row says when it is due too: the outbox sweep leaves it until then, so a long limit's
    // backlog never fills the sweep's window ahead of lost work elsewhere.
    const until = new Date(dest.rate_limited_until);
    await repo.setDeliveryDueNoEarlier(db, delivery.id, until);
    return { outcome: { type: 'delay', delayMs: until.getTime() - Date.now(), detail: 'destination_rate_limited' } };
  }

  return { dest };
}

/** How long a single-lead run's claim lasts between renewals. */
export function singleClaimLeaseMs(app: App): number {
  return Math.max(app.config.workers.lockDurationMs, 10_000);
}

/** Sends one claimed delivery through the connector and records what happened. */
async function sendOne(
  app: App,
  delivery: Delivery,
  lead: Lead | undefined,
  dest: Destination,
  { token, configVersion }: { token: string; configVersion: number },
  metrics?: Metrics,
  /** The lead's answers when the caller has them in hand (a lead just fetched); otherwise decrypted from the row. */
  answers?: LeadAnswers,
): Promise<StepOutcome> {
  const { db, configCache } = app;
  const deliveryId = delivery.id;

  // Read before the claim: an erasure since then dead-letters the delivery, so the claim or the
  // outcome write (both only while pending) notices it.
  if (!lead || lead.erased_at) {
    await repo.updateDelivery(db, deliveryId, { status: 'dead', last_error_kind: 'invalid', last_error_reason: 'lead_erased' });
    return { type: 'done', detail: 'lead_erased' };
  }
  const canonical = toCanonicalLead(lead, answers ?? decryptLeadAnswers(app.keyRing, lead));
  const route = delivery.route_id ? await configCache.route(db, configVersion, delivery.route_id) : undefined;
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
    const formQuestions = route?.form_questions
      ? null
      : ((await configCache.formQuestions(db, configVersion, lead.workspace_id, lead.form_id)) as FormQuestion[] | null);
    const record = buildDeliveryRecord(connector, route ?? null, canonical, deliveryId, fields, formQuestions);
    sent = sentValuesOf(canonical.answers, record.fields);
    result = await connector.deliver(ctx, record);
  } catch (err) {
    return recordFailure(app, dest, { deliveryId, attempt, startedAt, redact, claimToken: token }, asConnectorError(err), metrics);
  }

  // Sent: what follows is bookkeeping. It is outside the try so that a database hiccup here is
  // never mistaken for a failed delivery (which would send the lead again).
  // One statement: whoever sees the delivery as delivered also sees its attempt. Nothing is
  // written when it was erased or taken over meanwhile (its claim lapsed): that one's state stands.
  // Under load, written together with other sends' outcomes (group commit).
  const written = await app.deliveredStore.submit({
    deliveryId,
    token,
    workspaceId: dest.workspace_id,
    attempt,
    startedAt,
    finishedAt: new Date(),
    externalId: result.externalId,
    externalUrl: result.url ?? null,
    action: result.action,
    httpStatus: result.httpStatus ?? null,
    responseBody: redact(result.responseBody),
  });
  if (!written) return { type: 'done', detail: 'claim_lost' };
  metrics?.deliveries.inc({ outcome: 'delivered', type: dest.type });
  metrics?.deliveryLatency.observe({ type: dest.type }, (Date.now() - new Date(lead.received_at).getTime()) / 1000);
  app.logger.info({ deliveryId, destinationId: dest.id, type: dest.type, action: result.action, attempt }, 'lead delivered');
  return { type: 'done', detail: result.action };
}

// The Salesforce connector: a Lead (or Contact) per lead, through jsforce.
//
// Idempotency: with an External ID field (config `externalIdField`, or one whose name looks like
// a Facebook lead id) each delivery is an upsert on Meta's leadgen id, so a repeat updates the
// same record. Without one, the record is created and its id kept in the per-delivery state, so
// a retry of the same delivery updates it instead of creating a second record.
// https://developer.salesforce.com/docs/platform/api-rest/guide/dome-upsert.html
//
// Duplicate rules: when Salesforce refuses the save as a duplicate and names the record it
// matched, that record is updated instead (reported as 'updated' with its id).
// https://developer.salesforce.com/docs/platform/api/guide/sforce-api-objects-duplicateresult.html
import type { Connection, DmlOptions } from 'jsforce';
import {
  ConnectorError,
  type BatchDeliveryItem,
  type BatchItemOutcome,
  type Connector,
  type DeliveryRecord,
  type DeliveryResult,
  type DeliveryState,
  type FieldDescriptor,
  type RevocationOutcome,
} from '../types.js';
import { describeSObject, withSalesforceSession, type SalesforceContext, type SalesforceSession } from './client.js';
import { classifySalesforceError } from './classify-error.js';
import { COLLECTION_LIMIT, salesforceManifest, type SalesforceConfig, type SalesforceCredentials, type SalesforceSettings } from './manifest.js';
import { forgetSharedRefreshes, revokeToken } from './oauth.js';
import {
  buildSalesforceWrite,
  chooseExternalIdField,
  fieldsForExistingRecord,
  findDuplicateMatchId,
  isSalesforceId,
  toFieldDescriptors,
  type SalesforceDescribe,
  type SalesforceWrite,
} from './record.js';

export { clearFieldCache } from './client.js';
export { buildAuthorizeUrl, exchangeCode, refreshAccessToken, forgetSharedRefreshes } from './oauth.js';
export { classifySalesforceError } from './classify-error.js';
export * from './manifest.js';

/**
 * Saves a duplicate anyway when the org's duplicate rule only alerts; blocking rules still refuse.
 * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_duplicaterules.htm
 */
const ALLOW_SAVE_HEADER = { 'Sforce-Duplicate-Rule-Header': 'allowSave=true; includeRecordDetails=false; runAsCurrentUser=false' };

/** What this delivery left in Salesforce, before it becomes a DeliveryResult. */
interface Saved {
  id: string;
  action: 'created' | 'updated';
}

/** Per-delivery state for the create path (no external id field). */
interface CreatedState {
  salesforceId: string;
  sobject: string;
}

/** What every write of a session needs: the describe, the external id field and the DML options. */
interface WritePlan {
  describe: SalesforceDescribe;
  externalIdField: string | null;
  options: DmlOptions;
  /** The most bytes of one record's answer kept on its attempt. */
  maxBodyBytes: number;
}

async function planWrites(ctx: SalesforceContext, session: SalesforceSession): Promise<WritePlan> {
  const { config } = session;
  const describe = await describeSObject(ctx, session);
  const choice = chooseExternalIdField(config, describe);
  if (!choice.ok) {
    // A settings problem every lead of this destination would hit: park it until fixed.
    throw new ConnectorError({ kind: 'auth', reason: 'salesforce_external_id_field_invalid', crmMessage: choice.problem, field: config.externalIdField });
  }
  const options: DmlOptions = config.allowSaveOnDuplicate ? { headers: { ...ALLOW_SAVE_HEADER } } : {};
  return { describe, externalIdField: choice.field, options, maxBodyBytes: ctx.settings.responseBodyMaxBytes };
}

function recordUrl(session: SalesforceSession, id: string): string {
  return `${session.conn.instanceUrl}/lightning/r/${session.config.sobject}/${encodeURIComponent(id)}/view`;
}

/** One lead, one write (upsert on the external id, else create once), as deliver() and a batch without an external id field do it. */
async function writeOne(session: SalesforceSession, plan: WritePlan, record: DeliveryRecord, state: DeliveryState): Promise<DeliveryResult> {
  const write = buildSalesforceWrite({ record, config: session.config, describe: plan.describe, externalIdField: plan.externalIdField });
  const saved = write.externalId
    ? await upsertRecord(session, plan.describe, write, plan.options)
    : await createOnce(state, session, plan.describe, write, plan.options);
  const last = session.lastResponse();
  return { externalId: saved.id, action: saved.action, url: recordUrl(session, saved.id), httpStatus: last?.status, responseBody: last?.body };
}

async function deliverRecord(ctx: SalesforceContext, record: DeliveryRecord): Promise<DeliveryResult> {
  return withSalesforceSession(ctx, async (session) => writeOne(session, await planWrites(ctx, session), record, ctx.state));
}

// ---- batch delivery ---------------------------------------------------------------------------

/** One item of an sObject Collections answer (errors use `statusCode`, not `errorCode`). */
interface CollectionSaveResult {
  id?: string;
  success?: boolean;
  created?: boolean;
  errors?: { statusCode?: string; message?: string; fields?: string[] }[];
}

/**
 * The calls a collection upsert takes, as lists of item indexes in the order the leads came:
 * at most COLLECTION_LIMIT records each, and an external id value at most once per call (two
 * records upserting one key in one call would race inside Salesforce).
 */
export function planCollectionCalls(keys: string[], limit: number = COLLECTION_LIMIT): number[][] {
  const calls: { keys: Set<string>; indexes: number[] }[] = [];
  keys.forEach((key, index) => {
    let call = calls.find((c) => !c.keys.has(key) && c.indexes.length < limit);
    if (!call) calls.push((call = { keys: new Set(), indexes: [] }));
    call.keys.add(key);
    call.indexes.push(index);
  });
  return calls.map((c) => c.indexes);
}

/**
 * Many leads upserted on the external id field with sObject Collections (allOrNone=false, so each
 * record succeeds or fails on its own; results come in input order). A record refused by a
 * duplicate rule that names the matched record updates that record, as deliver() does. Without
 * an external id field there is nothing to upsert on: each lead is created once (its id kept in
 * its own delivery state), one call each, as deliver() does.
 * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
 */
async function deliverBatch(ctx: SalesforceContext, items: BatchDeliveryItem[]): Promise<BatchItemOutcome[]> {
  return withSalesforceSession(ctx, async (session) => {
    const plan = await planWrites(ctx, session);
    if (!plan.externalIdField) {
      const outcomes: BatchItemOutcome[] = [];
      for (const item of items) outcomes.push(await settleOne(() => writeOne(session, plan, item.record, item.state)));
      return outcomes;
    }
    const writes = items.map((item) =>
      buildSalesforceWrite({ record: item.record, config: session.config, describe: plan.describe, externalIdField: plan.externalIdField }),
    );
    const outcomes: (BatchItemOutcome | undefined)[] = items.map(() => undefined);
    const calls = planCollectionCalls(writes.map((w) => w.externalId!.value));
    for (const [n, indexes] of calls.entries()) {
      const answer = await upsertCollection(
        session,
        plan,
        indexes.map((i) => writes[i]),
      );
      if (!answer.ok) {
        // The first call failing as a whole is the batch's failure; a later one's is given to its
        // leads and those after it, so what earlier calls wrote is recorded.
        if (n === 0) throw answer.error;
        for (const rest of calls.slice(n)) for (const i of rest) outcomes[i] = { ok: false, error: answer.error };
        break;
      }
      for (const [k, i] of indexes.entries()) outcomes[i] = await collectionOutcome(session, plan, writes[i], answer.results[k], answer.status);
    }
    return outcomes.map((o) => o ?? { ok: false, error: new ConnectorError({ kind: 'retryable', reason: 'salesforce_missing_result' }) });
  });
}

async function upsertCollection(
  session: SalesforceSession,
  plan: WritePlan,
  writes: SalesforceWrite[],
): Promise<{ ok: true; status?: number; results: (CollectionSaveResult | undefined)[] } | { ok: false; error: ConnectorError }> {
  const field = plan.externalIdField!;
  const sobject = session.config.sobject;
  // In a collection the external id travels in the body, not in the URL: no encoding.
  const records = writes.map((w) => ({ ...w.fields, [field]: w.externalId!.value, attributes: { type: sobject } }));
  const outcome = await session.attempt((conn) => conn.sobject(sobject).upsert(records, field, { ...plan.options, allOrNone: false }));
  if (!outcome.ok) return { ok: false, error: session.toConnectorError(outcome.error) };
  const results = Array.isArray(outcome.value) ? (outcome.value as CollectionSaveResult[]) : [];
  return { ok: true, status: session.lastResponse()?.status, results: writes.map((_, k) => results[k]) };
}

/** One record's result: saved; refused by a duplicate rule naming a record we may update; or refused, classified alone. */
async function collectionOutcome(
  session: SalesforceSession,
  plan: WritePlan,
  write: SalesforceWrite,
  res: CollectionSaveResult | undefined,
  status: number | undefined,
): Promise<BatchItemOutcome> {
  // Only this record's part of the answer: the others' echo other leads' values.
  const body = res === undefined ? undefined : clipBytes(JSON.stringify(res), plan.maxBodyBytes);
  if (res?.success === true && typeof res.id === 'string' && res.id !== '') {
    return {
      ok: true,
      result: { externalId: res.id, action: res.created ? 'created' : 'updated', url: recordUrl(session, res.id), httpStatus: status, responseBody: body },
    };
  }
  const first = Array.isArray(res?.errors) ? res.errors[0] : undefined;
  if (!first) return { ok: false, error: new ConnectorError({ kind: 'retryable', reason: 'salesforce_no_record_id', httpStatus: status, responseBody: body }) };
  if (first.statusCode === 'DUPLICATES_DETECTED') {
    return settleOne(async () => {
      const saved = await updateDuplicateOrThrow(session, plan.describe, write, plan.options, { errorCode: 'DUPLICATES_DETECTED', data: res?.errors });
      const last = session.lastResponse();
      return { externalId: saved.id, action: saved.action, url: recordUrl(session, saved.id), httpStatus: last?.status, responseBody: last?.body };
    }, body);
  }
  return { ok: false, error: new ConnectorError({ ...classifySalesforceError(first), responseBody: body }) };
}

/** Runs one lead's own calls; its failure becomes its outcome (with `responseBody` when the failure has none). */
async function settleOne(work: () => Promise<DeliveryResult>, responseBody?: string): Promise<BatchItemOutcome> {
  try {
    return { ok: true, result: await work() };
  } catch (err) {
    const error = err instanceof ConnectorError ? err : new ConnectorError({ kind: 'retryable', reason: 'salesforce_unknown_error' });
    if (error.responseBody !== undefined || responseBody === undefined) return { ok: false, error };
    const { kind, reason, crmMessage, field, retryAfterMs, httpStatus } = error;
    return { ok: false, error: new ConnectorError({ kind, reason, crmMessage, field, retryAfterMs, httpStatus, responseBody }) };
  }
}

function clipBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= maxBytes ? text : bytes.subarray(0, maxBytes).toString('utf8');
}

async function upsertRecord(session: SalesforceSession, describe: SalesforceDescribe, write: SalesforceWrite, options: DmlOptions): Promise<Saved> {
  const ext = write.externalId!;
  const sobject = session.config.sobject;
  // jsforce puts the value into the URL path as is; Meta's leadgen ids are digits, but a mapped
  // value might not be.
  const body = { ...write.fields, [ext.field]: encodeURIComponent(ext.value) };
  const outcome = await session.attempt((conn) => conn.sobject(sobject).upsert(body, ext.field, options));
  if (!outcome.ok) return updateDuplicateOrThrow(session, describe, write, options, outcome.error);
  const res = outcome.value as { success?: boolean; id?: string; created?: boolean; errors?: unknown[] };
  const id = savedIdOrThrow(session, res);
  // 201 created / 200 updated; the body's `created` says the same (since API v46).
  const isCreated = typeof res.created === 'boolean' ? res.created : session.lastResponse()?.status === 201;
  return { id, action: isCreated ? 'created' : 'updated' };
}

/** Create, remembering the new id in the delivery's state; a retry of the delivery updates that record. */
async function createOnce(
  state: DeliveryState,
  session: SalesforceSession,
  describe: SalesforceDescribe,
  write: SalesforceWrite,
  options: DmlOptions,
): Promise<Saved> {
  const sobject = session.config.sobject;
  const known = readCreatedState(await state.get(), sobject);
  if (known) {
    const outcome = await session.attempt((conn) => updateById(conn, sobject, known, write.fields, options));
    if (outcome.ok) {
      savedIdOrThrow(session, { ...(outcome.value as object), id: known });
      return { id: known, action: 'updated' };
    }
    const err = session.toConnectorError(outcome.error);
    // Deleted in Salesforce since: create it again. Anything else is this attempt's failure.
    if (err.reason !== 'salesforce_not_found' && err.reason !== 'salesforce_entity_is_deleted') throw err;
  }
  const outcome = await session.attempt((conn) => conn.sobject(sobject).create(write.fields, options));
  if (!outcome.ok) {
    // Not remembered: the matched record is not ours, and a retry must again update it the
    // careful way (no placeholders), which the duplicate rule leads to anyway.
    return updateDuplicateOrThrow(session, describe, write, options, outcome.error);
  }
  const id = savedIdOrThrow(session, outcome.value as { success?: boolean; id?: string; errors?: unknown[] });
  await state.set({ salesforceId: id, sobject } satisfies CreatedState);
  return { id, action: 'created' };
}

/**
 * A duplicate rule refused the save and named the record it matched: update that one (keeping
 * its name, company and source; appending to its Description). Any other failure is thrown.
 */
async function updateDuplicateOrThrow(
  session: SalesforceSession,
  describe: SalesforceDescribe,
  write: SalesforceWrite,
  options: DmlOptions,
  error: unknown,
): Promise<Saved> {
  const sobject = session.config.sobject;
  const matchId = findDuplicateMatchId(error, sobject);
  // No matched record we may update: DUPLICATES_DETECTED is then `invalid`, with Salesforce's words.
  if (!matchId) throw session.toConnectorError(error);
  let existingDescription: string | null | undefined;
  if (write.added.description) {
    const current = await session.run((conn) => conn.sobject(sobject).retrieve(matchId, { fields: [write.added.description!] }));
    const value = (current as Record<string, unknown> | null)?.[write.added.description];
    existingDescription = typeof value === 'string' ? value : null;
  }
  const fields = fieldsForExistingRecord(write, describe, existingDescription);
  const res = await session.run((conn) => updateById(conn, sobject, matchId, fields, options));
  savedIdOrThrow(session, { ...(res as object), id: matchId });
  return { id: matchId, action: 'updated' };
}

function updateById(conn: Connection, sobject: string, id: string, fields: SalesforceWrite['fields'], options: DmlOptions) {
  return conn.sobject(sobject).update({ ...fields, Id: id }, options);
}

/** The saved record's id; a `success: false` result is classified like the error it holds. */
function savedIdOrThrow(session: SalesforceSession, res: { success?: boolean; id?: string; errors?: unknown[] }): string {
  if (res.success === false) {
    throw session.toConnectorError(Array.isArray(res.errors) && res.errors.length > 0 ? res.errors[0] : new Error('save failed'));
  }
  if (typeof res.id !== 'string' || res.id === '') {
    // Only an API version older than 46 answers an upsert-update with 204 and no body.
    throw new ConnectorError({ kind: 'retryable', reason: 'salesforce_no_record_id' });
  }
  return res.id;
}

function readCreatedState(state: Record<string, unknown> | null, sobject: string): string | undefined {
  const id = state?.salesforceId;
  return typeof id === 'string' && isSalesforceId(id) && state?.sobject === sobject ? id : undefined;
}

async function describeFields(ctx: SalesforceContext): Promise<FieldDescriptor[]> {
  return withSalesforceSession(ctx, async (session) => toFieldDescriptors(await describeSObject(ctx, session)));
}

/** Checks the credentials with a fresh describe, and that a configured External ID field is usable. */
async function verify(ctx: SalesforceContext): Promise<void> {
  await withSalesforceSession(ctx, async (session) => {
    const describe = await describeSObject(ctx, session, { isFresh: true });
    const choice = chooseExternalIdField(session.config, describe);
    if (!choice.ok) {
      throw new ConnectorError({
        kind: 'auth',
        reason: 'salesforce_external_id_field_invalid',
        crmMessage: choice.problem,
        field: session.config.externalIdField,
      });
    }
  });
}

/** Revokes the refresh token at the destination's login host; Salesforce revokes its access tokens with it. */
async function revoke(ctx: SalesforceContext): Promise<RevocationOutcome> {
  try {
    await revokeToken({
      loginUrl: ctx.config.loginUrl ?? ctx.settings.connector.loginUrl,
      token: ctx.credentials.refreshToken,
      timeoutMs: ctx.settings.timeoutMs,
    });
  } catch (err) {
    throw new ConnectorError(classifySalesforceError(err));
  }
  forgetSharedRefreshes(ctx.memory);
  return { status: 'revoked' };
}

export const salesforceConnector: Connector<SalesforceConfig, SalesforceCredentials, SalesforceSettings> = {
  ...salesforceManifest,
  describeFields,
  deliver: deliverRecord,
  deliverBatch,
  verify,
  revoke,
};

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
import { ConnectorError, type Connector, type DeliveryRecord, type DeliveryResult, type FieldDescriptor, type RevocationOutcome } from '../types.js';
import { describeSObject, withSalesforceSession, type SalesforceContext, type SalesforceSession } from './client.js';
import { classifySalesforceError } from './classify-error.js';
import { salesforceManifest, type SalesforceConfig, type SalesforceCredentials, type SalesforceSettings } from './manifest.js';
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

async function deliverRecord(ctx: SalesforceContext, record: DeliveryRecord): Promise<DeliveryResult> {
  return withSalesforceSession(ctx, async (session) => {
    const { config } = session;
    const describe = await describeSObject(ctx, session);
    const choice = chooseExternalIdField(config, describe);
    if (!choice.ok) {
      // A settings problem every lead of this destination would hit: park it until fixed.
      throw new ConnectorError({ kind: 'auth', reason: 'salesforce_external_id_field_invalid', crmMessage: choice.problem, field: config.externalIdField });
    }
    const write = buildSalesforceWrite({ record, config, describe, externalIdField: choice.field });
    const options: DmlOptions = config.allowSaveOnDuplicate ? { headers: { ...ALLOW_SAVE_HEADER } } : {};
    const saved = write.externalId ? await upsertRecord(session, describe, write, options) : await createOnce(ctx, session, describe, write, options);
    const last = session.lastResponse();
    return {
      externalId: saved.id,
      action: saved.action,
      url: `${session.conn.instanceUrl}/lightning/r/${config.sobject}/${encodeURIComponent(saved.id)}/view`,
      httpStatus: last?.status,
      responseBody: last?.body,
    };
  });
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
  ctx: SalesforceContext,
  session: SalesforceSession,
  describe: SalesforceDescribe,
  write: SalesforceWrite,
  options: DmlOptions,
): Promise<Saved> {
  const sobject = session.config.sobject;
  const known = readCreatedState(await ctx.state.get(), sobject);
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
  await ctx.state.set({ salesforceId: id, sobject } satisfies CreatedState);
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
  verify,
  revoke,
};

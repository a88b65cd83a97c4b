// The HubSpot connector: contacts upserted by email (or by Meta's leadgen id when the lead
// has no email), attribution in LeadRelay's own `lr_` properties, private-app tokens or OAuth.
import {
  ConnectorError,
  isConnectorError,
  memoryKey,
  type BatchDeliveryItem,
  type BatchItemOutcome,
  type Connector,
  type ConnectorMemory,
  type DeliveryRecord,
  type DeliveryResult,
  type FieldDescriptor,
  type FieldType,
  type InFlight,
  type RevocationOutcome,
} from '../types.js';
import {
  createContactProperty,
  createContactPropertyGroup,
  fetchContactProperties,
  upsertContact,
  upsertContacts,
  type ContactUpsertInput,
  type ContactUpsertItem,
  type HubspotContext,
  type HubspotProperty,
  type UpsertOutcome,
} from './client.js';
import {
  CONTACT_BATCH_LIMIT,
  FIELD_CACHE_TTL_MS,
  HUBSPOT_APP_URL,
  LEAD_ID_PROPERTY,
  LEADRELAY_PROPERTIES,
  LEADRELAY_PROPERTY_GROUP,
  hubspotManifest,
  type HubspotConfig,
  type HubspotCredentials,
  type HubspotSettings,
} from './manifest.js';
import { forgetRefreshedTokens, revokeRefreshToken, withAccessToken } from './oauth.js';
import { buildContactUpsertInput } from './record.js';

export { buildAuthorizeUrl, exchangeCode, refreshAccessToken, forgetRefreshedTokens } from './oauth.js';
export { classifyHubspotError } from './classify-error.js';
export { buildContactUpsertInput } from './record.js';
export * from './manifest.js';

// ---- property list cache (per destination, in ctx.memory) -------------------------------------

const PROPERTY_LIST = memoryKey<{ fetchedAt: number; properties: HubspotProperty[] }>('hubspot.propertyList');
/** When ensureProperties() last completed for the destination (epoch ms). */
const PROPERTIES_ENSURED_AT = memoryKey<number>('hubspot.propertiesEnsuredAt');
const ENSURES_IN_FLIGHT = memoryKey<InFlight<EnsurePropertiesResult>>('hubspot.ensuresInFlight');

/** Drops the cached property list of a destination (after its fields changed, or on re-auth). */
export function clearFieldCache(memory: ConnectorMemory): void {
  memory.delete(PROPERTY_LIST);
  memory.delete(PROPERTIES_ENSURED_AT);
}

async function loadProperties(ctx: HubspotContext, options: { fresh: boolean }): Promise<HubspotProperty[]> {
  const cached = ctx.memory.get(PROPERTY_LIST);
  if (!options.fresh && cached && ctx.now() - cached.fetchedAt < FIELD_CACHE_TTL_MS) return cached.properties;
  const properties = await withAccessToken(ctx, (token) => fetchContactProperties(ctx, token));
  ctx.memory.set(PROPERTY_LIST, { fetchedAt: ctx.now(), properties });
  return properties;
}

/** HubSpot has no "writable" flag: read-only values, calculated and hidden properties are not. */
export function isWritableProperty(p: HubspotProperty): boolean {
  return !p.modificationMetadata?.readOnlyValue && !p.calculated && !p.hidden && !p.archived;
}

export function fieldTypeFor(p: Pick<HubspotProperty, 'name' | 'type' | 'fieldType'>): FieldType {
  switch (p.type) {
    case 'string':
      if (p.name === 'email') return 'email';
      if (p.fieldType === 'phonenumber') return 'phone';
      if (p.fieldType === 'textarea' || p.fieldType === 'html') return 'text';
      if (p.fieldType === 'file') return 'other';
      return 'string';
    case 'phone_number':
      return 'phone';
    case 'number':
      return 'number';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'bool':
      return 'boolean';
    case 'enumeration':
      // Multi-checkbox values are written joined with ';'.
      if (p.fieldType === 'checkbox') return 'multienum';
      if (p.fieldType === 'booleancheckbox') return 'boolean';
      return 'enum';
    default:
      return 'other';
  }
}

export function toFieldDescriptor(p: HubspotProperty): FieldDescriptor {
  const type = fieldTypeFor(p);
  const descriptor: FieldDescriptor = { key: p.name, label: p.label || p.name, type, required: false };
  if (type === 'enum' || type === 'multienum') {
    descriptor.options = (p.options ?? []).filter((o) => !o.hidden).map((o) => ({ value: o.value, label: o.label || o.value }));
  }
  if (p.hasUniqueValue) descriptor.isExternalId = true;
  return descriptor;
}

async function describeFields(ctx: HubspotContext): Promise<FieldDescriptor[]> {
  const properties = await loadProperties(ctx, { fresh: false });
  // HubSpot has no required flag; email is the de-duplication key but may still be absent.
  return properties.filter(isWritableProperty).map(toFieldDescriptor);
}

// ---- LeadRelay's own properties ---------------------------------------------------------------

export interface EnsurePropertiesResult {
  created: string[];
}

/**
 * Creates the `lr_` contact properties (in a "LeadRelay" group) that the account lacks.
 * Needs the crm.schemas.contacts.write scope; a 409 means another process created it first.
 * https://developers.hubspot.com/docs/api-reference/crm-properties-v3/guide
 */
export function ensureProperties(ctx: HubspotContext): Promise<EnsurePropertiesResult> {
  return ctx.memory.shared(ENSURES_IN_FLIGHT, async () => {
    const properties = await loadProperties(ctx, { fresh: true });
    const existing = new Set(properties.map((p) => p.name));
    const missing = LEADRELAY_PROPERTIES.filter((d) => !existing.has(d.name));
    if (missing.length > 0) {
      await withAccessToken(ctx, (token) => ignoreConflict(createContactPropertyGroup(ctx, token, { ...LEADRELAY_PROPERTY_GROUP })));
      for (const definition of missing) {
        await withAccessToken(ctx, (token) => ignoreConflict(createContactProperty(ctx, token, definition, LEADRELAY_PROPERTY_GROUP.name)));
      }
      ctx.memory.delete(PROPERTY_LIST);
    }
    ctx.memory.set(PROPERTIES_ENSURED_AT, ctx.now());
    return { created: missing.map((d) => d.name) };
  });
}

async function ignoreConflict(call: Promise<void>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (isConnectorError(err) && err.httpStatus === 409) return;
    throw err;
  }
}

function isEnsuredRecently(ctx: HubspotContext): boolean {
  const at = ctx.memory.get(PROPERTIES_ENSURED_AT);
  return at !== undefined && ctx.now() - at < FIELD_CACHE_TTL_MS;
}

function isMissingLeadRelayProperty(err: unknown): boolean {
  return isConnectorError(err) && err.reason === 'hubspot_property_doesnt_exist' && (err.field?.startsWith('lr_') ?? false);
}

// ---- delivery -----------------------------------------------------------------------------------

function upsertWithAuth(ctx: HubspotContext, input: ContactUpsertInput): Promise<UpsertOutcome> {
  return withAccessToken(ctx, (token) => upsertContact(ctx, token, input));
}

function portalIdOf(ctx: HubspotContext): string | undefined {
  if (ctx.config.portalId) return ctx.config.portalId;
  return ctx.credentials.type === 'oauth' ? ctx.credentials.hubId : undefined;
}

async function deliver(ctx: HubspotContext, record: DeliveryRecord): Promise<DeliveryResult> {
  const input = buildContactUpsertInput(record);
  // Upserting by lr_fb_lead_id needs the property to exist before the first such lead.
  if (input.idProperty === LEAD_ID_PROPERTY && !isEnsuredRecently(ctx)) await ensureProperties(ctx);

  let outcome: UpsertOutcome;
  try {
    outcome = await upsertWithAuth(ctx, input);
  } catch (err) {
    // A HubSpot account that never had LeadRelay's properties (or lost one): create them once,
    // then try again; any other failure (or a property still missing) is final for this attempt.
    if (!isMissingLeadRelayProperty(err) || isEnsuredRecently(ctx)) throw asConnectorError(err);
    await ensureProperties(ctx);
    outcome = await upsertWithAuth(ctx, input);
  }

  return {
    externalId: outcome.id,
    action: outcome.isNew ? 'created' : 'updated',
    ...contactUrl(ctx, outcome.id),
    httpStatus: outcome.httpStatus,
    ...(outcome.responseBody !== undefined ? { responseBody: outcome.responseBody } : {}),
  };
}

function contactUrl(ctx: HubspotContext, id: string): { url?: string } {
  const portalId = portalIdOf(ctx);
  return portalId ? { url: `${ctx.settings.connector.appUrl ?? HUBSPOT_APP_URL}/contacts/${portalId}/record/0-1/${encodeURIComponent(id)}` } : {};
}

// ---- batch delivery -------------------------------------------------------------------------------

/**
 * The calls a batch takes, as lists of input indexes, in the order the leads came: inputs keyed
 * alike go together (HubSpot keys a batch by one idProperty), and two leads of one person (the
 * same email) go to successive calls, because HubSpot refuses a whole batch that names an id
 * twice ("Duplicate IDs found in batch input"); the later lead then updates the contact the
 * earlier one made, as two single deliveries would.
 */
export function planContactCalls(inputs: ContactUpsertInput[], limit: number = CONTACT_BATCH_LIMIT): number[][] {
  const calls: { idProperty: string; keys: Set<string>; indexes: number[] }[] = [];
  inputs.forEach((input, index) => {
    const key = input.idProperty === 'email' ? input.id.toLowerCase() : input.id;
    let call = calls.find((c) => c.idProperty === input.idProperty && !c.keys.has(key) && c.indexes.length < limit);
    if (!call) calls.push((call = { idProperty: input.idProperty, keys: new Set(), indexes: [] }));
    call.keys.add(key);
    call.indexes.push(index);
  });
  return calls.map((c) => c.indexes);
}

function upsertManyWithAuth(ctx: HubspotContext, inputs: ContactUpsertInput[]): Promise<ContactUpsertItem[]> {
  return withAccessToken(ctx, (token) => upsertContacts(ctx, token, inputs));
}

/** One batch call; LeadRelay's properties are created once when the account lacks one, then the call (or its inputs that needed them) goes again. */
async function upsertCall(ctx: HubspotContext, inputs: ContactUpsertInput[]): Promise<ContactUpsertItem[]> {
  let items: ContactUpsertItem[];
  try {
    items = await upsertManyWithAuth(ctx, inputs);
  } catch (err) {
    if (!isMissingLeadRelayProperty(err) || isEnsuredRecently(ctx)) throw asConnectorError(err);
    await ensureProperties(ctx);
    return upsertManyWithAuth(ctx, inputs);
  }
  const again = items.flatMap((item, i) => (!item.ok && isMissingLeadRelayProperty(item.error) ? [i] : []));
  if (again.length === 0 || isEnsuredRecently(ctx)) return items;
  await ensureProperties(ctx);
  const retried = await upsertManyWithAuth(
    ctx,
    again.map((i) => inputs[i]),
  );
  again.forEach((i, n) => {
    items[i] = retried[n];
  });
  return items;
}

/**
 * Many leads in as few batch upserts as HubSpot allows, with the same inputs deliver() sends one
 * at a time (mapping, attribution, note, key, objectWriteTraceId = the delivery id). A failure of
 * the first call is the batch's (thrown); once a call has written contacts, a later call's
 * failure is given to the leads of that call and those after it, so what was written is recorded.
 */
async function deliverBatch(ctx: HubspotContext, items: BatchDeliveryItem[]): Promise<BatchItemOutcome[]> {
  const inputs = items.map((item) => buildContactUpsertInput(item.record));
  if (inputs.some((i) => i.idProperty === LEAD_ID_PROPERTY) && !isEnsuredRecently(ctx)) await ensureProperties(ctx);
  const outcomes: (BatchItemOutcome | undefined)[] = items.map(() => undefined);
  const calls = planContactCalls(inputs);
  for (const [n, indexes] of calls.entries()) {
    let answers: ContactUpsertItem[];
    try {
      answers = await upsertCall(
        ctx,
        indexes.map((i) => inputs[i]),
      );
    } catch (err) {
      if (n === 0) throw asConnectorError(err);
      const error = asConnectorError(err);
      for (const rest of calls.slice(n)) for (const i of rest) outcomes[i] = { ok: false, error };
      break;
    }
    indexes.forEach((i, k) => {
      const a = answers[k];
      outcomes[i] = a.ok
        ? {
            ok: true,
            result: {
              externalId: a.id,
              action: a.isNew ? 'created' : 'updated',
              ...contactUrl(ctx, a.id),
              httpStatus: a.httpStatus,
              ...(a.responseBody !== undefined ? { responseBody: a.responseBody } : {}),
            },
          }
        : { ok: false, error: a.error };
    });
  }
  return outcomes.map((o) => o ?? { ok: false, error: new ConnectorError({ kind: 'retryable', reason: 'hubspot_missing_result' }) });
}

function asConnectorError(err: unknown): ConnectorError {
  return isConnectorError(err) ? err : new ConnectorError({ kind: 'retryable', reason: 'hubspot_unexpected_error' });
}

/** Checks the token can read the contact schema, and creates LeadRelay's properties if missing. */
async function verify(ctx: HubspotContext): Promise<void> {
  clearFieldCache(ctx.memory);
  await ensureProperties(ctx);
}

/**
 * OAuth credentials: their refresh token is revoked. A private-app token (or Service Key) has no
 * revocation endpoint: only a person can delete or rotate it in HubSpot.
 */
async function revoke(ctx: HubspotContext): Promise<RevocationOutcome> {
  if (ctx.credentials.type !== 'oauth')
    return {
      status: 'not_revocable',
      message: 'HubSpot has no API to revoke a private-app token: delete or rotate it in HubSpot (Settings → Integrations → Private apps / Service keys)',
    };
  await revokeRefreshToken(ctx.settings, ctx.credentials.refreshToken);
  forgetRefreshedTokens(ctx.memory);
  return { status: 'revoked' };
}

export const hubspotConnector: Connector<HubspotConfig, HubspotCredentials, HubspotSettings> = {
  ...hubspotManifest,
  describeFields: async (ctx) => {
    try {
      return await describeFields(ctx);
    } catch (err) {
      throw asConnectorError(err);
    }
  },
  deliver: async (ctx, record) => {
    try {
      return await deliver(ctx, record);
    } catch (err) {
      throw asConnectorError(err);
    }
  },
  deliverBatch: async (ctx, items) => {
    try {
      return await deliverBatch(ctx, items);
    } catch (err) {
      throw asConnectorError(err);
    }
  },
  verify: async (ctx) => {
    try {
      await verify(ctx);
    } catch (err) {
      throw asConnectorError(err);
    }
  },
  revoke: async (ctx) => {
    try {
      return await revoke(ctx);
    } catch (err) {
      throw asConnectorError(err);
    }
  },
};

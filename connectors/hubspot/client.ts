// Calls to the HubSpot API through @hubspot/api-client, one fresh SDK client per call.
//
// Why a fresh client with a response-capturing middleware:
// - The SDK's retry and Bottleneck limiter settings live in a process-global singleton that
//   every `new Client()` resets, so one tenant's settings would leak into all others. We leave
//   `numberOfApiCallRetries` and `limiterOptions` unset and limit per destination ourselves.
// - On an error the SDK deserialises the body into its `Error` model, which drops fields we
//   need (`policyName` of a 429), and a non-JSON body (an HTML 502) makes it throw a plain
//   Error with no status at all. The middleware keeps the raw status, headers and text.
// - `ApiException.message` embeds the whole body and the response headers (lead answers):
//   it is never logged, rethrown or attached as a cause; every failure leaves here as a
//   ConnectorError built from the captured response.
import { Client } from '@hubspot/api-client';
import { PropertyCreateFieldTypeEnum, PropertyCreateTypeEnum } from '@hubspot/api-client/lib/codegen/crm/properties/index.js';
import { ConnectorError, type ConnectorContext } from '../types.js';
import { networkCodeOf } from '../../src/util/classify.js';
import { crmAgentFor } from '../../src/util/keep-alive-agents.js';
import { classifyHubspotError } from './classify-error.js';
import type { HubspotConfig, HubspotCredentials, HubspotSettings, LeadRelayPropertyDefinition } from './manifest.js';

export type HubspotContext = ConnectorContext<HubspotConfig, HubspotCredentials, HubspotSettings>;

interface CapturedResponse {
  status: number;
  headers: Record<string, string>;
  text: string | undefined;
}

interface ResponseContextLike {
  httpStatusCode: number;
  headers: Record<string, string>;
  body: { text(): Promise<string>; binary(): Promise<Buffer> };
}

/** One contact-upsert input, as sent (values are strings, as HubSpot wants them). */
export interface ContactUpsertInput {
  idProperty: string;
  id: string;
  properties: Record<string, string>;
  objectWriteTraceId: string;
}

export interface UpsertOutcome {
  id: string;
  isNew: boolean;
  httpStatus: number;
  responseBody?: string;
}

/** The parts of a HubSpot property definition LeadRelay reads. */
export interface HubspotProperty {
  name: string;
  label: string;
  type: string;
  fieldType: string;
  groupName: string;
  hidden?: boolean;
  calculated?: boolean;
  archived?: boolean;
  hasUniqueValue?: boolean;
  options?: { label: string; value: string; hidden?: boolean }[];
  modificationMetadata?: { readOnlyValue?: boolean };
}

class CallTimeout extends Error {}

/**
 * The per-call options every SDK method takes last (middleware and how it joins the client's).
 * Each generated API declares its own copy of these types, so call sites pass it `as never`.
 */
interface HubspotCallOptions {
  middlewareMergeStrategy: 'append';
  middleware: { pre(context: unknown): Promise<unknown>; post(context: unknown): Promise<unknown> }[];
}

/** Removes the base URL's trailing slashes: the SDK appends `/crm/v3/...` to it verbatim. */
export function normaliseBaseUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Replaces every known secret in `text` (tokens can be echoed back in error bodies). */
export function redactSecrets(text: string | undefined, secrets: readonly (string | undefined)[]): string | undefined {
  if (text === undefined) return undefined;
  let out = text;
  for (const secret of secrets) if (secret && secret.length >= 6) out = out.split(secret).join('[redacted]');
  return out;
}

/** Truncates to at most `maxBytes` of UTF-8. */
export function truncateBody(text: string | undefined, maxBytes: number): string | undefined {
  if (text === undefined) return undefined;
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= maxBytes ? text : bytes.subarray(0, maxBytes).toString('utf8');
}

/** Every secret the context knows, for redaction. */
function knownSecrets(ctx: HubspotContext, extra: readonly (string | undefined)[] = []): (string | undefined)[] {
  const creds = ctx.credentials;
  return [creds.accessToken, creds.type === 'oauth' ? creds.refreshToken : undefined, ctx.settings.connector.clientSecret, ...extra];
}

/** The transport code of a failed call; oauth.ts takes it from here. */
export { networkCodeOf };

/**
 * Runs one SDK call with a fresh client and a timeout; converts every failure into a
 * ConnectorError. The captured response is returned alongside the SDK's result.
 */
async function callHubspot<T>(
  ctx: HubspotContext,
  accessToken: string,
  operation: (client: Client, callOptions: HubspotCallOptions) => Promise<T>,
): Promise<{ value: T; response: CapturedResponse | undefined }> {
  let captured: CapturedResponse | undefined;
  const basePath = normaliseBaseUrl(ctx.settings.connector.apiUrl);
  // Kept-alive connections, shared by every call (the SDK's default opens one per call).
  const client = new Client({ accessToken, basePath, httpAgent: crmAgentFor(basePath) });
  // The response is captured by a per-call middleware: client 13.x (the last line that supports
  // Node 20) applies middleware given per call, but ignores middleware given to the Client.
  const callOptions: HubspotCallOptions = {
    middlewareMergeStrategy: 'append',
    middleware: [
      {
        pre: async (requestContext) => requestContext,
        post: async (responseContext) => {
          const rc = responseContext as unknown as ResponseContextLike;
          let text: string | undefined;
          try {
            text = await rc.body.text();
          } catch {
            text = undefined;
          }
          captured = { status: rc.httpStatusCode, headers: rc.headers ?? {}, text };
          // The body can be read once: hand the SDK a body that gives the same text again.
          const replay = text ?? '';
          rc.body = { text: async () => replay, binary: async () => Buffer.from(replay, 'utf8') };
          return responseContext;
        },
      },
    ],
  };

  try {
    const value = await withTimeout(operation(client, callOptions), ctx.settings.timeoutMs);
    return { value, response: captured };
  } catch (err) {
    throw toConnectorError(ctx, err, captured, accessToken);
  }
}

function toConnectorError(ctx: HubspotContext, err: unknown, captured: CapturedResponse | undefined, accessToken: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const secrets = knownSecrets(ctx, [accessToken]);
  if (err instanceof CallTimeout) {
    return new ConnectorError({ kind: 'retryable', reason: 'timeout' });
  }
  if (captured && (captured.status < 200 || captured.status >= 300)) {
    return errorFromResponse(ctx, captured, secrets);
  }
  if (captured) {
    // A 2xx we could not read (bad JSON, unexpected shape): the write may have happened;
    // retrying is safe because every write is an upsert.
    return new ConnectorError({
      kind: 'retryable',
      reason: 'hubspot_unreadable_response',
      httpStatus: captured.status,
      responseBody: redactSecrets(truncateBody(captured.text, ctx.settings.responseBodyMaxBytes), secrets),
    });
  }
  return new ConnectorError(classifyHubspotError({ networkCode: networkCodeOf(err) }));
}

/** A ConnectorError for a non-2xx response (or a 207's per-input error). */
function errorFromResponse(
  ctx: HubspotContext,
  response: CapturedResponse,
  secrets: readonly (string | undefined)[],
  body: unknown = response.text,
): ConnectorError {
  const c = classifyHubspotError({ status: response.status, body, headers: response.headers, now: ctx.now() });
  return new ConnectorError({
    ...c,
    crmMessage: redactSecrets(c.crmMessage, secrets),
    responseBody: redactSecrets(truncateBody(response.text, ctx.settings.responseBodyMaxBytes), secrets),
  });
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CallTimeout('HubSpot call timed out')), timeoutMs);
  });
  // The SDK cannot abort its fetch; a late rejection must not become an unhandled one.
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * POST /crm/v3/objects/contacts/batch/upsert with one input.
 * https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
 * A 207 resolves in the SDK (it does not throw): its `errors[]` are classified here.
 */
export async function upsertContact(ctx: HubspotContext, accessToken: string, input: ContactUpsertInput): Promise<UpsertOutcome> {
  const { value, response } = await callHubspot(ctx, accessToken, (client, options) =>
    client.crm.contacts.batchApi.upsert({ inputs: [{ ...input }] }, options as never),
  );
  const secrets = knownSecrets(ctx, [accessToken]);
  const httpStatus = response?.status ?? 200;
  const responseBody = redactSecrets(truncateBody(response?.text, ctx.settings.responseBodyMaxBytes), secrets);
  const first = value.results?.[0];
  if (first && typeof first.id === 'string' && first.id !== '') {
    return { id: first.id, isNew: first._new === true, httpStatus, ...(responseBody !== undefined ? { responseBody } : {}) };
  }
  const errors = 'errors' in value && Array.isArray(value.errors) ? value.errors : [];
  if (errors.length > 0 && response) {
    // Classify from the raw JSON: it keeps HubSpot's own field names.
    throw errorFromResponse(ctx, { ...response, status: 207 }, secrets);
  }
  throw new ConnectorError({ kind: 'retryable', reason: 'hubspot_empty_result', httpStatus, responseBody });
}

/** GET /crm/v3/properties/contacts (non-archived). */
export async function fetchContactProperties(ctx: HubspotContext, accessToken: string): Promise<HubspotProperty[]> {
  const { value } = await callHubspot(ctx, accessToken, (client, options) =>
    client.crm.properties.coreApi.getAll('contacts', false, undefined, options as never),
  );
  return (value.results ?? []).map((p) => ({
    name: p.name,
    label: p.label,
    type: p.type,
    fieldType: p.fieldType,
    groupName: p.groupName,
    hidden: p.hidden,
    calculated: p.calculated,
    archived: p.archived,
    hasUniqueValue: p.hasUniqueValue,
    options: (p.options ?? []).map((o) => ({ label: o.label, value: o.value, hidden: o.hidden })),
    modificationMetadata: p.modificationMetadata ? { readOnlyValue: p.modificationMetadata.readOnlyValue } : undefined,
  }));
}

/** POST /crm/v3/properties/contacts/groups. */
export async function createContactPropertyGroup(
  ctx: HubspotContext,
  accessToken: string,
  group: { name: string; label: string; displayOrder: number },
): Promise<void> {
  await callHubspot(ctx, accessToken, (client, options) => client.crm.properties.groupsApi.create('contacts', { ...group }, options as never));
}

/** POST /crm/v3/properties/contacts: a single-line text property. */
export async function createContactProperty(
  ctx: HubspotContext,
  accessToken: string,
  definition: LeadRelayPropertyDefinition,
  groupName: string,
): Promise<void> {
  await callHubspot(ctx, accessToken, (client, options) =>
    client.crm.properties.coreApi.create(
      'contacts',
      {
        name: definition.name,
        label: definition.label,
        description: definition.description,
        groupName,
        type: PropertyCreateTypeEnum.String,
        fieldType: PropertyCreateFieldTypeEnum.Text,
        hasUniqueValue: definition.hasUniqueValue,
        formField: false,
      },
      options as never,
    ),
  );
}

// ---- batch upsert (many contacts per call) ------------------------------------------------------

/** What HubSpot said about one input of a batch upsert: its contact, or its own failure. */
export type ContactUpsertItem = { ok: true; id: string; isNew: boolean; httpStatus: number; responseBody?: string } | { ok: false; error: ConnectorError };

interface RawUpsertResult {
  id?: unknown;
  new?: unknown;
  objectWriteTraceId?: unknown;
  properties?: Record<string, unknown>;
}

interface RawBatchError {
  category?: unknown;
  context?: Record<string, unknown>;
}

/**
 * POST /crm/v3/objects/contacts/batch/upsert with many inputs (at most CONTACT_BATCH_LIMIT, their
 * ids unique within the call). A failure of the whole call (429, 5xx, 401, 400 for the batch, no
 * answer) is thrown; otherwise every input gets its own outcome, in input order.
 *
 * Each input carries an objectWriteTraceId (its delivery id), which opts into per-input 207
 * errors: HubSpot then writes the good inputs and lists the bad ones in `errors[]`, each naming
 * its input's trace id in `context.objectWriteTraceId`; results carry it too.
 * https://developers.hubspot.com/docs/api-reference/error-handling (207 Multi-Status)
 * The raw JSON is read rather than the SDK's objects: they drop `objectWriteTraceId` of results.
 * Each outcome keeps only its own part of the answer (other inputs' values are other leads').
 */
export async function upsertContacts(ctx: HubspotContext, accessToken: string, inputs: ContactUpsertInput[]): Promise<ContactUpsertItem[]> {
  const { response } = await callHubspot(ctx, accessToken, (client, options) =>
    client.crm.contacts.batchApi.upsert({ inputs: inputs.map((input) => ({ ...input })) }, options as never),
  );
  const secrets = knownSecrets(ctx, [accessToken]);
  const httpStatus = response?.status ?? 200;
  let parsed: { results?: unknown; errors?: unknown } | undefined;
  try {
    parsed = response?.text ? (JSON.parse(response.text) as typeof parsed) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object') {
    throw new ConnectorError({ kind: 'retryable', reason: 'hubspot_unreadable_response', httpStatus });
  }
  const results = (Array.isArray(parsed.results) ? parsed.results : []).filter(isObject) as RawUpsertResult[];
  const errors = (Array.isArray(parsed.errors) ? parsed.errors : []).filter(isObject) as RawBatchError[];
  const bodyOf = (part: unknown) => redactSecrets(truncateBody(JSON.stringify(part), ctx.settings.responseBodyMaxBytes), secrets);

  const outcomes: (ContactUpsertItem | undefined)[] = inputs.map(() => undefined);
  const indexByTrace = new Map(inputs.map((input, i) => [input.objectWriteTraceId, i]));
  const keyOf = (idProperty: string, value: string) => `${idProperty}\u0000${idProperty === 'email' ? value.toLowerCase() : value}`;
  const indexByKey = new Map(inputs.map((input, i) => [keyOf(input.idProperty, input.id), i]));
  const unmatchedResults: RawUpsertResult[] = [];
  const unmatchedErrors: RawBatchError[] = [];

  const resultOutcome = (r: RawUpsertResult): ContactUpsertItem =>
    typeof r.id === 'string' && r.id !== ''
      ? { ok: true, id: r.id, isNew: r.new === true, httpStatus, responseBody: bodyOf(r) }
      : { ok: false, error: new ConnectorError({ kind: 'retryable', reason: 'hubspot_empty_result', httpStatus, responseBody: bodyOf(r) }) };
  const errorOutcome = (e: RawBatchError): ContactUpsertItem => {
    const text = JSON.stringify(e);
    return { ok: false, error: errorFromResponse(ctx, { status: 207, headers: response?.headers ?? {}, text }, secrets, e) };
  };

  for (const r of results) {
    const byTrace = typeof r.objectWriteTraceId === 'string' ? indexByTrace.get(r.objectWriteTraceId) : undefined;
    const index = byTrace ?? indexOfResultByKey(r, inputs, indexByKey, keyOf);
    if (index === undefined || outcomes[index]) unmatchedResults.push(r);
    else outcomes[index] = resultOutcome(r);
  }
  for (const e of errors) {
    const traces = e.context?.objectWriteTraceId;
    const trace = Array.isArray(traces) ? traces.find((t) => typeof t === 'string') : typeof traces === 'string' ? traces : undefined;
    const index = trace === undefined ? undefined : indexByTrace.get(trace);
    if (index === undefined || outcomes[index]) unmatchedErrors.push(e);
    else outcomes[index] = errorOutcome(e);
  }
  // Whatever HubSpot did not tie to an input: in input order when the counts agree (one input
  // left and one answer left is the common case); otherwise the input is retried, which is
  // safe because every write is an upsert on the same key.
  const open = outcomes.flatMap((o, i) => (o ? [] : [i]));
  const leftovers = [...unmatchedResults.map(resultOutcome), ...unmatchedErrors.map(errorOutcome)];
  if (
    open.length === leftovers.length &&
    unmatchedResults.length + unmatchedErrors.length > 0 &&
    (unmatchedResults.length === 0 || unmatchedErrors.length === 0)
  ) {
    open.forEach((index, n) => {
      outcomes[index] = leftovers[n];
    });
  }
  return outcomes.map((o) => o ?? { ok: false, error: new ConnectorError({ kind: 'retryable', reason: 'hubspot_missing_result', httpStatus }) });
}

/** A result without a trace id, matched by the value of its input's idProperty. */
function indexOfResultByKey(
  r: RawUpsertResult,
  inputs: ContactUpsertInput[],
  indexByKey: Map<string, number>,
  keyOf: (idProperty: string, value: string) => string,
): number | undefined {
  for (const idProperty of new Set(inputs.map((i) => i.idProperty))) {
    const value = r.properties?.[idProperty];
    if (typeof value !== 'string') continue;
    const index = indexByKey.get(keyOf(idProperty, value));
    if (index !== undefined) return index;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

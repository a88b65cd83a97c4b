// The Pipedrive connector: a person, a lead linked to it, and a note with the unmapped answers.
//
// Pipedrive has no upsert and no idempotency key, so we keep our own ledger in ctx.state (per
// lead × destination): { personId, leadId, noteId, completed }. Each step writes the ledger as
// soon as it succeeds, so a retry resumes where the last attempt stopped and never creates a
// record twice. Steps:
//   1. ledger says completed → the lead was delivered before: PATCH it, action 'updated' (unless
//      it has been archived since: see ARCHIVED LEADS below).
//   2. find the person by exact email, then by exact phone; else create one (v2). This runs under
//      ctx.withLock on the person key (normalised email, else phone, else leadgen id), shared by
//      every worker process, so concurrent deliveries of one person create them once. Under the
//      lock, ctx.recentRecords is asked first: the person we resolved for this key minutes ago,
//      whom the next deliveries then need no search for (the Search API allows 10 calls per 2 s,
//      and whether a new person shows in search at once is undocumented).
//   3. when the person already existed, look through their leads for one whose origin_id is this
//      leadgen id: GET /v1/leads?person_id= (leads that are not archived), then
//      GET /v1/leads/archived?person_id=. A match is a repeat without a ledger (→ PATCH,
//      'updated'; an archived one is left as it is), or a lead our last attempt created before
//      its answer was lost (→ carry on). We scan the v1 lists rather than GET
//      /api/v2/leads/search because whether search matches origin_id is undocumented, while the
//      lists document origin_id on every lead.
//   4. create the lead (v1; leads have no v2 create), origin_id = leadgen id.
//   5. add the note (v1), pinned to the lead.
// https://developers.pipedrive.com/docs/api/v1/Leads, .../Notes; v2 Persons.
//
// ARCHIVED LEADS. Since 2025-07-15 GET /v1/leads "returns multiple not archived leads"; archived
// ones are listed only by GET /v1/leads/archived (the v1 list lost its archived_status
// parameter), and "archived deals and leads will not be editable through the API":
// https://developers.pipedrive.com/changelog/post/breaking-change-archived-deals-and-leads-will-not-be-returned-in-existing-endpoints-and-will-not-be-editable
// https://developers.pipedrive.com/docs/api/v1/Leads#getLeads, #getArchivedLeads
// So a repeat delivery must look at both lists, or a lead a salesperson archived would get a
// twin. What it then does to the archived lead: nothing. Updating it without unarchiving is
// what we would want, but the API refuses edits of archived leads; unarchiving it
// (is_archived: false) would undo a salesperson's decision (a disqualified or stale lead back
// in the Leads Inbox) because Meta or an operator sent the same form answer again. The lead is
// left archived and unchanged, and the delivery is done with it as its record ('updated': the
// lead existed before; a DeliveryResult has no "unchanged").
import { z } from 'zod';
import type { Connector, ConnectorMemory, DeliveryRecord, DeliveryResult, FieldDescriptor, RevocationOutcome } from '../types.js';
import { ConnectorError, memoryKey } from '../types.js';
import { derivePersonKey } from '../person-key.js';
import { createPipedriveClient, unexpectedResponse, type PipedriveClient, type PipedriveContext, type PipedriveResponse } from './client.js';
import {
  PIPEDRIVE_FIELD_CACHE_TTL_MS,
  pipedriveLedgerSchema,
  pipedriveManifest,
  type PipedriveConfig,
  type PipedriveCredentials,
  type PipedriveLedger,
  type PipedriveSettings,
} from './manifest.js';
import { revokeRefreshToken } from './oauth.js';
import { pipedriveLeadFieldSchema, pipedrivePersonFieldSchema, toFieldDescriptors, type PipedriveFieldCatalog } from './fields.js';
import { buildLeadBody, buildLeadPatch, buildNoteContent, buildPersonBody, findEmail, findPhone, splitFields, type SplitFields } from './record.js';

export { buildAuthorizeUrl, exchangeCode, refreshAccessToken } from './oauth.js';
export { classifyPipedriveError } from './classify-error.js';
export type { PipedriveConfig, PipedriveCredentials } from './manifest.js';

/** Pages we read at most from one list, so a runaway cursor cannot loop forever. */
const MAX_PAGES = 20;
const PAGE_SIZE = 500;

// ---------------------------------------------------------------------------------------------
// Field catalog, cached per destination
// ---------------------------------------------------------------------------------------------

const FIELD_CATALOG = memoryKey<{ fetchedAt: number; catalog: PipedriveFieldCatalog }>('pipedrive.fieldCatalog');

/** Forget a destination's cached Pipedrive fields (after the marketer adds a field, or reconnects). */
export function clearFieldCache(memory: ConnectorMemory): void {
  memory.delete(FIELD_CATALOG);
}

const startPagingSchema = z.looseObject({ more_items_in_collection: z.boolean().nullish(), next_start: z.number().nullish() });
const listBodySchema = z.looseObject({
  data: z.array(z.unknown()).nullish(),
  // v2 lists: { next_cursor }. v1 lists, per Pipedrive's OpenAPI v1 document: GET /v1/leads and
  // GET /v1/leads/archived put { start, limit, more_items_in_collection } directly here (no
  // next_start); GET /v1/leadFields has that same schema, but its own example nests it under
  // `pagination` (as older v1 lists do, with next_start). Both are read.
  additional_data: startPagingSchema.extend({ next_cursor: z.string().nullish(), pagination: startPagingSchema.nullish() }).nullish(),
});
type ListBody = z.infer<typeof listBodySchema>;

function readList(res: PipedriveResponse, what: string): ListBody {
  const parsed = listBodySchema.safeParse(res.body);
  if (!parsed.success) throw unexpectedResponse(res, what);
  return parsed.data;
}

/** The next `start` of a v1 list, or undefined when this was the last page. */
function findNextStart(list: ListBody, start: number): number | undefined {
  const items = list.data ?? [];
  const paging = list.additional_data?.pagination ?? list.additional_data;
  if (!paging?.more_items_in_collection || items.length === 0) return undefined;
  return paging.next_start ?? start + items.length;
}

async function fetchFieldCatalog(client: PipedriveClient): Promise<PipedriveFieldCatalog> {
  const catalog: PipedriveFieldCatalog = { personFields: [], leadFields: [] };

  // v2 lists page with a cursor. https://pipedrive.readme.io/docs/core-api-concepts-pagination
  // `required_fields` is one of the "additional data namespaces" GET /api/v2/personFields returns
  // only when asked for with include_fields; without it no person field would ever be required.
  // https://developers.pipedrive.com/docs/api/v1/PersonFields#getPersonFields (v2)
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await client.request({ method: 'GET', path: '/api/v2/personFields', query: { include_fields: 'required_fields', limit: PAGE_SIZE, cursor } });
    const list = readList(res, 'person_fields');
    for (const item of list.data ?? []) {
      const f = pipedrivePersonFieldSchema.safeParse(item);
      if (f.success) catalog.personFields.push(f.data);
    }
    cursor = list.additional_data?.next_cursor ?? undefined;
    if (!cursor) break;
  }

  // v1 lists page with start/limit. Lead fields are the deal fields leads inherit.
  let start = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await client.request({ method: 'GET', path: '/v1/leadFields', query: { start, limit: PAGE_SIZE } });
    const list = readList(res, 'lead_fields');
    for (const item of list.data ?? []) {
      const f = pipedriveLeadFieldSchema.safeParse(item);
      if (f.success) catalog.leadFields.push(f.data);
    }
    const next = findNextStart(list, start);
    if (next === undefined) break;
    start = next;
  }
  return catalog;
}

async function loadFieldCatalog(ctx: PipedriveContext, client: PipedriveClient): Promise<PipedriveFieldCatalog> {
  const cached = ctx.memory.get(FIELD_CATALOG);
  if (cached && ctx.now() - cached.fetchedAt < PIPEDRIVE_FIELD_CACHE_TTL_MS) return cached.catalog;
  const catalog = await fetchFieldCatalog(client);
  ctx.memory.set(FIELD_CATALOG, { fetchedAt: ctx.now(), catalog });
  return catalog;
}

// ---------------------------------------------------------------------------------------------
// The ledger
// ---------------------------------------------------------------------------------------------

async function readLedger(ctx: PipedriveContext): Promise<PipedriveLedger> {
  const parsed = pipedriveLedgerSchema.safeParse((await ctx.state.get()) ?? {});
  return parsed.success ? parsed.data : {};
}

async function writeLedger(ctx: PipedriveContext, ledger: PipedriveLedger): Promise<PipedriveLedger> {
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ledger)) if (v !== undefined) clean[k] = v;
  await ctx.state.set(clean);
  return ledger;
}

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

const createdIdSchema = z.looseObject({ data: z.looseObject({ id: z.union([z.number(), z.string()]) }) });
const searchBodySchema = z.looseObject({
  data: z.looseObject({ items: z.array(z.looseObject({ item: z.looseObject({ id: z.number() }) })).nullish() }).nullish(),
});
const leadItemSchema = z.looseObject({ id: z.string(), origin_id: z.union([z.string(), z.number()]).nullish() });
const oneLeadSchema = z.looseObject({ data: z.looseObject({ id: z.string(), is_archived: z.boolean().nullish() }) });

function readCreatedId(res: PipedriveResponse, what: string): number | string {
  const parsed = createdIdSchema.safeParse(res.body);
  if (!parsed.success) throw unexpectedResponse(res, what);
  return parsed.data.data.id;
}

/**
 * Exact-match person search on one field. The Search API allows 10 requests per 2 s on every
 * plan; a 429 here is classified like any other. The term needs at least 2 characters.
 * https://developers.pipedrive.com/docs/api/v1/Persons#searchPersons (v2)
 */
async function searchPerson(client: PipedriveClient, field: 'email' | 'phone', term: string | undefined): Promise<number | undefined> {
  if (term === undefined || term.trim().length < 2) return undefined;
  const res = await client.request({
    method: 'GET',
    path: '/api/v2/persons/search',
    query: { term: term.trim(), fields: field, exact_match: true, limit: 1 },
  });
  const parsed = searchBodySchema.safeParse(res.body);
  if (!parsed.success) throw unexpectedResponse(res, 'person_search');
  return parsed.data.data?.items?.[0]?.item.id;
}

async function findPerson(client: PipedriveClient, split: SplitFields, record: DeliveryRecord): Promise<number | undefined> {
  return (await searchPerson(client, 'email', findEmail(split, record.lead))) ?? (await searchPerson(client, 'phone', findPhone(split, record.lead)));
}

async function createPerson(client: PipedriveClient, body: Record<string, unknown>): Promise<number> {
  const res = await client.request({ method: 'POST', path: '/api/v2/persons', body });
  const id = Number(readCreatedId(res, 'person'));
  if (!Number.isInteger(id)) throw unexpectedResponse(res, 'person');
  return id;
}

/**
 * The person of this lead and whether they existed before: the one resolved for the same person
 * key in the last minutes (ctx.recentRecords), else one Pipedrive finds, else a new one. Runs
 * under the destination's lock on the person key, so of concurrent deliveries of one person (in
 * any worker process) the first creates them and the rest find them. `onResolved` runs before
 * the lock is released (the caller writes its ledger there, so a retry resumes with this person).
 */
async function findOrCreatePerson(
  ctx: PipedriveContext,
  client: PipedriveClient,
  split: SplitFields,
  record: DeliveryRecord,
  personBody: Record<string, unknown>,
  onResolved: (personId: number) => Promise<void>,
): Promise<{ personId: number; isExisting: boolean }> {
  const personKey = derivePersonKey({ email: findEmail(split, record.lead), phone: findPhone(split, record.lead), leadgenId: record.lead.leadgen_id });
  return ctx.withLock(personKey, async () => {
    const remembered = Number(await ctx.recentRecords.find(personKey));
    if (Number.isInteger(remembered) && remembered > 0) {
      await onResolved(remembered);
      return { personId: remembered, isExisting: true };
    }
    const found = await findPerson(client, split, record);
    const personId = found ?? (await createPerson(client, personBody));
    await onResolved(personId);
    await ctx.recentRecords.save(personKey, String(personId));
    return { personId, isExisting: found !== undefined };
  });
}

/** The id of a lead of this person, in one v1 lead list, whose origin_id is the leadgen id. */
async function scanLeadList(
  client: PipedriveClient,
  path: '/v1/leads' | '/v1/leads/archived',
  personId: number,
  leadgenId: string,
): Promise<string | undefined> {
  let start = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await client.request({ method: 'GET', path, query: { person_id: personId, start, limit: PAGE_SIZE } });
    const list = readList(res, 'lead_list');
    for (const item of list.data ?? []) {
      const lead = leadItemSchema.safeParse(item);
      if (lead.success && lead.data.origin_id != null && String(lead.data.origin_id) === leadgenId) return lead.data.id;
    }
    const next = findNextStart(list, start);
    if (next === undefined) return undefined;
    start = next;
  }
  return undefined;
}

interface FoundLead {
  id: string;
  isArchived: boolean;
}

/**
 * A lead of this person whose origin_id is the leadgen id, i.e. one we created before: among
 * the leads that are not archived, else among the archived ones (see ARCHIVED LEADS above).
 */
async function findLeadByOrigin(client: PipedriveClient, personId: number, leadgenId: string): Promise<FoundLead | undefined> {
  const active = await scanLeadList(client, '/v1/leads', personId, leadgenId);
  if (active !== undefined) return { id: active, isArchived: false };
  const archived = await scanLeadList(client, '/v1/leads/archived', personId, leadgenId);
  return archived === undefined ? undefined : { id: archived, isArchived: true };
}

/**
 * GET /v1/leads/{id} (which still answers for archived leads): whether it is archived;
 * undefined when Pipedrive no longer has it (someone deleted it).
 */
async function getLead(client: PipedriveClient, leadId: string): Promise<{ isArchived: boolean } | undefined> {
  let res: PipedriveResponse;
  try {
    res = await client.request({ method: 'GET', path: `/v1/leads/${encodeURIComponent(leadId)}` });
  } catch (err) {
    if (err instanceof ConnectorError && err.httpStatus === 404) return undefined;
    throw err;
  }
  const parsed = oneLeadSchema.safeParse(res.body);
  if (!parsed.success) throw unexpectedResponse(res, 'lead');
  return { isArchived: parsed.data.data.is_archived === true };
}

async function createLead(client: PipedriveClient, body: Record<string, unknown>): Promise<{ id: string; res: PipedriveResponse }> {
  const res = await client.request({ method: 'POST', path: '/v1/leads', body });
  return { id: String(readCreatedId(res, 'lead')), res };
}

/** PATCH the lead; undefined when Pipedrive no longer has it (someone deleted it). */
async function updateLead(client: PipedriveClient, leadId: string, body: Record<string, unknown>): Promise<PipedriveResponse | undefined> {
  try {
    return await client.request({ method: 'PATCH', path: `/v1/leads/${encodeURIComponent(leadId)}`, body });
  } catch (err) {
    if (err instanceof ConnectorError && err.httpStatus === 404) return undefined;
    throw err;
  }
}

async function createNote(client: PipedriveClient, leadId: string, content: string): Promise<number> {
  const res = await client.request({ method: 'POST', path: '/v1/notes', body: { content, lead_id: leadId, pinned_to_lead_flag: 1 } });
  const id = Number(readCreatedId(res, 'note'));
  if (!Number.isInteger(id)) throw unexpectedResponse(res, 'note');
  return id;
}

function leadUrl(client: PipedriveClient, leadId: string): string | undefined {
  const company = client.companyDomain();
  return company === undefined ? undefined : `https://${company}.pipedrive.com/leads/inbox/${encodeURIComponent(leadId)}`;
}

function result(client: PipedriveClient, leadId: string, action: DeliveryResult['action'], res: PipedriveResponse | undefined): DeliveryResult {
  const out: DeliveryResult = { externalId: leadId, action };
  const url = leadUrl(client, leadId);
  if (url) out.url = url;
  if (res) {
    out.httpStatus = res.status;
    out.responseBody = res.rawBody;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// deliver
// ---------------------------------------------------------------------------------------------

function hasCustomFields(split: SplitFields): boolean {
  return Object.keys(split.person.custom).length > 0 || Object.keys(split.lead.custom).length > 0;
}

async function deliverToPipedrive(ctx: PipedriveContext, record: DeliveryRecord): Promise<DeliveryResult> {
  const client = createPipedriveClient(ctx);
  const split = splitFields(record.fields);
  const { lead } = record;
  // Custom-field values must match the field's type (option ids, numbers); the cached field list says which.
  const catalog = hasCustomFields(split) ? await loadFieldCatalog(ctx, client) : undefined;
  // Build every body first: a value Pipedrive cannot take fails before anything is created.
  const personBody = buildPersonBody(split, lead, ctx.config, catalog);
  const leadPatch = buildLeadPatch(split, lead, ctx.config, catalog);
  const noteContent = buildNoteContent(split, record.unmappedNote);

  let ledger = await readLedger(ctx);

  // 1. Delivered before: update, unless a salesperson archived it since (archived leads are
  // not editable; it stays as they left it: ARCHIVED LEADS above).
  if (ledger.completed && ledger.leadId) {
    const current = await getLead(client, ledger.leadId);
    if (current?.isArchived) return result(client, ledger.leadId, 'updated', undefined);
    const res = current ? await updateLead(client, ledger.leadId, leadPatch) : undefined;
    if (res) return result(client, ledger.leadId, 'updated', res);
    // Someone deleted the lead in Pipedrive and the lead is being sent again on purpose (a
    // replay): start over, looking the person up again (they may be gone too).
    ledger = await writeLedger(ctx, {});
  }

  let lastResponse: PipedriveResponse | undefined;
  if (!ledger.leadId) {
    // 2. The person.
    let personId = ledger.personId;
    const isPersonFromLedger = personId !== undefined;
    let isExistingPerson = false;
    if (personId === undefined) {
      const person = await findOrCreatePerson(ctx, client, split, record, personBody, async (id) => {
        ledger = await writeLedger(ctx, { ...ledger, personId: id });
      });
      personId = person.personId;
      isExistingPerson = person.isExisting;
    }

    // 3. A lead we made before for this leadgen id, archived or not?
    if (isExistingPerson || isPersonFromLedger) {
      const existing = await findLeadByOrigin(client, personId, lead.leadgen_id);
      if (existing !== undefined && isExistingPerson) {
        // A repeat with no ledger (e.g. the ledger was lost): never create twice. Update it,
        // unless it is archived: then it stays as the salesperson left it (ARCHIVED LEADS above).
        const res = existing.isArchived ? undefined : await updateLead(client, existing.id, leadPatch);
        await writeLedger(ctx, { ...ledger, leadId: existing.id, completed: true });
        return result(client, existing.id, 'updated', res);
      }
      // Our previous attempt created it, but its answer never reached us: carry on to the note.
      if (existing !== undefined) ledger = await writeLedger(ctx, { ...ledger, leadId: existing.id });
    }

    // 4. The lead.
    if (!ledger.leadId) {
      const created = await createLead(client, buildLeadBody(split, lead, personId, ctx.config, catalog));
      lastResponse = created.res;
      ledger = await writeLedger(ctx, { ...ledger, leadId: created.id, completed: noteContent === undefined ? true : undefined });
    }
  }
  const leadId = ledger.leadId as string;

  // 5. The note.
  if (!ledger.completed) {
    const noteId = noteContent !== undefined && ledger.noteId === undefined ? await createNote(client, leadId, noteContent) : ledger.noteId;
    ledger = await writeLedger(ctx, { ...ledger, noteId, completed: true });
  }
  return result(client, leadId, 'created', lastResponse);
}

export const pipedriveConnector: Connector<PipedriveConfig, PipedriveCredentials, PipedriveSettings> = {
  ...pipedriveManifest,

  async describeFields(ctx): Promise<FieldDescriptor[]> {
    return toFieldDescriptors(await loadFieldCatalog(ctx, createPipedriveClient(ctx)));
  },

  deliver: deliverToPipedrive,

  async verify(ctx): Promise<void> {
    // The cheapest authenticated call (2 budget tokens); fails with auth on a bad token.
    await createPipedriveClient(ctx).request({ method: 'GET', path: '/v1/users/me' });
  },

  /** OAuth: the refresh token is revoked. An API token has no revocation endpoint: only a person can regenerate it. */
  async revoke(ctx): Promise<RevocationOutcome> {
    if (ctx.credentials.type !== 'oauth')
      return {
        status: 'not_revocable',
        message: 'Pipedrive has no API to revoke a personal API token: regenerate it in Pipedrive (Personal preferences → API)',
      };
    await revokeRefreshToken(ctx.settings.connector, ctx.credentials.refreshToken, { timeoutMs: ctx.settings.timeoutMs, now: ctx.now() });
    return { status: 'revoked' };
  },
};

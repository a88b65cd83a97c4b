// Data-subject requests by email or phone: find a person's leads (through the blind index, no
// decrypting of anyone else's answers), export them (JSON, CSV), correct an answer (re-encrypted,
// re-indexed, re-delivered on request through the replay path), erase them (answers, index rows,
// every copy in deliveries and attempts, the connectors' recent records, and optionally the
// person in the CRM where the connector can). Each request is recorded with its outcome in
// data_requests (its id is the receipt) and in the audit log, also when it fails.
// The person's email or phone is never logged, stored in clear, or repeated in an error.
import { stringify } from 'csv-stringify/sync';
import { getManifest } from '../../connectors/index.js';
import { derivePersonKey } from '../../connectors/person-key.js';
import { isConnectorError } from '../../connectors/types.js';
import { type AuditActor, writeAudit } from '../accounts/audit.js';
import type { App } from '../app.js';
import { hashSearchTerm, normaliseEmail, normalisePhone, SEARCH_KEY_PURPOSE, type SearchTerm, searchTermsOf } from '../lead/blind-index.js';
import { redactAnswerValues } from '../lead/redact.js';
import { buildConnectorContext, recentRecordKeyHash } from '../pipeline/connector-context.js';
import { decryptLeadAnswers, type LeadAnswers, leadAad } from '../pipeline/lead-record.js';
import { questionTypesOf, searchHashesOf } from '../pipeline/lead-search-index.js';
import { replayLead } from '../pipeline/replay.js';
import { finishDataRequest, startDataRequest } from '../store/data-requests.js';
import { DESTINATION_DISCONNECTED } from '../store/disconnects.js';
import { findLeadsBySearchHashes, listWorkspaceLeadsToIndex, replaceLeadAnswersIfUnchanged, rewriteStoredMessagesOfLead } from '../store/data-subjects.js';
import { replaceLeadSearch } from '../store/lead-search.js';
import { deleteRecentRecords } from '../store/recent-records.js';
import * as repo from '../store/repos.js';
import type { DataRequest, DataRequestKind, DataRequestStatus, Lead } from '../store/schema.js';
import { errorSummary } from '../util/error-summary.js';
import { type FieldNamer, InvalidInputError, NotFoundError } from './errors.js';
import { csvColumnsFor, csvRowsOf, deliveryHistoryOf, type ExportedLead, exportLead, questionLabelsOf } from './lead-export.js';

/** The key ring purpose of the receipts' subject hashes: not the blind index's, so receipts cannot be joined to lead_search. */
const SUBJECT_KEY_PURPOSE = 'data-request-subject';

/** Who asks, as the audit log names them. */
export interface Requester {
  actor: AuditActor;
  ip?: string | null;
  userAgent?: string | null;
}

/** The person of a request: exactly one of an email or a phone number with its country code. */
export function parseSubject(input: { email?: string; phone?: string }, name: FieldNamer): SearchTerm {
  const email = input.email?.trim() ? input.email : undefined;
  const phone = input.phone?.trim() ? input.phone : undefined;
  // The messages never repeat the value: it is the person's email or phone.
  if ((email === undefined) === (phone === undefined))
    throw new InvalidInputError({ field: name('email'), message: `give exactly one of ${name('email')} and ${name('phone')}` });
  if (email !== undefined) {
    const value = normaliseEmail(email);
    if (!value) throw new InvalidInputError({ field: name('email'), message: `${name('email')} is not an email address` });
    return { kind: 'email', value };
  }
  const value = normalisePhone(phone!);
  if (!value)
    throw new InvalidInputError({ field: name('phone'), message: `${name('phone')} is not a phone number with its country code (e.g. +14155550100)` });
  return { kind: 'phone', value };
}

// ---- finding a person's leads ------------------------------------------------------------------

const INDEX_BATCH = 500;

/**
 * Indexes the workspace's leads that hold answers but no index rows under a key of the ring
 * (stored before the index existed, or under a key since removed): a request must find every
 * lead of the person, not only those the hourly re-indexing has reached. Returns how many.
 */
async function indexWorkspaceLeads(app: App, workspaceId: string): Promise<number> {
  const { db, keyRing } = app;
  const key = keyRing.deriveKey(SEARCH_KEY_PURPOSE);
  const kids = keyRing.kids;
  const typesByForm = new Map<string, Map<string, string>>();
  let lastId = '00000000-0000-0000-0000-000000000000';
  let indexed = 0;
  for (;;) {
    const batch = await listWorkspaceLeadsToIndex(db, workspaceId, kids, lastId, INDEX_BATCH);
    if (batch.length === 0) return indexed;
    for (const l of batch) {
      let answers: LeadAnswers;
      try {
        answers = keyRing.decryptJson<LeadAnswers>(l.answers_envelope, leadAad(l.workspace_id, l.leadgen_id));
      } catch {
        continue;
      }
      const formKey = l.form_id ?? '';
      let types = typesByForm.get(formKey);
      if (!types) {
        types = questionTypesOf(await repo.findFormQuestions(db, workspaceId, l.form_id));
        typesByForm.set(formKey, types);
      }
      const rows = searchTermsOf(answers.answers, types).map((t) => ({ kind: t.kind, hash: hashSearchTerm(key, workspaceId, t) }));
      if (await replaceLeadSearch(db, { id: l.id, workspaceId, envelope: l.answers_envelope }, keyRing.primaryKid, rows)) indexed++;
    }
    lastId = batch[batch.length - 1]!.id;
  }
}

/**
 * The person's leads in the workspace, oldest first, found by the keyed hash of their email or
 * phone. Erased leads are not among them: erasing takes their index rows, so nothing links a
 * tombstone to the person any more.
 */
async function findSubjectLeads(app: App, workspaceId: string, term: SearchTerm): Promise<Lead[]> {
  await indexWorkspaceLeads(app, workspaceId);
  return findLeadsBySearchHashes(app.db, workspaceId, term.kind, searchHashesOf(app.keyRing, workspaceId, term));
}

// ---- the receipt -----------------------------------------------------------------------------

function subjectHashOf(app: App, workspaceId: string, term: SearchTerm): string {
  return hashSearchTerm(app.keyRing.deriveKey(SUBJECT_KEY_PURPOSE), workspaceId, term);
}

interface Outcome<T> {
  status: Exclude<DataRequestStatus, 'running' | 'failed'>;
  counts: Record<string, unknown>;
  result: T;
}

/**
 * Runs one request between its receipt's start and finish, and writes its audit entry
 * (`dataRequest.<kind>`, target the receipt), whatever the outcome: a failure is recorded as
 * `failed` with the error's class (never its message, which could quote data) and rethrown.
 */
async function runRequest<T>(
  app: App,
  workspaceId: string,
  kind: DataRequestKind,
  term: SearchTerm,
  requester: Requester,
  work: () => Promise<Outcome<T>>,
): Promise<{ receipt: DataRequest; result: T }> {
  if (!(await repo.findWorkspace(app.db, workspaceId))) throw new NotFoundError(`workspace "${workspaceId}"`, 'list them with: leadrelay workspaces list');
  const started = await startDataRequest(app.db, {
    workspaceId,
    kind,
    subjectKind: term.kind,
    subjectHash: subjectHashOf(app, workspaceId, term),
    requestedByType: requester.actor.type,
    requestedBy: requester.actor.label,
  });
  const audit = async (receipt: DataRequest) =>
    writeAudit(app.db, {
      workspaceId,
      actor: requester.actor,
      action: `dataRequest.${kind}`,
      target: { type: 'data_request', id: receipt.id },
      ip: requester.ip,
      userAgent: requester.userAgent,
      details: { kind, subject_kind: term.kind, status: receipt.status, counts: receipt.counts },
    });
  let outcome: Outcome<T>;
  try {
    outcome = await work();
  } catch (err) {
    const receipt = await finishDataRequest(app.db, started.id, 'failed', { error: errorSummary(err).name ?? 'Error' });
    await audit(receipt);
    throw err;
  }
  const receipt = await finishDataRequest(app.db, started.id, outcome.status, outcome.counts);
  await audit(receipt);
  return { receipt, result: outcome.result };
}

export function describeReceipt(r: DataRequest) {
  return {
    id: r.id,
    kind: r.kind,
    subject_kind: r.subject_kind,
    status: r.status,
    requested_by: r.requested_by,
    counts: r.counts ?? {},
    created_at: new Date(r.created_at).toISOString(),
    finished_at: r.finished_at === null ? null : new Date(r.finished_at).toISOString(),
  };
}

// ---- find and export --------------------------------------------------------------------------

async function exportedLeadsOf(app: App, workspaceId: string, leads: Lead[]): Promise<ExportedLead[]> {
  const history = await deliveryHistoryOf(
    app.db,
    leads.map((l) => l.id),
  );
  const destinations = new Map((await repo.listDestinations(app.db, workspaceId)).map((d) => [d.id, d]));
  const labels = await questionLabelsOf(app.db, workspaceId);
  return leads.map((l) => exportLead(app, l, history.get(l.id) ?? [], destinations, labels.get(l.form_id ?? '')));
}

/** A found lead: where it came from and where it went, without its answers. */
interface FoundLead {
  id: string;
  leadgen_id: string;
  received_at: string | null;
  form: { id: string | null; name: string | null };
  status: string;
  answers: 'stored' | 'erased' | 'none';
  deliveries: {
    destination: { id: string; name: string | null; type: string | null };
    status: string;
    external_id: string | null;
    external_url: string | null;
  }[];
}

/** The person's leads in the workspace and where they were delivered (no answers). */
export async function findSubject(app: App, workspaceId: string, term: SearchTerm, requester: Requester) {
  return runRequest(app, workspaceId, 'find', term, requester, async () => {
    const leads = await exportedLeadsOf(app, workspaceId, await findSubjectLeads(app, workspaceId, term));
    const found: FoundLead[] = leads.map((l) => ({
      id: l.id,
      leadgen_id: l.leadgen_id,
      received_at: l.received_at,
      form: l.form,
      status: l.status,
      answers: l.answers !== null || l.answers_unreadable ? 'stored' : l.answers_erased_at !== null ? 'erased' : 'none',
      deliveries: l.deliveries.map((d) => ({ destination: d.destination, status: d.status, external_id: d.external_id, external_url: d.external_url })),
    }));
    return { status: 'done', counts: { leads: found.length }, result: found };
  });
}

export type ExportFormat = 'json' | 'csv';

/** Everything LeadRelay holds of the person in the workspace: each lead's answers, metadata and delivery history. */
export async function exportSubject(app: App, workspaceId: string, term: SearchTerm, format: ExportFormat, requester: Requester) {
  return runRequest(app, workspaceId, 'export', term, requester, async () => {
    const leads = await exportedLeadsOf(app, workspaceId, await findSubjectLeads(app, workspaceId, term));
    const counts = { leads: leads.length, deliveries: leads.reduce((n, l) => n + l.deliveries.length, 0), format };
    return { status: 'done', counts, result: leads };
  });
}

/** The person's export as CSV: one row per lead and delivery, one column per answer and consent. */
export function subjectCsv(leads: ExportedLead[]): string {
  const columns = csvColumnsFor(
    leads.flatMap((l) => (l.answers ?? []).map((a) => a.key)),
    leads.flatMap((l) => (l.consents ?? []).map((c) => c.key)),
  );
  return stringify(
    leads.flatMap((l) => csvRowsOf(l)),
    { header: true, columns },
  );
}

// ---- correct ------------------------------------------------------------------------------------

export interface AnswerCorrection {
  key: string;
  values: string[];
}

/** Replaces answer values of one lead's stored answers (only while they are the ones read), re-indexes it and takes the old values out of stored messages. */
async function correctLead(app: App, lead: Lead, corrections: AnswerCorrection[]): Promise<{ changed: number; oldValues: string[] } | null> {
  if (lead.answers_envelope === null) return null;
  const answers = decryptLeadAnswers(app.keyRing, lead);
  const oldValues: string[] = [];
  let changed = 0;
  for (const c of corrections) {
    const answer = answers.answers.find((a) => a.key === c.key);
    if (!answer) continue;
    oldValues.push(...answer.values.filter((v): v is string => typeof v === 'string' && !c.values.includes(v)));
    answer.values = [...c.values];
    changed++;
  }
  if (changed === 0) return null;
  const envelope = app.keyRing.encryptJson(answers, leadAad(lead.workspace_id, lead.leadgen_id));
  const questions = await repo.findFormQuestions(app.db, lead.workspace_id, lead.form_id);
  const key = app.keyRing.deriveKey(SEARCH_KEY_PURPOSE);
  const rows = searchTermsOf(answers.answers, questionTypesOf(questions)).map((t) => ({ kind: t.kind, hash: hashSearchTerm(key, lead.workspace_id, t) }));
  const done = await app.db.transaction().execute(async (trx) => {
    // Only over the answers this read: a rotation or another correction in between wins, and this one is refused.
    if (!(await replaceLeadAnswersIfUnchanged(trx, lead.id, lead.answers_envelope!, envelope))) return false;
    await replaceLeadSearch(trx, { id: lead.id, workspaceId: lead.workspace_id, envelope }, app.keyRing.primaryKid, rows);
    if (oldValues.length > 0) await rewriteStoredMessagesOfLead(trx, lead.id, (text) => redactAnswerValues(text, oldValues));
    return true;
  });
  if (!done) throw new Error('the lead changed while it was being corrected; try again');
  return { changed, oldValues };
}

/**
 * Corrects answers of the person's leads (of one lead, with `leadId`): each lead holding an
 * answer to a corrected question gets the new values, re-encrypted and re-indexed. With
 * `redeliver`, those leads are routed again and every delivery of theirs is sent again
 * (the replay path), so the CRM gets the corrected record.
 */
export async function correctSubject(
  app: App,
  workspaceId: string,
  term: SearchTerm,
  input: { leadId?: string; answers: AnswerCorrection[]; redeliver: boolean },
  requester: Requester,
  name: FieldNamer,
) {
  if (input.answers.length === 0)
    throw new InvalidInputError({ field: name('answers'), message: `${name('answers')} must name at least one answer to correct` });
  return runRequest(app, workspaceId, 'correct', term, requester, async () => {
    let leads = (await findSubjectLeads(app, workspaceId, term)).filter((l) => l.answers_envelope !== null);
    if (input.leadId !== undefined) {
      leads = leads.filter((l) => l.id === input.leadId);
      if (leads.length === 0) throw new NotFoundError(`lead "${input.leadId}" of this person (with answers)`);
    }
    let corrected = 0;
    let answers = 0;
    let queued = 0;
    const correctedIds: string[] = [];
    for (const lead of leads) {
      const r = await correctLead(app, lead, input.answers);
      if (!r) continue;
      corrected++;
      answers += r.changed;
      correctedIds.push(lead.id);
    }
    if (leads.length > 0 && corrected === 0)
      throw new InvalidInputError({ field: name('answers'), message: `none of this person's leads has an answer to the questions ${name('answers')} names` });
    // Deliveries still pending read the corrected answers when they run; the others are sent again.
    if (input.redeliver) for (const id of correctedIds) queued += (await replayLead(app, id, ['delivered', 'dead', 'parked'])).queued;
    return { status: 'done', counts: { leads: corrected, answers, redeliveries: queued }, result: { leads: correctedIds, queued } };
  });
}

// ---- erase ------------------------------------------------------------------------------------------

/** What happened in one destination's CRM. */
interface CrmErasure {
  destination_id: string;
  type: string;
  /** `erased`: the CRM erased the person; `not_found`: it had none of theirs; `unsupported`: erase them there by hand; `failed`: it could not (see reason). */
  outcome: 'erased' | 'not_found' | 'unsupported' | 'failed';
  records: number;
  reason?: string;
}

/** The person's addresses as found in their leads' answers (for the CRM and the connectors' person keys). */
function addressesOf(answerSets: LeadAnswers[]): { emails: string[]; phones: string[]; raw: string[] } {
  const emails = new Set<string>();
  const phones = new Set<string>();
  const raw = new Set<string>();
  for (const a of answerSets)
    for (const answer of a.answers)
      for (const v of answer.values) {
        if (typeof v !== 'string') continue;
        raw.add(v);
        const email = normaliseEmail(v);
        if (email) emails.add(email);
        else {
          const phone = normalisePhone(v);
          if (phone) phones.add(phone);
        }
      }
  return { emails: [...emails], phones: [...phones], raw: [...raw] };
}

/**
 * The key hashes connectors' recent records may hold for this person in a destination: every
 * person key derivePersonKey makes from their values as typed and as normalised, and per lead.
 */
function personKeyHashes(app: App, destinationId: string, values: { raw: string[]; emails: string[]; phones: string[] }, leadgenIds: string[]): string[] {
  const keys = new Set<string>();
  for (const v of [...values.raw, ...values.emails, ...values.phones]) {
    keys.add(derivePersonKey({ email: v, leadgenId: '' }));
    keys.add(derivePersonKey({ phone: v, leadgenId: '' }));
  }
  for (const id of leadgenIds) keys.add(derivePersonKey({ leadgenId: id }));
  return [...keys].map((k) => recentRecordKeyHash(app, destinationId, k));
}

/**
 * Erases the person's leads in the workspace: their answers and index rows, every copy in
 * deliveries and attempts, and what connectors remembered of them (recent records), leaving
 * PII-free tombstones; then, with `inCrm`, the person in each CRM whose connector can erase
 * (e.g. a CRM's GDPR delete), by the record ids LeadRelay's deliveries made and their emails. The
 * database is erased first, so no delivery can send them again meanwhile; a CRM that fails is
 * reported (`partial`) with its record ids kept in the deliveries for erasing there by hand.
 */
export async function eraseSubject(app: App, workspaceId: string, term: SearchTerm, opts: { inCrm: boolean }, requester: Requester) {
  return runRequest(app, workspaceId, 'erase', term, requester, async () => {
    const leads = await findSubjectLeads(app, workspaceId, term);
    const answerSets: LeadAnswers[] = [];
    for (const l of leads) {
      try {
        answerSets.push(decryptLeadAnswers(app.keyRing, l));
      } catch {
        // Unreadable answers are erased all the same; only their addresses are unknown.
      }
    }
    const addresses = addressesOf(answerSets);
    // The request's own address, even if no answer holds it any more (a lead erased earlier).
    if (term.kind === 'email' && !addresses.emails.includes(term.value)) addresses.emails.push(term.value);
    if (term.kind === 'phone' && !addresses.phones.includes(term.value)) addresses.phones.push(term.value);
    const leadIds = leads.map((l) => l.id);
    const deliveries = await repo.listDeliveriesOfLeads(app.db, leadIds);
    const byDestination = new Map<string, string[]>();
    for (const d of deliveries) {
      const ids = byDestination.get(d.destination_id) ?? [];
      if (d.external_id) ids.push(d.external_id);
      byDestination.set(d.destination_id, ids);
    }

    const erased = await repo.eraseLeadsNow(app.db, leadIds, new Date());
    let recentRecords = 0;
    for (const destinationId of byDestination.keys())
      recentRecords += await deleteRecentRecords(
        app.db,
        destinationId,
        personKeyHashes(
          app,
          destinationId,
          addresses,
          leads.map((l) => l.leadgen_id),
        ),
      );

    const crm: CrmErasure[] = [];
    if (opts.inCrm)
      for (const [destinationId, externalIds] of byDestination) {
        const dest = await repo.findDestination(app.db, destinationId);
        if (!dest) continue;
        const manifest = getManifest(dest.type);
        if (!manifest.erasePerson) {
          crm.push({ destination_id: dest.id, type: dest.type, outcome: 'unsupported', records: externalIds.length });
          continue;
        }
        // Disconnected: its credentials are gone, so LeadRelay can no longer ask the CRM.
        if (dest.status === 'disabled' && dest.status_reason === DESTINATION_DISCONNECTED) {
          crm.push({ destination_id: dest.id, type: dest.type, outcome: 'failed', records: 0, reason: 'destination_disconnected' });
          continue;
        }
        try {
          const r = await manifest.erasePerson(buildConnectorContext(app, dest, null), {
            externalIds: [...new Set(externalIds)],
            emails: addresses.emails,
            phones: addresses.phones,
          });
          crm.push({ destination_id: dest.id, type: dest.type, outcome: r.erased > 0 ? 'erased' : 'not_found', records: r.erased });
        } catch (err) {
          // The reason code only: a CRM's words may quote the person.
          const reason = isConnectorError(err) ? err.reason : 'internal_error';
          app.logger.warn({ destinationId: dest.id, type: dest.type, reason }, 'erasing a person in the CRM failed');
          crm.push({ destination_id: dest.id, type: dest.type, outcome: 'failed', records: 0, reason });
        }
      }
    const isPartial = crm.some((c) => c.outcome === 'failed');
    const counts = {
      leads: erased.leads,
      search_entries: erased.searchEntries,
      deliveries_scrubbed: erased.deliveries,
      attempts_scrubbed: erased.attempts,
      recent_records: recentRecords,
      ...(opts.inCrm ? { crm } : {}),
    };
    return { status: isPartial ? 'partial' : 'done', counts, result: { leads: leadIds, crm } };
  });
}

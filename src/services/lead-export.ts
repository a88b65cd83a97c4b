// Leads as they leave LeadRelay in an export (a data-subject export, a workspace export): each
// lead's metadata, its answers and consents (decrypted), and its delivery history with where it
// went (the destination's name and type, the CRM's record id and link). Also the CSV form: one row
// per lead and delivery, one column per answer.
import type { App } from '../app.js';
import { decryptLeadAnswers, type LeadAnswers } from '../pipeline/lead-record.js';
import { listAttemptsOfDeliveries, listFormQuestionsOfWorkspace } from '../store/data-subjects.js';
import type { Db } from '../store/db.js';
import { listDeliveriesOfLeads } from '../store/deliveries.js';
import type { Delivery, DeliveryAttempt, Destination, Lead } from '../store/schema.js';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

interface ExportedAttempt {
  attempt: number;
  started_at: string | null;
  finished_at: string | null;
  outcome: string;
  http_status: number | null;
  error_kind: string | null;
  reason: string | null;
  message: string | null;
}

interface ExportedDelivery {
  id: string;
  destination: { id: string; name: string | null; type: string | null };
  route_id: string | null;
  status: string;
  action: string | null;
  external_id: string | null;
  external_url: string | null;
  attempts_count: number;
  created_at: string | null;
  delivered_at: string | null;
  last_error_reason: string | null;
  history: ExportedAttempt[];
}

export interface ExportedLead {
  id: string;
  leadgen_id: string;
  received_at: string | null;
  created_time: string | null;
  page: { id: string; name: string | null };
  form: { id: string | null; name: string | null };
  platform: string | null;
  is_organic: boolean;
  is_test: boolean;
  attribution: {
    ad_id: string | null;
    ad_name: string | null;
    adset_id: string | null;
    adset_name: string | null;
    campaign_id: string | null;
    campaign_name: string | null;
  };
  status: string;
  status_reason: string | null;
  /** When the answers were erased (retention or an erasure request); the lists are then null. */
  answers_erased_at: string | null;
  /** Null when erased, or when they cannot be decrypted (`answers_unreadable`). */
  answers: { key: string; label: string | null; values: unknown[] }[] | null;
  consents: { key: string; checked: boolean }[] | null;
  answers_unreadable?: true;
  deliveries: ExportedDelivery[];
}

/** Question key → label, per form of a workspace. */
export async function questionLabelsOf(db: Db, workspaceId: string): Promise<Map<string, Map<string, string>>> {
  const forms = await listFormQuestionsOfWorkspace(db, workspaceId);
  const out = new Map<string, Map<string, string>>();
  for (const f of forms) {
    const labels = new Map<string, string>();
    if (Array.isArray(f.questions))
      for (const q of f.questions as { key?: unknown; label?: unknown }[])
        if (typeof q?.key === 'string' && typeof q.label === 'string') labels.set(q.key, q.label);
    out.set(f.form_id, labels);
  }
  return out;
}

/** The deliveries and attempts of these leads, grouped by lead, in the order they were made. */
export async function deliveryHistoryOf(db: Db, leadIds: string[]): Promise<Map<string, { delivery: Delivery; attempts: DeliveryAttempt[] }[]>> {
  const out = new Map<string, { delivery: Delivery; attempts: DeliveryAttempt[] }[]>();
  if (leadIds.length === 0) return out;
  const deliveries = await listDeliveriesOfLeads(db, leadIds);
  const attempts = await listAttemptsOfDeliveries(
    db,
    deliveries.map((d) => d.id),
  );
  const attemptsOf = new Map<string, DeliveryAttempt[]>();
  for (const a of attempts) attemptsOf.set(a.delivery_id, [...(attemptsOf.get(a.delivery_id) ?? []), a]);
  for (const d of deliveries) out.set(d.lead_id, [...(out.get(d.lead_id) ?? []), { delivery: d, attempts: attemptsOf.get(d.id) ?? [] }]);
  return out;
}

/** One lead as exported. Decrypts its answers in memory; a lead whose answers do not decrypt is exported without them. */
export function exportLead(
  app: App,
  lead: Lead,
  history: { delivery: Delivery; attempts: DeliveryAttempt[] }[],
  destinations: ReadonlyMap<string, Pick<Destination, 'name' | 'type'>>,
  labels: ReadonlyMap<string, string> | undefined,
): ExportedLead {
  let answers: LeadAnswers | null = null;
  let unreadable = false;
  if (lead.answers_envelope !== null) {
    try {
      answers = decryptLeadAnswers(app.keyRing, lead);
    } catch {
      unreadable = true;
    }
  }
  return {
    id: lead.id,
    leadgen_id: lead.leadgen_id,
    received_at: iso(lead.received_at),
    created_time: iso(lead.created_time),
    page: { id: lead.page_id, name: lead.page_name },
    form: { id: lead.form_id, name: lead.form_name },
    platform: lead.platform,
    is_organic: lead.is_organic,
    is_test: lead.is_test,
    attribution: {
      ad_id: lead.ad_id,
      ad_name: lead.ad_name,
      adset_id: lead.adset_id,
      adset_name: lead.adset_name,
      campaign_id: lead.campaign_id,
      campaign_name: lead.campaign_name,
    },
    status: lead.status,
    status_reason: lead.status_reason,
    answers_erased_at: iso(lead.erased_at),
    answers: answers ? answers.answers.map((a) => ({ key: a.key, label: labels?.get(a.key) ?? null, values: a.values })) : null,
    consents: answers ? answers.consents.map((c) => ({ key: c.key, checked: c.checked })) : null,
    ...(unreadable ? { answers_unreadable: true as const } : {}),
    deliveries: history.map(({ delivery: d, attempts }) => ({
      id: d.id,
      destination: { id: d.destination_id, name: destinations.get(d.destination_id)?.name ?? null, type: destinations.get(d.destination_id)?.type ?? null },
      route_id: d.route_id,
      status: d.status,
      action: d.action,
      external_id: d.external_id,
      external_url: d.external_url,
      attempts_count: d.attempts,
      created_at: iso(d.created_at),
      delivered_at: iso(d.delivered_at),
      last_error_reason: d.last_error_reason,
      history: attempts.map((a) => ({
        attempt: a.attempt,
        started_at: iso(a.started_at),
        finished_at: iso(a.finished_at),
        outcome: a.outcome,
        http_status: a.http_status,
        error_kind: a.error_kind,
        reason: a.reason,
        message: a.message,
      })),
    })),
  };
}

// ---- CSV ------------------------------------------------------------------------------------

const LEAD_COLUMNS = [
  'lead_id',
  'leadgen_id',
  'received_at',
  'created_time',
  'page_id',
  'page_name',
  'form_id',
  'form_name',
  'platform',
  'is_organic',
  'is_test',
  'ad_id',
  'ad_name',
  'adset_id',
  'adset_name',
  'campaign_id',
  'campaign_name',
  'status',
  'status_reason',
  'answers_erased_at',
] as const;

const DELIVERY_COLUMNS = [
  'delivery_id',
  'destination_id',
  'destination_name',
  'destination_type',
  'delivery_status',
  'delivery_action',
  'delivery_attempts',
  'delivered_at',
  'external_id',
  'external_url',
  'last_error_reason',
] as const;

/** The CSV's columns: the lead's, one per answer key (`answer:<key>`) and consent (`consent:<key>`), then the delivery's. */
export function csvColumnsFor(answerKeys: Iterable<string>, consentKeys: Iterable<string>): string[] {
  return [
    ...LEAD_COLUMNS,
    ...[...new Set(answerKeys)].sort().map((k) => `answer:${k}`),
    ...[...new Set(consentKeys)].sort().map((k) => `consent:${k}`),
    ...DELIVERY_COLUMNS,
  ];
}

/** A phone number or a signed number: starts with + or - but is no formula. */
const SIGNED_NUMBER = /^[+-][\d\s().-]*$/;

/**
 * A cell a spreadsheet will not run: text starting with = @ + - tab or CR gets a leading `'`
 * (CSV injection; answers are typed by anyone who fills in a form), except a phone number or a
 * signed number, which stays as it is.
 */
function neutraliseFormula(value: string): string {
  if (value === '') return value;
  const first = value[0]!;
  if (first === '=' || first === '@' || first === '\t' || first === '\r') return `'${value}`;
  if ((first === '+' || first === '-') && !SIGNED_NUMBER.test(value)) return `'${value}`;
  return value;
}

const cell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return neutraliseFormula(v);
  if (Array.isArray(v)) return neutraliseFormula(v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('; '));
  if (typeof v === 'object') return neutraliseFormula(JSON.stringify(v));
  return String(v);
};

/** The CSV rows of one lead: one per delivery (one with empty delivery columns when it has none), cells by column name. */
export function csvRowsOf(lead: ExportedLead): Record<string, string>[] {
  const base: Record<string, unknown> = {
    lead_id: lead.id,
    leadgen_id: lead.leadgen_id,
    received_at: lead.received_at,
    created_time: lead.created_time,
    page_id: lead.page.id,
    page_name: lead.page.name,
    form_id: lead.form.id,
    form_name: lead.form.name,
    platform: lead.platform,
    is_organic: lead.is_organic,
    is_test: lead.is_test,
    ...lead.attribution,
    status: lead.status,
    status_reason: lead.status_reason,
    answers_erased_at: lead.answers_erased_at,
  };
  for (const a of lead.answers ?? []) base[`answer:${a.key}`] = a.values;
  for (const c of lead.consents ?? []) base[`consent:${c.key}`] = c.checked;
  const deliveries: (ExportedDelivery | null)[] = lead.deliveries.length ? lead.deliveries : [null];
  return deliveries.map((d) => {
    const row: Record<string, unknown> = { ...base };
    if (d) {
      row.delivery_id = d.id;
      row.destination_id = d.destination.id;
      row.destination_name = d.destination.name;
      row.destination_type = d.destination.type;
      row.delivery_status = d.status;
      row.delivery_action = d.action;
      row.delivery_attempts = d.attempts_count;
      row.delivered_at = d.delivered_at;
      row.external_id = d.external_id;
      row.external_url = d.external_url;
      row.last_error_reason = d.last_error_reason;
    }
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, cell(v)]));
  });
}

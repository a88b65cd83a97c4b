// The lead log's filters: kept in the address, by the API's names (?page_id=&form_id=
// &destination_id=&status=&since=&until=&q=, the dates as days),
// so a filtered log can be bookmarked, shared and reloaded, and turned into the API's query. A
// lead that arrives or changes while the log is open is checked against them here, the same way
// the server filters (except the email/phone search, which only the server can match).
import type { components } from '../../api/schema';

export type LeadSummary = components['schemas']['LeadSummary'];
export type DeliveryRollup = LeadSummary['delivery_status'];

export const LEAD_STATUSES = ['delivered', 'failed', 'pending', 'parked', 'unrouted', 'routed'] as const;
export type LeadStatusFilter = (typeof LEAD_STATUSES)[number];

export interface LeadFilters {
  page_id?: string;
  form_id?: string;
  destination_id?: string;
  status?: LeadStatusFilter;
  /** YYYY-MM-DD, a local day: received on it or later. */
  since?: string;
  /** YYYY-MM-DD, a local day: received on it or earlier. */
  until?: string;
  /** An email address or a phone number with its country code. */
  q?: string;
}

const KEYS = ['page_id', 'form_id', 'destination_id', 'status', 'since', 'until', 'q'] as const;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function filtersFromParams(params: URLSearchParams): LeadFilters {
  const f: LeadFilters = {};
  for (const key of KEYS) {
    const value = params.get(key)?.trim();
    if (!value) continue;
    if (key === 'status') {
      if ((LEAD_STATUSES as readonly string[]).includes(value)) f.status = value as LeadStatusFilter;
    } else if (key === 'since' || key === 'until') {
      if (DAY.test(value)) f[key] = value;
    } else f[key] = value;
  }
  return f;
}

export function paramsFromFilters(f: LeadFilters): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of KEYS) {
    const value = f[key];
    if (value) params.set(key, value);
  }
  return params;
}

export const hasFilters = (f: LeadFilters) => KEYS.some((k) => Boolean(f[k]));

/** A local day's first instant, as the ISO time the API takes. */
const startOfDay = (day: string) => new Date(`${day}T00:00:00`);
/** The instant after a local day. */
const endOfDay = (day: string) => {
  const d = startOfDay(day);
  d.setDate(d.getDate() + 1);
  return d;
};

/** The query of GET …/leads for these filters. */
export function apiQueryOf(f: LeadFilters) {
  return {
    page_id: f.page_id,
    form_id: f.form_id,
    destination_id: f.destination_id,
    status: f.status,
    since: f.since ? startOfDay(f.since).toISOString() : undefined,
    until: f.until ? endOfDay(f.until).toISOString() : undefined,
    q: f.q,
  };
}

/** A delivery's own status in the terms of the lead log (dead → failed). */
function deliveryRollup(status: string): DeliveryRollup {
  if (status === 'dead') return 'failed';
  if (status === 'parked' || status === 'pending' || status === 'delivered') return status;
  return 'pending';
}

/**
 * Whether a lead the change feed brought belongs in the log as filtered (as the server would
 * decide). A search by email or phone cannot be checked here: with one, only leads already
 * listed are updated.
 */
export function matchesFilters(lead: LeadSummary, f: LeadFilters): boolean {
  if (f.q) return false;
  if (f.page_id && lead.page_id !== f.page_id) return false;
  if (f.form_id && lead.form_id !== f.form_id) return false;
  const toDestination = f.destination_id ? lead.deliveries.filter((d) => d.destination_id === f.destination_id) : lead.deliveries;
  if (f.destination_id && toDestination.length === 0) return false;
  if (f.status === 'routed' || f.status === 'unrouted') {
    if (lead.status !== f.status) return false;
  } else if (f.status) {
    const status = f.destination_id && lead.status !== 'unrouted' ? worstOf(toDestination.map((d) => deliveryRollup(d.status))) : lead.delivery_status;
    if (status !== f.status) return false;
  }
  const received = new Date(lead.received_at).getTime();
  if (f.since && received < startOfDay(f.since).getTime()) return false;
  if (f.until && received >= endOfDay(f.until).getTime()) return false;
  return true;
}

/** The lead's state over some deliveries, by the server's order: failed, parked, pending, delivered. */
function worstOf(states: DeliveryRollup[]): DeliveryRollup {
  for (const s of ['failed', 'parked', 'pending', 'delivered'] as const) if (states.includes(s)) return s;
  return 'pending';
}

/** Newest first, ties by id (the API's order). */
export function byNewest(a: LeadSummary, b: LeadSummary): number {
  return b.received_at.localeCompare(a.received_at) || b.id.localeCompare(a.id);
}

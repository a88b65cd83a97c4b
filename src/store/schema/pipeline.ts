// Lead pipeline tables: workspaces, pages, destinations, routes, events, leads and their deliveries.
import type { ColumnType, Generated } from 'kysely';
import type { GeneratedTimestamp, Json, Timestamp } from './columns.js';

type PageStatus = 'active' | 'needs_reauth' | 'disconnected';
type DestinationStatus = 'active' | 'needs_reauth' | 'disabled';
/** `erased`: its Facebook user asked for their data to be deleted before the lead was fetched; it never is. */
export type EventStatus = 'received' | 'fetched' | 'unrouted' | 'test' | 'parked' | 'failed' | 'erased';
type LeadStatus = 'routed' | 'unrouted';
export type DeliveryStatus = 'pending' | 'delivered' | 'dead' | 'parked';
type LeadgenEventSource = 'webhook' | 'reconciliation';

export interface WorkspacesTable {
  id: Generated<string>;
  name: string;
  lead_retention_days: Generated<number>;
  require_mfa: Generated<boolean>;
  created_at: GeneratedTimestamp;
  /** When someone asked for the workspace to be deleted; null: it is not being deleted. */
  deletion_requested_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** When the hard delete may run (the end of the grace period); null: not being deleted. */
  purge_after: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface PagesTable {
  id: Generated<string>;
  workspace_id: string;
  page_id: string;
  name: string | null;
  /** The page token, encrypted; null only when the page is disconnected (its token was deleted). */
  token_envelope: string | null;
  status: Generated<PageStatus>;
  status_reason: string | null;
  /** The app-scoped Facebook user whose login gave the page its token (Connect Facebook); null: a token given by hand, or unknown. */
  connected_fb_user_id: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface DestinationsTable {
  id: Generated<string>;
  workspace_id: string;
  type: string;
  name: string;
  config: Json<Record<string, unknown>>;
  credentials_envelope: string | null;
  status: Generated<DestinationStatus>;
  status_reason: string | null;
  rate_limited_until: Timestamp | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface RoutesTable {
  id: Generated<string>;
  workspace_id: string;
  page_id: string;
  form_id: string | null;
  destination_id: string;
  mapping: Json<unknown> | null;
  filter: Json<unknown> | null;
  is_enabled: Generated<boolean>;
  form_questions: Json<unknown> | null;
  drift: Json<unknown> | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface LeadgenEventsTable {
  id: Generated<number>;
  page_id: string;
  leadgen_id: string;
  form_id: string | null;
  ad_id: string | null;
  adgroup_id: string | null;
  created_time: Timestamp | null;
  workspace_id: string | null;
  status: Generated<EventStatus>;
  status_reason: string | null;
  is_test: Generated<boolean>;
  attempts: Generated<number>;
  last_error: Json<Record<string, unknown>> | null;
  received_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
  /** How the event came: Meta's webhook, or reconciliation found the lead in Meta's list of the form's leads. */
  source: Generated<LeadgenEventSource>;
  /** When reconciliation last saw Meta list this lead (null: never listed yet). */
  listed_at: Timestamp | null;
  /** When the outbox sweep may next queue this event while it is `received` (null: once it is old enough). */
  next_attempt_at: Timestamp | null;
}

export interface LeadsTable {
  id: Generated<string>;
  workspace_id: string;
  event_id: number | null;
  leadgen_id: string;
  page_id: string;
  page_name: string | null;
  form_id: string | null;
  form_name: string | null;
  created_time: Timestamp;
  ad_id: string | null;
  ad_name: string | null;
  adset_id: string | null;
  adset_name: string | null;
  campaign_id: string | null;
  campaign_name: string | null;
  platform: string | null;
  is_organic: boolean;
  is_test: boolean;
  answers_envelope: string | null;
  status: Generated<LeadStatus>;
  status_reason: string | null;
  received_at: Timestamp;
  fetched_at: GeneratedTimestamp;
  erased_at: Timestamp | null;
  /** The key (id) the lead's blind-index rows were made under; null: not indexed (yet). */
  search_kid: ColumnType<string | null, string | null | undefined, string | null>;
  /** Set by a trigger when the status or erasure changes (the lead log's change feed). */
  updated_at: GeneratedTimestamp;
}

export type SearchKind = 'email' | 'phone';

/** The blind index: HMAC-SHA256 (hex) of a lead's normalised email or E.164 phone (src/lead/blind-index.ts). */
export interface LeadSearchTable {
  lead_id: string;
  workspace_id: string;
  kind: SearchKind;
  hash: string;
}

/** What Meta last said about a page (the health page's `?check=true`). */
export interface PageChecksTable {
  page_id: string;
  workspace_id: string;
  checked_at: Timestamp;
  outcome: 'ok' | 'refused' | 'unavailable';
  /** Null when Meta could not be asked, or the token was refused before asking. */
  is_app_installed: boolean | null;
  problem: string | null;
}

export interface DeliveriesTable {
  id: Generated<string>;
  workspace_id: string;
  lead_id: string;
  destination_id: string;
  route_id: string | null;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  external_id: string | null;
  external_url: string | null;
  action: string | null;
  last_error_kind: string | null;
  last_error_reason: string | null;
  last_error_message: string | null;
  connector_state: Json<Record<string, unknown>> | null;
  next_attempt_at: Timestamp | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
  delivered_at: Timestamp | null;
  /** The batch that took this delivery into its CRM call (migration 0015), until `claimed_until`. */
  claimed_by: string | null;
  claimed_until: Timestamp | null;
}

export interface DeliveryAttemptsTable {
  id: Generated<number>;
  workspace_id: string;
  delivery_id: string;
  attempt: number;
  started_at: Timestamp;
  finished_at: Timestamp;
  outcome: 'delivered' | 'retry' | 'rate_limited' | 'auth' | 'dead';
  http_status: number | null;
  error_kind: string | null;
  reason: string | null;
  message: string | null;
  response_body: string | null;
}

export interface FormsTable {
  workspace_id: string;
  form_id: string;
  page_id: string;
  name: string | null;
  questions: Json<unknown> | null;
  fetched_at: GeneratedTimestamp;
}

export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: Date;
}

export interface ConnectorRecentRecordsTable {
  workspace_id: string;
  destination_id: string;
  /** Keyed hash (HMAC-SHA256, hex) of the destination id and a person key. */
  key_hash: string;
  external_id: string;
  created_at: GeneratedTimestamp;
}

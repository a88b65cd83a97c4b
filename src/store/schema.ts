// Row types for Kysely. The migrations in ./migrations are the source of truth; keep these in step.
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, string | undefined, string>;

type PageStatus = 'active' | 'needs_reauth' | 'disconnected';
type DestinationStatus = 'active' | 'needs_reauth' | 'disabled';
export type EventStatus = 'received' | 'fetched' | 'unrouted' | 'test' | 'parked' | 'failed';
type LeadStatus = 'routed' | 'unrouted';
export type DeliveryStatus = 'pending' | 'delivered' | 'dead' | 'parked';
type LeadgenEventSource = 'webhook' | 'reconciliation';

interface WorkspacesTable {
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

interface PagesTable {
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

interface DestinationsTable {
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

interface RoutesTable {
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

interface LeadgenEventsTable {
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
}

interface LeadsTable {
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
interface LeadSearchTable {
  lead_id: string;
  workspace_id: string;
  kind: SearchKind;
  hash: string;
}

/** What Meta last said about a page (the health page's `?check=true`). */
interface PageChecksTable {
  page_id: string;
  workspace_id: string;
  checked_at: Timestamp;
  outcome: 'ok' | 'refused' | 'unavailable';
  /** Null when Meta could not be asked, or the token was refused before asking. */
  is_app_installed: boolean | null;
  problem: string | null;
}

interface DeliveriesTable {
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

interface DeliveryAttemptsTable {
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

interface FormsTable {
  workspace_id: string;
  form_id: string;
  page_id: string;
  name: string | null;
  questions: Json<unknown> | null;
  fetched_at: GeneratedTimestamp;
}

interface LeasesTable {
  name: string;
  holder: string;
  expires_at: Date;
}

interface ConnectorRecentRecordsTable {
  workspace_id: string;
  destination_id: string;
  /** Keyed hash (HMAC-SHA256, hex) of the destination id and a person key. */
  key_hash: string;
  external_id: string;
  created_at: GeneratedTimestamp;
}

interface UsedTokensTable {
  token_hash: string;
  expires_at: Date;
}

export type Role = 'owner' | 'admin' | 'editor' | 'viewer';

interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string | null;
  password_hash: string;
  totp_secret_envelope: string | null;
  totp_enabled_at: Timestamp | null;
  /** The last TOTP time step (30 s periods since the epoch) spent signing in: a code is accepted once. */
  totp_last_step: number | null;
  is_operator: Generated<boolean>;
  failed_sign_ins: Generated<number>;
  locked_until: Timestamp | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

interface UserSessionsTable {
  /** SHA-256 (hex) of the session cookie's value: the cookie itself is never stored. */
  id_hash: string;
  user_id: string;
  csrf_token: string;
  mfa_verified: Generated<boolean>;
  ip: string | null;
  user_agent: string | null;
  created_at: GeneratedTimestamp;
  last_seen_at: GeneratedTimestamp;
  expires_at: Timestamp;
}

interface RecoveryCodesTable {
  id: Generated<number>;
  user_id: string;
  code_hash: string;
  used_at: Timestamp | null;
}

interface MembershipsTable {
  user_id: string;
  workspace_id: string;
  role: Role;
  can_read_answers: Generated<boolean>;
  created_at: GeneratedTimestamp;
}

export type AccountLinkPurpose = 'owner_setup' | 'invitation' | 'password_reset';

interface AccountLinksTable {
  id: Generated<string>;
  token_hash: string;
  purpose: AccountLinkPurpose;
  user_id: string | null;
  workspace_id: string | null;
  email: string | null;
  role: Role | null;
  created_by: string | null;
  created_at: GeneratedTimestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

interface ApiKeysTable {
  id: Generated<string>;
  workspace_id: string;
  name: string;
  role: Exclude<Role, 'owner'>;
  can_read_answers: Generated<boolean>;
  key_hash: string;
  last4: string;
  created_by: string | null;
  created_at: GeneratedTimestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export type ActorType = 'user' | 'api_key' | 'operator' | 'system' | 'anonymous';

interface AuditLogTable {
  id: Generated<number>;
  at: GeneratedTimestamp;
  workspace_id: string | null;
  actor_type: ActorType;
  actor_id: string | null;
  actor_label: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Json<Record<string, unknown>> | null;
}

interface FacebookConnectionsTable {
  id: string;
  workspace_id: string;
  user_id: string;
  /** The person's app-scoped Facebook user id. */
  fb_user_id: string;
  name: string | null;
  /** The long-lived user token, encrypted (additional data `facebook-connection:<id>`). */
  token_envelope: string;
  granted_permissions: ColumnType<string[], string[] | undefined, string[]>;
  declined_permissions: ColumnType<string[], string[] | undefined, string[]>;
  /** When the user token stops working (about 60 days after the login); null: Meta gave no end. */
  expires_at: Timestamp | null;
  created_at: GeneratedTimestamp;
}

/** A Meta test lead made through LeadRelay, and the Facebook user whose Page token made it. */
interface FacebookTestLeadsTable {
  workspace_id: string;
  page_id: string;
  leadgen_id: string;
  fb_user_id: string;
  created_at: GeneratedTimestamp;
}

/** A data-deletion request from Meta: its confirmation code and what was erased (counts, no ids). */
interface MetaDeletionRequestsTable {
  confirmation_code: string;
  /** SHA-256 (hex) of the signed request: the same request sent again gets the same code. */
  request_hash: string;
  received_at: GeneratedTimestamp;
  completed_at: Timestamp | null;
  result: Json<Record<string, number>> | null;
}

interface KeyRotationRunsTable {
  id: Generated<string>;
  key_id: string;
  started_by: string | null;
  started_at: GeneratedTimestamp;
  heartbeat_at: GeneratedTimestamp;
  finished_at: Timestamp | null;
  done: Generated<number>;
  total: Generated<number>;
  result: Json<Record<string, number>> | null;
  error: string | null;
}

/** Per form: how far reconciliation has compared Meta's leads with the recorded ones. */
interface ReconcileCheckpointsTable {
  workspace_id: string;
  form_id: string;
  page_id: string;
  /** Every lead Meta lists as created up to and including this second is recorded; null: no complete run yet. */
  last_time_created: Timestamp | null;
  /** Where the unbroken run of compared time starts (the first run's look-back, or an earlier --since). */
  covered_from: Timestamp | null;
  last_run_at: Timestamp | null;
  /** The stable reason the last run stopped (graph_code_80005, page_needs_reauth); null when it completed. */
  last_error: string | null;
  /** Throttled: the scheduled runs leave the form alone until then (Meta: calling while limited extends the block). */
  retry_after: Timestamp | null;
}

/** Per form and UTC day: how many leads Meta listed as created that day. */
interface ReconcileDaysTable {
  workspace_id: string;
  form_id: string;
  /** `YYYY-MM-DD` (UTC). */
  day: ColumnType<string, string, string>;
  page_id: string;
  meta_count: number;
  updated_at: GeneratedTimestamp;
}

export type DataRequestKind = 'find' | 'export' | 'correct' | 'erase';
export type DataRequestStatus = 'running' | 'done' | 'partial' | 'failed';

/** A data-subject request and its outcome (the receipt). The person is a keyed hash, never their email or phone. */
interface DataRequestsTable {
  id: Generated<string>;
  workspace_id: string;
  kind: DataRequestKind;
  subject_kind: SearchKind;
  subject_hash: string;
  requested_by_type: ActorType;
  requested_by: string | null;
  status: Generated<DataRequestStatus>;
  counts: Json<Record<string, unknown>> | null;
  created_at: GeneratedTimestamp;
  finished_at: Timestamp | null;
}

type ExportJobStatus = 'running' | 'done' | 'failed' | 'expired';

/** A workspace export: its progress, and the archive under DATA_DIR/exports while it is kept. */
interface ExportJobsTable {
  id: Generated<string>;
  workspace_id: string;
  requested_by: string | null;
  status: Generated<ExportJobStatus>;
  done: Generated<number>;
  total: Generated<number>;
  /** The archive's name under DATA_DIR/exports; null until done, and again once deleted. */
  file_name: string | null;
  size_bytes: number | null;
  error: string | null;
  created_at: GeneratedTimestamp;
  heartbeat_at: GeneratedTimestamp;
  finished_at: Timestamp | null;
  expires_at: Timestamp | null;
}

type MonitorStatus = 'ok' | 'warning' | 'problem' | 'unavailable' | 'skipped';

/** Each health monitor's latest finding per workspace and subject (a page id, a destination id, or ''). */
interface MonitorResultsTable {
  workspace_id: string;
  monitor: string;
  subject: string;
  status: MonitorStatus;
  summary: string;
  details: Json<Record<string, unknown>> | null;
  checked_at: Timestamp;
}

export type AlertChannelKind = 'email' | 'slack' | 'teams' | 'webhook';

/** Where a workspace's alerts go; the address and any secret only inside the envelope (`alert-channel:<id>`). */
interface AlertChannelsTable {
  id: Generated<string>;
  workspace_id: string;
  kind: AlertChannelKind;
  name: string;
  settings_envelope: string;
  /** What may be shown: a host and the last characters of the URL, or the mail addresses. */
  target_hint: string;
  created_by: string | null;
  created_at: GeneratedTimestamp;
  last_sent_at: Timestamp | null;
  last_error: string | null;
}

/** One cause (a dead page token, a destination needing re-authorisation, …) while it lasts, and its message schedule. */
interface AlertsTable {
  id: Generated<string>;
  workspace_id: string;
  /** `<cause>:<subject id>` (or the cause alone): at most one open alert per workspace and key. */
  cause_key: string;
  cause: string;
  subject_id: string | null;
  subject_name: string | null;
  title: string;
  detail: string;
  fix: string;
  status: Generated<'open' | 'resolved'>;
  opened_at: Timestamp;
  last_seen_at: Timestamp;
  resolved_at: Timestamp | null;
  resolution: string | null;
  /** Messages sent about it while open (the opening and each reminder). */
  notifications: Generated<number>;
  opened_notified_at: Timestamp | null;
  last_notified_at: Timestamp | null;
  /** While open: when the next reminder is due. */
  next_send_at: Timestamp | null;
  resolved_notified_at: Timestamp | null;
  /** A dispatcher is sending about it until then (another one leaves it alone). */
  claimed_until: Timestamp | null;
}

export type AlertMessageKind = 'opened' | 'reminder' | 'resolved' | 'test';

interface AlertSendsTable {
  id: Generated<number>;
  workspace_id: string;
  /** Null for a test message. */
  alert_id: string | null;
  channel_id: string | null;
  message: AlertMessageKind;
  outcome: 'sent' | 'failed';
  attempts: number;
  error: string | null;
  sent_at: Timestamp;
}

export interface Database {
  workspaces: WorkspacesTable;
  pages: PagesTable;
  destinations: DestinationsTable;
  routes: RoutesTable;
  leadgen_events: LeadgenEventsTable;
  leads: LeadsTable;
  lead_search: LeadSearchTable;
  page_checks: PageChecksTable;
  deliveries: DeliveriesTable;
  delivery_attempts: DeliveryAttemptsTable;
  forms: FormsTable;
  leases: LeasesTable;
  connector_recent_records: ConnectorRecentRecordsTable;
  used_tokens: UsedTokensTable;
  users: UsersTable;
  user_sessions: UserSessionsTable;
  recovery_codes: RecoveryCodesTable;
  memberships: MembershipsTable;
  account_links: AccountLinksTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
  key_rotation_runs: KeyRotationRunsTable;
  facebook_connections: FacebookConnectionsTable;
  reconcile_checkpoints: ReconcileCheckpointsTable;
  reconcile_days: ReconcileDaysTable;
  facebook_test_leads: FacebookTestLeadsTable;
  meta_deletion_requests: MetaDeletionRequestsTable;
  data_requests: DataRequestsTable;
  export_jobs: ExportJobsTable;
  monitor_results: MonitorResultsTable;
  alert_channels: AlertChannelsTable;
  alerts: AlertsTable;
  alert_sends: AlertSendsTable;
}

export type Workspace = Selectable<WorkspacesTable>;
export type Page = Selectable<PagesTable>;
export type PageCheck = Selectable<PageChecksTable>;
export type Destination = Selectable<DestinationsTable>;
export type Route = Selectable<RoutesTable>;
export type LeadgenEvent = Selectable<LeadgenEventsTable>;
export type Lead = Selectable<LeadsTable>;
export type NewLead = Insertable<LeadsTable>;
export type Delivery = Selectable<DeliveriesTable>;
export type DeliveryAttempt = Selectable<DeliveryAttemptsTable>;
export type User = Selectable<UsersTable>;
export type UserSession = Selectable<UserSessionsTable>;
export type Membership = Selectable<MembershipsTable>;
export type AccountLink = Selectable<AccountLinksTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type AuditEntry = Selectable<AuditLogTable>;
export type FacebookConnection = Selectable<FacebookConnectionsTable>;
export type KeyRotationRun = Selectable<KeyRotationRunsTable>;
export type ReconcileCheckpoint = Selectable<ReconcileCheckpointsTable>;
export type DataRequest = Selectable<DataRequestsTable>;
export type ExportJob = Selectable<ExportJobsTable>;
export type MonitorResult = Selectable<MonitorResultsTable>;
export type AlertChannel = Selectable<AlertChannelsTable>;
export type Alert = Selectable<AlertsTable>;
export type AlertSend = Selectable<AlertSendsTable>;

// Row types for Kysely: the Database and the row types here, the table types by domain in ./schema/.
// The migrations in ./migrations are the source of truth; keep these in step.
import type { Insertable, Selectable } from 'kysely';
import type {
  AccountLinksTable,
  ApiKeysTable,
  AuditLogTable,
  FacebookConnectionsTable,
  FacebookTestLeadsTable,
  MembershipsTable,
  RecoveryCodesTable,
  UsedTokensTable,
  UserSessionsTable,
  UsersTable,
} from './schema/accounts.js';
import type {
  AlertChannelsTable,
  AlertSendsTable,
  AlertsTable,
  MonitorResultsTable,
  PageLeadFloorsTable,
  ReconcileCheckpointsTable,
  ReconcileDaysTable,
} from './schema/operations.js';
import type {
  ConnectorRecentRecordsTable,
  DeliveriesTable,
  DeliveryAttemptsTable,
  DestinationsTable,
  FormsTable,
  LeadgenEventsTable,
  LeadSearchTable,
  LeadsTable,
  LeasesTable,
  PageChecksTable,
  PagesTable,
  RoutesTable,
  WorkspacesTable,
} from './schema/pipeline.js';
import type { DataRequestsTable, ExportJobsTable, KeyRotationRunsTable, MetaDeletionRequestsTable } from './schema/privacy.js';

export type { AccountLinkPurpose, ActorType, Role } from './schema/accounts.js';
export type { AlertChannelKind, AlertMessageKind } from './schema/operations.js';
export type { DeliveryStatus, EventStatus, SearchKind } from './schema/pipeline.js';
export type { DataRequestKind, DataRequestStatus } from './schema/privacy.js';

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
  page_lead_floors: PageLeadFloorsTable;
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

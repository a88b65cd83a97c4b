// Background operations' tables: reconciliation with Meta, health monitors and alerts.
import type { ColumnType, Generated } from 'kysely';
import type { GeneratedTimestamp, Json, Timestamp } from './columns.js';

/** Per form: how far reconciliation has compared Meta's leads with the recorded ones. */
export interface ReconcileCheckpointsTable {
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
export interface ReconcileDaysTable {
  workspace_id: string;
  form_id: string;
  /** `YYYY-MM-DD` (UTC). */
  day: ColumnType<string, string, string>;
  page_id: string;
  meta_count: number;
  updated_at: GeneratedTimestamp;
}

/**
 * Per Facebook Page: reconciliation records none of its leads created at or before `not_before`
 * (set when a workspace holding the page was purged). Not a workspace's row: it outlives the purge.
 */
export interface PageLeadFloorsTable {
  page_id: string;
  not_before: Timestamp;
  updated_at: GeneratedTimestamp;
}

type MonitorStatus = 'ok' | 'warning' | 'problem' | 'unavailable' | 'skipped';

/** Each health monitor's latest finding per workspace and subject (a page id, a destination id, or ''). */
export interface MonitorResultsTable {
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
export interface AlertChannelsTable {
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
export interface AlertsTable {
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

export interface AlertSendsTable {
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

// Privacy and data-protection tables: Meta deletion requests, key rotation, data-subject requests, workspace exports.
import type { Generated } from 'kysely';
import type { ActorType } from './accounts.js';
import type { GeneratedTimestamp, Json, Timestamp } from './columns.js';
import type { SearchKind } from './pipeline.js';

/** A data-deletion request from Meta: its confirmation code and what was erased (counts, no ids). */
export interface MetaDeletionRequestsTable {
  confirmation_code: string;
  /** SHA-256 (hex) of the signed request: the same request sent again gets the same code. */
  request_hash: string;
  received_at: GeneratedTimestamp;
  completed_at: Timestamp | null;
  result: Json<Record<string, number>> | null;
}

export interface KeyRotationRunsTable {
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

export type DataRequestKind = 'find' | 'export' | 'correct' | 'erase';
export type DataRequestStatus = 'running' | 'done' | 'partial' | 'failed';

/** A data-subject request and its outcome (the receipt). The person is a keyed hash, never their email or phone. */
export interface DataRequestsTable {
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
export interface ExportJobsTable {
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

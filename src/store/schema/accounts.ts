// Account tables: users, sign-in, memberships, links, API keys, the audit log and Facebook connections.
import type { ColumnType, Generated } from 'kysely';
import type { GeneratedTimestamp, Json, Timestamp } from './columns.js';

export interface UsedTokensTable {
  token_hash: string;
  expires_at: Date;
}

export type Role = 'owner' | 'admin' | 'editor' | 'viewer';

export interface UsersTable {
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

export interface UserSessionsTable {
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

export interface RecoveryCodesTable {
  id: Generated<number>;
  user_id: string;
  code_hash: string;
  used_at: Timestamp | null;
}

export interface MembershipsTable {
  user_id: string;
  workspace_id: string;
  role: Role;
  can_read_answers: Generated<boolean>;
  created_at: GeneratedTimestamp;
}

export type AccountLinkPurpose = 'owner_setup' | 'invitation' | 'password_reset';

export interface AccountLinksTable {
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

export interface ApiKeysTable {
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

export interface AuditLogTable {
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

export interface FacebookConnectionsTable {
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
export interface FacebookTestLeadsTable {
  workspace_id: string;
  page_id: string;
  leadgen_id: string;
  fb_user_id: string;
  created_at: GeneratedTimestamp;
}

// The reads of a workspace export (src/services/workspace-export.ts): every table the workspace
// owns, without the columns that hold secrets (page and Facebook tokens, destination
// credentials, API key hashes, passwords and MFA secrets), the large tables a page at a time.
import type { Db } from './db.js';
import type { Delivery, DeliveryAttempt, Lead } from './schema.js';

/** The tables whose rows an export writes (and counts for its progress). */
const COUNTED_TABLES = ['pages', 'destinations', 'routes', 'forms', 'leads', 'deliveries', 'delivery_attempts', 'leadgen_events', 'audit_log'] as const;

/** How many rows the export will write, for its progress. */
export async function countExportRows(db: Db, workspaceId: string): Promise<number> {
  let total = 0;
  for (const t of COUNTED_TABLES) {
    const r = await db
      .selectFrom(t)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    total += Number(r?.n ?? 0);
  }
  return total;
}

/** The members, as the workspace knows them: account id, email, name, role (never a password or MFA secret). */
export async function listMembersForExport(db: Db, workspaceId: string) {
  return db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['users.id as user_id', 'users.email', 'users.name', 'memberships.role', 'memberships.can_read_answers', 'memberships.created_at'])
    .where('memberships.workspace_id', '=', workspaceId)
    .orderBy('memberships.created_at')
    .execute();
}

/** API keys without their hashes. */
export async function listApiKeysForExport(db: Db, workspaceId: string) {
  return db
    .selectFrom('api_keys')
    .select(['id', 'name', 'role', 'can_read_answers', 'last4', 'created_by', 'created_at', 'last_used_at', 'revoked_at'])
    .where('workspace_id', '=', workspaceId)
    .orderBy('created_at')
    .execute();
}

/** Pages without their tokens. */
export async function listPagesForExport(db: Db, workspaceId: string) {
  return db
    .selectFrom('pages')
    .select(['id', 'page_id', 'name', 'status', 'status_reason', 'created_at', 'updated_at'])
    .where('workspace_id', '=', workspaceId)
    .orderBy('created_at')
    .execute();
}

export async function listPageChecksForExport(db: Db, workspaceId: string) {
  return db.selectFrom('page_checks').selectAll().where('workspace_id', '=', workspaceId).orderBy('page_id').execute();
}

/** Facebook connections without their tokens. */
export async function listFacebookConnectionsForExport(db: Db, workspaceId: string) {
  return db
    .selectFrom('facebook_connections')
    .select(['id', 'user_id', 'fb_user_id', 'name', 'granted_permissions', 'declined_permissions', 'expires_at', 'created_at'])
    .where('workspace_id', '=', workspaceId)
    .orderBy('created_at')
    .execute();
}

/** Destinations without their credentials (their config holds no secret). */
export async function listDestinationsForExport(db: Db, workspaceId: string) {
  return db
    .selectFrom('destinations')
    .select(['id', 'type', 'name', 'config', 'status', 'status_reason', 'rate_limited_until', 'created_at', 'updated_at'])
    .where('workspace_id', '=', workspaceId)
    .orderBy('created_at')
    .execute();
}

export async function listFormsForExport(db: Db, workspaceId: string) {
  return db.selectFrom('forms').selectAll().where('workspace_id', '=', workspaceId).orderBy('form_id').execute();
}

export async function listDataRequestsForExport(db: Db, workspaceId: string) {
  return db.selectFrom('data_requests').selectAll().where('workspace_id', '=', workspaceId).orderBy('created_at').execute();
}

const NO_UUID = '00000000-0000-0000-0000-000000000000';

/** The next page of the workspace's leads, by id. */
export async function pageOfLeads(db: Db, workspaceId: string, after: string | null, limit: number): Promise<Lead[]> {
  return db
    .selectFrom('leads')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '>', after ?? NO_UUID)
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function pageOfDeliveries(db: Db, workspaceId: string, after: string | null, limit: number): Promise<Delivery[]> {
  return db
    .selectFrom('deliveries')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '>', after ?? NO_UUID)
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function pageOfAttempts(db: Db, workspaceId: string, after: number | null, limit: number): Promise<DeliveryAttempt[]> {
  return db
    .selectFrom('delivery_attempts')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '>', after ?? 0)
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function pageOfEvents(db: Db, workspaceId: string, after: number | null, limit: number) {
  return db
    .selectFrom('leadgen_events')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '>', after ?? 0)
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function pageOfAuditEntries(db: Db, workspaceId: string, after: number | null, limit: number) {
  return db
    .selectFrom('audit_log')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '>', after ?? 0)
    .orderBy('id')
    .limit(limit)
    .execute();
}

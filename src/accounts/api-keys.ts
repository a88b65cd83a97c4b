// A workspace's API keys as the API and the CLI show and change them: listing (never the hash or
// the secret, only the last four characters), revoking. Creating is createApiKey in ./store.ts.
import { sql } from 'kysely';
import type { Db } from '../store/db.js';
import type { ApiKey } from '../store/schema.js';
import { isUuid } from '../store/values.js';
import { masked } from './tokens.js';

/** A key's row with the email of the person who created it (null for a key made by a key or an operator). */
export type ApiKeyRow = ApiKey & { created_by_email: string | null };

/** What anyone may see of a key: no hash, no secret. */
export interface ApiKeyView {
  id: string;
  name: string;
  role: ApiKey['role'];
  can_read_answers: boolean;
  last4: string;
  created_by: { user_id: string; email: string | null } | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function viewApiKey(k: ApiKeyRow): ApiKeyView {
  return {
    id: k.id,
    name: k.name,
    role: k.role,
    can_read_answers: k.can_read_answers,
    last4: masked(k.last4),
    created_by: k.created_by ? { user_id: k.created_by, email: k.created_by_email } : null,
    created_at: iso(k.created_at)!,
    last_used_at: iso(k.last_used_at),
    revoked_at: iso(k.revoked_at),
  };
}

const selectKeys = (db: Db) =>
  db.selectFrom('api_keys').leftJoin('users', 'users.id', 'api_keys.created_by').selectAll('api_keys').select('users.email as created_by_email');

/** A workspace's keys, newest first, after the (created_at, id) of `after` when given. */
export async function listApiKeys(db: Db, workspaceId: string, page: { limit: number; after?: { at: string; id: string } }): Promise<ApiKeyRow[]> {
  // Milliseconds, as a cursor carries them (PostgreSQL keeps microseconds).
  const createdMs = sql<Date>`date_trunc('milliseconds', api_keys.created_at)`;
  let q = selectKeys(db).where('api_keys.workspace_id', '=', workspaceId);
  if (page.after) {
    const at = new Date(page.after.at);
    q = q.where(sql<boolean>`(${createdMs}, api_keys.id) < (${at}, ${page.after.id}::uuid)`);
  }
  return q.orderBy(createdMs, 'desc').orderBy('api_keys.id', 'desc').limit(page.limit).execute();
}

/** One key of a workspace; undefined for an id of another workspace, as for an unknown one. */
export async function findWorkspaceApiKey(db: Db, workspaceId: string, id: string): Promise<ApiKeyRow | undefined> {
  if (!isUuid(id)) return undefined;
  return selectKeys(db).where('api_keys.workspace_id', '=', workspaceId).where('api_keys.id', '=', id).executeTakeFirst();
}

/** One key by id in any workspace (the operator's CLI). */
export async function findApiKeyById(db: Db, id: string): Promise<ApiKeyRow | undefined> {
  if (!isUuid(id)) return undefined;
  return selectKeys(db).where('api_keys.id', '=', id).executeTakeFirst();
}

/**
 * Revokes a key (from then on every call with it gets 401). Revoking a revoked key changes
 * nothing and keeps its first revocation time. Undefined when the key is not the workspace's.
 */
export async function revokeApiKey(db: Db, workspaceId: string, id: string): Promise<ApiKeyRow | undefined> {
  if (!isUuid(id)) return undefined;
  await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date() })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
  return findWorkspaceApiKey(db, workspaceId, id);
}

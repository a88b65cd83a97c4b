// The queries of Facebook connections (src/services/facebook/connections.ts): a person's Facebook login in a
// workspace. The token is stored only as a key-ring envelope made by the caller.
import type { Db } from './db.js';
import type { FacebookConnection } from './schema.js';

export interface NewFacebookConnection {
  /** Made by the caller: the envelope's additional data names it. */
  id: string;
  workspaceId: string;
  userId: string;
  fbUserId: string;
  name: string | null;
  tokenEnvelope: string;
  grantedPermissions: string[];
  declinedPermissions: string[];
  expiresAt: Date | null;
}

/**
 * Stores a connection and forgets the person's earlier ones to the same Facebook account in the
 * same workspace (a new login replaces them), in one transaction.
 */
export async function replaceFacebookConnection(db: Db, c: NewFacebookConnection): Promise<FacebookConnection> {
  return db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom('facebook_connections')
      .where('workspace_id', '=', c.workspaceId)
      .where('user_id', '=', c.userId)
      .where('fb_user_id', '=', c.fbUserId)
      .execute();
    return trx
      .insertInto('facebook_connections')
      .values({
        id: c.id,
        workspace_id: c.workspaceId,
        user_id: c.userId,
        fb_user_id: c.fbUserId,
        name: c.name,
        token_envelope: c.tokenEnvelope,
        granted_permissions: c.grantedPermissions,
        declined_permissions: c.declinedPermissions,
        expires_at: c.expiresAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** A connection of this person in this workspace (nobody else's), or undefined. */
export async function findFacebookConnection(db: Db, q: { id: string; workspaceId: string; userId: string }): Promise<FacebookConnection | undefined> {
  return db
    .selectFrom('facebook_connections')
    .selectAll()
    .where('id', '=', q.id)
    .where('workspace_id', '=', q.workspaceId)
    .where('user_id', '=', q.userId)
    .executeTakeFirst();
}

/** This person's connections in this workspace, newest first. */
export async function listFacebookConnections(db: Db, q: { workspaceId: string; userId: string }): Promise<FacebookConnection[]> {
  return db
    .selectFrom('facebook_connections')
    .selectAll()
    .where('workspace_id', '=', q.workspaceId)
    .where('user_id', '=', q.userId)
    .orderBy('created_at', 'desc')
    .execute();
}

/** Records what the person has granted and declined, as Meta last said. */
export async function setFacebookConnectionPermissions(db: Db, id: string, granted: string[], declined: string[]): Promise<void> {
  await db.updateTable('facebook_connections').set({ granted_permissions: granted, declined_permissions: declined }).where('id', '=', id).execute();
}

/** Forgets a connection of this person; true when there was one. */
export async function deleteFacebookConnection(db: Db, q: { id: string; workspaceId: string; userId: string }): Promise<boolean> {
  const r = await db
    .deleteFrom('facebook_connections')
    .where('id', '=', q.id)
    .where('workspace_id', '=', q.workspaceId)
    .where('user_id', '=', q.userId)
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

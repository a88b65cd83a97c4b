// Single-use, expiring links (owner set-up, invitations, password resets): a random token handed
// to one person, stored only as its SHA-256 hash. Using one marks it used in the same statement
// that finds it, so a link works once even when two requests race.
import { sql } from 'kysely';
import type { Db } from '../store/db.js';
import type { AccountLink, AccountLinkPurpose, Role } from '../store/schema.js';
import { newToken, sha256Hex } from './tokens.js';

const LINK_LIFETIME_MS: Record<AccountLinkPurpose, number> = {
  owner_setup: 24 * 3600_000,
  invitation: 7 * 24 * 3600_000,
  password_reset: 3600_000,
};

const PREFIX: Record<AccountLinkPurpose, string> = { owner_setup: 'lrsetup', invitation: 'lrinv', password_reset: 'lrreset' };

/** The page of the web app each link opens. */
const PAGE: Record<AccountLinkPurpose, string> = { owner_setup: 'setup', invitation: 'invitation', password_reset: 'reset-password' };

export const linkUrl = (publicUrl: string, purpose: AccountLinkPurpose, token: string) => `${publicUrl}/${PAGE[purpose]}?token=${encodeURIComponent(token)}`;

export interface NewLink {
  /** Shown once (in the link); only its hash is stored. */
  token: string;
  link: AccountLink;
}

export async function createLink(
  db: Db,
  l: { purpose: AccountLinkPurpose; userId?: string | null; workspaceId?: string | null; email?: string | null; role?: Role | null; createdBy?: string | null },
): Promise<NewLink> {
  const token = newToken(PREFIX[l.purpose]);
  const link = await db
    .insertInto('account_links')
    .values({
      token_hash: sha256Hex(token),
      purpose: l.purpose,
      user_id: l.userId ?? null,
      workspace_id: l.workspaceId ?? null,
      email: l.email ?? null,
      role: l.role ?? null,
      created_by: l.createdBy ?? null,
      expires_at: new Date(Date.now() + LINK_LIFETIME_MS[l.purpose]),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { token, link };
}

/** The link of a token while it is usable (not used, revoked or expired), without using it. */
export async function findLiveLink(db: Db, token: string, purpose: AccountLinkPurpose): Promise<AccountLink | undefined> {
  return db
    .selectFrom('account_links')
    .selectAll()
    .where('token_hash', '=', sha256Hex(token))
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .executeTakeFirst();
}

/** Uses a link: its row when it was usable (and is now used), undefined otherwise. */
export async function useLink(db: Db, token: string, purpose: AccountLinkPurpose): Promise<AccountLink | undefined> {
  return db
    .updateTable('account_links')
    .set({ used_at: new Date() })
    .where('token_hash', '=', sha256Hex(token))
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .returningAll()
    .executeTakeFirst();
}

/** Revokes every usable link of a purpose (for a user, when given): a new reset link replaces older ones. */
export async function revokeLinks(db: Db, purpose: AccountLinkPurpose, userId?: string): Promise<void> {
  let q = db
    .updateTable('account_links')
    .set({ revoked_at: new Date() })
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null);
  if (userId) q = q.where('user_id', '=', userId);
  await q.execute();
}

/** A workspace's invitations, newest first (pending, used, revoked and expired alike). */
export async function listInvitations(db: Db, workspaceId: string): Promise<AccountLink[]> {
  return db
    .selectFrom('account_links')
    .selectAll()
    .where('purpose', '=', 'invitation')
    .where('workspace_id', '=', workspaceId)
    .orderBy('created_at', 'desc')
    .limit(500)
    .execute();
}

/** Revokes a workspace's pending invitations of an address (a new one replaces them). */
export async function revokePendingInvitations(db: Db, workspaceId: string, email: string): Promise<void> {
  await db
    .updateTable('account_links')
    .set({ revoked_at: new Date() })
    .where('purpose', '=', 'invitation')
    .where('workspace_id', '=', workspaceId)
    .where(sql`lower(email)`, '=', email.toLowerCase())
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Revokes a workspace's pending invitation; undefined when there is no such pending one. */
export async function revokeInvitation(db: Db, workspaceId: string, id: string): Promise<AccountLink | undefined> {
  return db
    .updateTable('account_links')
    .set({ revoked_at: new Date() })
    .where('id', '=', id)
    .where('purpose', '=', 'invitation')
    .where('workspace_id', '=', workspaceId)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

export type LinkState = 'pending' | 'used' | 'revoked' | 'expired';

export function linkState(l: AccountLink, now = new Date()): LinkState {
  if (l.used_at) return 'used';
  if (l.revoked_at) return 'revoked';
  return new Date(l.expires_at) <= now ? 'expired' : 'pending';
}

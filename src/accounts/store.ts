// Users, sessions, memberships and API keys in PostgreSQL. Lookups by secret go through the
// secret's SHA-256 hash; the secret itself is never stored.
import { sql } from 'kysely';
import type { Db } from '../store/db.js';
import type { ApiKey, Membership, Role, User, UserSession } from '../store/schema.js';
import { newToken, sha256Hex } from './tokens.js';

export const normaliseEmail = (email: string) => email.trim().toLowerCase();

export async function findUserByEmail(db: Db, email: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where(sql`lower(email)`, '=', normaliseEmail(email)).executeTakeFirst();
}

export async function findUser(db: Db, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertUser(db: Db, u: { email: string; name: string | null; passwordHash: string }): Promise<User> {
  return db
    .insertInto('users')
    .values({ email: normaliseEmail(u.email), name: u.name, password_hash: u.passwordHash })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Changes a user's name and/or password hash (only what is given); returns the user as changed. */
export async function updateUser(db: Db, id: string, u: { name?: string | null; passwordHash?: string }): Promise<User> {
  return db
    .updateTable('users')
    .set({
      ...(u.name !== undefined ? { name: u.name } : {}),
      ...(u.passwordHash !== undefined ? { password_hash: u.passwordHash } : {}),
      updated_at: new Date(),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

// --- sessions ---------------------------------------------------------------------------------

/** How long a session lasts without use, and at most in all. */
const SESSION_IDLE_MS = 12 * 3600_000;
export const SESSION_MAX_MS = 14 * 24 * 3600_000;

export interface NewSession {
  /** The cookie's value: shown to the browser once, stored only as a hash. */
  cookie: string;
  csrfToken: string;
  session: UserSession;
}

export async function createSession(db: Db, s: { userId: string; mfaVerified: boolean; ip: string | null; userAgent: string | null }): Promise<NewSession> {
  const cookie = newToken('lrs');
  const csrfToken = newToken('csrf');
  const session = await db
    .insertInto('user_sessions')
    .values({
      id_hash: sha256Hex(cookie),
      user_id: s.userId,
      csrf_token: csrfToken,
      mfa_verified: s.mfaVerified,
      ip: s.ip,
      user_agent: s.userAgent?.slice(0, 300) ?? null,
      expires_at: new Date(Date.now() + SESSION_MAX_MS),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { cookie, csrfToken, session };
}

/** The live session of a cookie (and marks it used), or undefined when unknown, idle too long or expired. */
export async function touchSession(db: Db, cookie: string): Promise<UserSession | undefined> {
  return db
    .updateTable('user_sessions')
    .set({ last_seen_at: new Date() })
    .where('id_hash', '=', sha256Hex(cookie))
    .where('expires_at', '>', new Date())
    .where('last_seen_at', '>', new Date(Date.now() - SESSION_IDLE_MS))
    .returningAll()
    .executeTakeFirst();
}

export async function deleteSession(db: Db, cookie: string): Promise<void> {
  await db.deleteFrom('user_sessions').where('id_hash', '=', sha256Hex(cookie)).execute();
}

/** Signs a user out everywhere (or everywhere but the session kept). Returns how many ended. */
export async function deleteUserSessions(db: Db, userId: string, keepIdHash?: string): Promise<number> {
  let q = db.deleteFrom('user_sessions').where('user_id', '=', userId);
  if (keepIdHash) q = q.where('id_hash', '!=', keepIdHash);
  const r = await q.executeTakeFirst();
  return Number(r.numDeletedRows);
}

// --- memberships ------------------------------------------------------------------------------

export async function findMembership(db: Db, userId: string, workspaceId: string): Promise<Membership | undefined> {
  return db.selectFrom('memberships').selectAll().where('user_id', '=', userId).where('workspace_id', '=', workspaceId).executeTakeFirst();
}

export async function upsertMembership(db: Db, m: { userId: string; workspaceId: string; role: Role; canReadAnswers?: boolean }): Promise<Membership> {
  return db
    .insertInto('memberships')
    .values({ user_id: m.userId, workspace_id: m.workspaceId, role: m.role, can_read_answers: m.canReadAnswers ?? false })
    .onConflict((oc) => oc.columns(['user_id', 'workspace_id']).doUpdateSet({ role: m.role, can_read_answers: m.canReadAnswers ?? false }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Adds a membership unless the user has one in the workspace already (which keeps its role). */
export async function addMembershipIfAbsent(db: Db, m: { userId: string; workspaceId: string; role: Role }): Promise<void> {
  await db
    .insertInto('memberships')
    .values({ user_id: m.userId, workspace_id: m.workspaceId, role: m.role })
    .onConflict((oc) => oc.columns(['user_id', 'workspace_id']).doNothing())
    .execute();
}

export async function updateMembership(db: Db, m: { userId: string; workspaceId: string; role: Role; canReadAnswers: boolean }): Promise<void> {
  await db
    .updateTable('memberships')
    .set({ role: m.role, can_read_answers: m.canReadAnswers })
    .where('user_id', '=', m.userId)
    .where('workspace_id', '=', m.workspaceId)
    .execute();
}

export async function deleteMembership(db: Db, userId: string, workspaceId: string): Promise<void> {
  await db.deleteFrom('memberships').where('user_id', '=', userId).where('workspace_id', '=', workspaceId).execute();
}

/** The user ids of a workspace's owners, their rows locked until the transaction ends (so the last owner cannot be removed twice at once). */
export async function lockWorkspaceOwners(db: Db, workspaceId: string): Promise<string[]> {
  const owners = await sql<{ user_id: string }>`select user_id from memberships where workspace_id = ${workspaceId} and role = 'owner' for update`.execute(db);
  return owners.rows.map((o) => o.user_id);
}

/** A workspace's members (or the one of `userId`) with their accounts' names, oldest membership first. */
export async function listMembers(db: Db, workspaceId: string, userId?: string) {
  let q = db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select([
      'users.id as user_id',
      'users.email',
      'users.name',
      'users.totp_enabled_at',
      'memberships.role',
      'memberships.can_read_answers',
      'memberships.created_at',
    ])
    .where('memberships.workspace_id', '=', workspaceId);
  if (userId) q = q.where('memberships.user_id', '=', userId);
  return q.orderBy('memberships.created_at').execute();
}

export async function listUserWorkspaces(db: Db, userId: string) {
  return db
    .selectFrom('memberships')
    .innerJoin('workspaces', 'workspaces.id', 'memberships.workspace_id')
    .select([
      'workspaces.id',
      'workspaces.name',
      'workspaces.lead_retention_days',
      'workspaces.require_mfa',
      'workspaces.created_at',
      'memberships.role',
      'memberships.can_read_answers',
    ])
    .where('memberships.user_id', '=', userId)
    .orderBy('workspaces.created_at')
    .execute();
}

// --- API keys ---------------------------------------------------------------------------------

export interface NewApiKey {
  /** The key itself: shown once, stored only as a hash. */
  secret: string;
  key: ApiKey;
}

export async function createApiKey(
  db: Db,
  k: { workspaceId: string; name: string; role: ApiKey['role']; canReadAnswers?: boolean; createdBy: string | null },
): Promise<NewApiKey> {
  const secret = newToken('lrk');
  const key = await db
    .insertInto('api_keys')
    .values({
      workspace_id: k.workspaceId,
      name: k.name,
      role: k.role,
      can_read_answers: k.canReadAnswers ?? false,
      key_hash: sha256Hex(secret),
      last4: secret.slice(-4),
      created_by: k.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { secret, key };
}

/** The live key of a secret (and records its use), or undefined when unknown or revoked. */
export async function useApiKey(db: Db, secret: string): Promise<ApiKey | undefined> {
  return db
    .updateTable('api_keys')
    .set({ last_used_at: new Date() })
    .where('key_hash', '=', sha256Hex(secret))
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

export interface UserSummary {
  id: string;
  email: string;
  name: string | null;
  is_operator: boolean;
  mfa_enabled: boolean;
  /** When the lockout ends, if the account is locked now. */
  locked_until: string | null;
  workspaces: number;
  created_at: string;
}

/** Every user, oldest first, as operators see them (`users list`, GET /installation/users): never hashes or secrets. */
export async function listUserSummaries(db: Db): Promise<UserSummary[]> {
  const rows = await db
    .selectFrom('users')
    .select(['id', 'email', 'name', 'is_operator', 'totp_enabled_at', 'locked_until', 'created_at'])
    .select((eb) => eb.selectFrom('memberships').select(eb.fn.countAll<string>().as('n')).whereRef('memberships.user_id', '=', 'users.id').as('workspaces'))
    .orderBy('created_at')
    .execute();
  const now = new Date();
  return rows.map((u) => ({
    id: u.id,
    email: u.email,
    name: u.name,
    is_operator: u.is_operator,
    mfa_enabled: u.totp_enabled_at !== null,
    locked_until: u.locked_until && new Date(u.locked_until) > now ? new Date(u.locked_until).toISOString() : null,
    workspaces: Number(u.workspaces ?? 0),
    created_at: new Date(u.created_at).toISOString(),
  }));
}

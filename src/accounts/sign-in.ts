// Checking a password with lockout, and creating the first owner. Shared by the API
// (src/api/operations/auth.ts) and the CLI (`leadrelay users`), so both follow the same rules.
import { sql } from 'kysely';
import type { AppConfig } from '../config/env.js';
import type { Db } from '../store/db.js';
import { createWorkspace, listWorkspaces } from '../store/repos.js';
import type { User, Workspace } from '../store/schema.js';
import { decoyHash, hashPassword, verifyPassword } from './passwords.js';
import { findUserByEmail, insertUser, upsertMembership } from './store.js';

export type PasswordCheck =
  | { kind: 'ok'; user: User }
  /** Unknown email or wrong password (told apart only in the audit log). `lockedUntil`: this failure locked the account. */
  | { kind: 'wrong'; user: User | undefined; lockedUntil: Date | null }
  /** The account is locked; the password was not even considered. */
  | { kind: 'locked'; user: User; lockedUntil: Date };

const isLocked = (u: User, now = new Date()) => u.locked_until !== null && new Date(u.locked_until) > now;

/**
 * Verifies an email and password. An unknown email is verified against a decoy hash, so it takes
 * as long as a wrong password; a locked account is verified too (same timing) but refused even
 * when the password is right.
 */
export async function checkPassword(db: Db, config: AppConfig, email: string, password: string): Promise<PasswordCheck> {
  const user = await findUserByEmail(db, email);
  const matches = await verifyPassword(user?.password_hash ?? (await decoyHash()), password);
  if (user && isLocked(user)) return { kind: 'locked', user, lockedUntil: new Date(user.locked_until!) };
  if (user && matches) {
    if (user.failed_sign_ins > 0 || user.locked_until) await clearFailures(db, user.id);
    return { kind: 'ok', user };
  }
  return { kind: 'wrong', user, lockedUntil: user ? await recordFailure(db, config, user.id) : null };
}

/**
 * Counts one failure (a wrong password or second-factor code) against an account; the
 * SIGN_IN_MAX_FAILURES-th in a row locks it for SIGN_IN_LOCKOUT_MINUTES. Returns the lock's end
 * when this failure set it.
 */
export async function recordFailure(db: Db, config: AppConfig, userId: string): Promise<Date | null> {
  const max = config.api.signInMaxFailures;
  const minutes = config.api.signInLockoutMinutes;
  const r = await db
    .updateTable('users')
    .set({
      failed_sign_ins: sql`case when failed_sign_ins + 1 >= ${max} then 0 else failed_sign_ins + 1 end`,
      locked_until: sql`case when failed_sign_ins + 1 >= ${max} then now() + make_interval(mins => ${minutes}) else locked_until end`,
    })
    .where('id', '=', userId)
    .returning(['failed_sign_ins', 'locked_until'])
    .executeTakeFirst();
  return r?.locked_until && r.failed_sign_ins === 0 && new Date(r.locked_until) > new Date() ? new Date(r.locked_until) : null;
}

export async function clearFailures(db: Db, userId: string): Promise<void> {
  await db.updateTable('users').set({ failed_sign_ins: 0, locked_until: null }).where('id', '=', userId).execute();
}

/** Whether anyone can sign in yet: until the first owner is set up, the API answers nothing else. */
export async function hasAnyUser(db: Db): Promise<boolean> {
  const r = await db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  return r !== undefined;
}

export class OwnerExistsError extends Error {
  constructor() {
    super('an owner is set up already: sign in, or ask an owner for an invitation');
    this.name = 'OwnerExistsError';
  }
}

export interface NewOwner {
  user: User;
  /** The workspaces the owner owns: a new one, or those made before (by the CLI) that had no owner. */
  workspaces: Workspace[];
}

/**
 * Creates the first user: an operator, and owner of every workspace that exists (made with the
 * CLI before anyone could sign in) or, when there is none or `workspaceName` is given, of a new
 * one. Refuses with OwnerExistsError once any user exists; serialised, so two set-ups cannot both
 * succeed.
 */
export async function createFirstOwner(
  db: Db,
  o: { email: string; password: string; name?: string | null; workspaceName?: string; retentionDays: number },
): Promise<NewOwner> {
  const passwordHash = await hashPassword(o.password);
  return db.transaction().execute(async (trx) => {
    await sql`lock table users in share row exclusive mode`.execute(trx);
    if (await hasAnyUser(trx)) throw new OwnerExistsError();
    const user = await insertUser(trx, { email: o.email, name: o.name ?? null, passwordHash });
    await trx.updateTable('users').set({ is_operator: true }).where('id', '=', user.id).execute();
    const workspaces = await listWorkspaces(trx);
    if (o.workspaceName || workspaces.length === 0) workspaces.push(await createWorkspace(trx, o.workspaceName ?? 'My workspace', o.retentionDays));
    for (const w of workspaces) await upsertMembership(trx, { userId: user.id, workspaceId: w.id, role: 'owner' });
    await trx.updateTable('account_links').set({ revoked_at: new Date() }).where('purpose', '=', 'owner_setup').where('used_at', 'is', null).execute();
    return { user: { ...user, is_operator: true }, workspaces };
  });
}

// Who may do what: the only place that maps roles to permissions. Every API operation names the
// permission it needs; src/api/mount.ts checks it before the handler runs, for users and keys
// alike, so no handler decides access on its own.
import type { Role } from '../store/schema.js';

export type Permission =
  /** See the workspace, its pages, destinations, routes and mappings (never secrets). */
  | 'config.read'
  /** Change pages, destinations, routes and mappings. */
  | 'config.write'
  /** Read the lead log: metadata and delivery history, never answers. */
  | 'leads.read'
  /** Read a lead's answers (personal data). */
  | 'leads.answers'
  /** Send leads again. */
  | 'leads.replay'
  /** Invite people, change their roles, remove them. */
  | 'members.manage'
  /** Create and revoke API keys. */
  | 'keys.manage'
  /** Read the audit log. */
  | 'audit.read'
  /** Rename the workspace, change its retention and MFA policy. */
  | 'workspace.manage'
  /** Delete the workspace, make someone an owner. */
  | 'workspace.own';

const VIEWER: Permission[] = ['config.read', 'leads.read'];
const EDITOR: Permission[] = [...VIEWER, 'config.write', 'leads.replay', 'leads.answers'];
const ADMIN: Permission[] = [...EDITOR, 'members.manage', 'keys.manage', 'audit.read', 'workspace.manage'];
const OWNER: Permission[] = [...ADMIN, 'workspace.own'];

const BY_ROLE: Record<Role, ReadonlySet<Permission>> = {
  owner: new Set(OWNER),
  admin: new Set(ADMIN),
  editor: new Set(EDITOR),
  viewer: new Set(VIEWER),
};

/** A role in a workspace, with the per-person grant a viewer may have to read answers. */
export interface Grant {
  role: Role;
  canReadAnswers: boolean;
}

export function allows(grant: Grant, permission: Permission): boolean {
  if (permission === 'leads.answers' && grant.canReadAnswers) return true;
  return BY_ROLE[grant.role].has(permission);
}

/** Every permission there is (an owner has them all), in a fixed order. */
export const ALL_PERMISSIONS: readonly [Permission, ...Permission[]] = OWNER as [Permission, ...Permission[]];

/** Every permission a grant carries, in that order: what a client may offer this caller. */
export function permissionsOf(grant: Grant): Permission[] {
  return OWNER.filter((permission) => allows(grant, permission));
}

/**
 * Whether `grant` may hand out `wanted` (an API key it mints): only if every right `wanted`
 * carries is one `grant` has itself, so no caller can mint a key stronger than its own rights.
 */
export function grantIsWithin(wanted: Grant, grant: Grant): boolean {
  return OWNER.every((permission) => !allows(wanted, permission) || allows(grant, permission));
}

/** The roles a grant may hand out: an owner any, an admin up to admin, nobody else any. */
export function mayAssignRole(grant: Grant, role: Role): boolean {
  if (grant.role === 'owner') return true;
  if (grant.role === 'admin') return role !== 'owner';
  return false;
}

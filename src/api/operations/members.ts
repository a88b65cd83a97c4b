// A workspace's members: who is in it with which role. Owners and admins manage them (an admin
// cannot make, change or remove an owner); the last owner stays. Changes take effect on the
// member's next request, since every request reads the membership afresh (src/api/mount.ts).
import { z } from 'zod';
import { createLink, linkUrl, revokeLinks } from '../../accounts/links.js';
import { type Grant, mayAssignRole } from '../../accounts/permissions.js';
import { deleteMembership, findMembership, findUser, listMembers, listUserWorkspaces, lockWorkspaceOwners, updateMembership } from '../../accounts/store.js';
import type { Db } from '../../store/db.js';
import type { Membership, Role } from '../../store/schema.js';
import { defineOperation } from '../operation.js';
import { conflict, forbidden, notFound } from '../problem.js';
import { workspaceIdParams } from './workspaces.js';

const ROLE = z.enum(['owner', 'admin', 'editor', 'viewer']);

const memberSchema = z
  .object({
    user_id: z.uuid(),
    email: z.string(),
    name: z.string().nullable(),
    role: ROLE,
    can_read_answers: z.boolean().meta({ description: 'may read lead answers even as a viewer' }),
    mfa_enabled: z.boolean(),
    joined_at: z.iso.datetime(),
  })
  .meta({ id: 'Member' });

const memberParams = workspaceIdParams.extend({ userId: z.uuid('must be a user id (uuid)') });

async function describeMembers(db: Db, workspaceId: string, userId?: string) {
  return (await listMembers(db, workspaceId, userId)).map((r) => ({
    user_id: r.user_id,
    email: r.email,
    name: r.name,
    role: r.role,
    can_read_answers: r.can_read_answers,
    mfa_enabled: r.totp_enabled_at !== null,
    joined_at: new Date(r.created_at).toISOString(),
  }));
}

/** The target's membership, refused when the caller's role may not touch it. */
async function manageableMembership(db: Db, workspaceId: string, userId: string, grant: Grant): Promise<Membership> {
  const m = await findMembership(db, userId, workspaceId);
  if (!m) throw notFound(`member "${userId}"`);
  if (!mayAssignRole(grant, m.role)) throw forbidden(`your role (${grant.role}) cannot change or remove an ${m.role}`);
  return m;
}

/** Locks the workspace's owner rows and refuses when `userId` is the only owner. */
async function keepAnOwner(db: Db, workspaceId: string, userId: string): Promise<void> {
  const owners = await lockWorkspaceOwners(db, workspaceId);
  if (owners.length <= 1 && owners[0] === userId) throw conflict('a workspace keeps at least one owner: make someone else owner first');
}

export const memberOperations = [
  defineOperation({
    operationId: 'listMembers',
    method: 'get',
    path: '/workspaces/{workspaceId}/members',
    summary: "The workspace's members and their roles",
    tag: 'Members',
    access: { kind: 'workspace', permission: 'members.manage' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the members', schema: z.object({ items: z.array(memberSchema) }) },
    async handler({ app, workspaceId }) {
      return { items: await describeMembers(app.db, workspaceId) };
    },
  }),
  defineOperation({
    operationId: 'updateMember',
    method: 'patch',
    path: '/workspaces/{workspaceId}/members/{userId}',
    summary: "Change a member's role or answer access; takes effect on their next request",
    tag: 'Members',
    access: { kind: 'workspace', permission: 'members.manage' },
    errors: [409],
    params: memberParams,
    body: z.object({ role: ROLE.optional(), can_read_answers: z.boolean().optional() }).strict(),
    response: { status: 200, description: 'the member as changed', schema: memberSchema },
    async handler({ app, workspaceId, grant, params, body, audit }) {
      await app.db.transaction().execute(async (trx) => {
        const m = await manageableMembership(trx, workspaceId, params.userId, grant!);
        if (body.role && !mayAssignRole(grant!, body.role)) throw forbidden(`your role (${grant!.role}) cannot make anyone ${body.role}`);
        if (m.role === 'owner' && body.role && body.role !== 'owner') await keepAnOwner(trx, workspaceId, params.userId);
        await updateMembership(trx, {
          userId: params.userId,
          workspaceId,
          role: body.role ?? m.role,
          canReadAnswers: body.can_read_answers ?? m.can_read_answers,
        });
        audit.details = { from: { role: m.role, can_read_answers: m.can_read_answers }, to: body };
      });
      audit.target = { type: 'user', id: params.userId };
      return (await describeMembers(app.db, workspaceId, params.userId))[0];
    },
  }),
  defineOperation({
    operationId: 'removeMember',
    method: 'delete',
    path: '/workspaces/{workspaceId}/members/{userId}',
    summary: 'Remove a member from the workspace (their account stays)',
    tag: 'Members',
    access: { kind: 'workspace', permission: 'members.manage' },
    errors: [409],
    params: memberParams,
    response: { status: 204, description: 'removed' },
    async handler({ app, workspaceId, grant, params, audit }) {
      await app.db.transaction().execute(async (trx) => {
        const m = await manageableMembership(trx, workspaceId, params.userId, grant!);
        if (m.role === 'owner') await keepAnOwner(trx, workspaceId, params.userId);
        await deleteMembership(trx, params.userId, workspaceId);
        audit.details = { role: m.role };
      });
      audit.target = { type: 'user', id: params.userId };
      return undefined;
    },
  }),
  defineOperation({
    operationId: 'createMemberPasswordResetLink',
    method: 'post',
    path: '/workspaces/{workspaceId}/members/{userId}/password-reset-link',
    summary: 'A single-use password-reset link (valid 1 hour) for a member, to pass on to them',
    description:
      'For servers without SMTP. Allowed only when the caller could manage the member in every workspace the member belongs to (otherwise an admin here could take over an account that owns another workspace); never for an operator.',
    tag: 'Members',
    access: { kind: 'workspace', permission: 'members.manage' },
    params: memberParams,
    response: {
      status: 201,
      description: 'the link, shown once',
      schema: z.object({ link: z.string(), expires_at: z.iso.datetime() }),
    },
    async handler({ app, workspaceId, grant, params, actor, audit }) {
      await manageableMembership(app.db, workspaceId, params.userId, grant!);
      const target = await findUser(app.db, params.userId);
      if (!target) throw notFound(`member "${params.userId}"`);
      if (target.is_operator) throw forbidden('an operator resets their password with the CLI: leadrelay users reset-link');
      for (const m of await listUserWorkspaces(app.db, target.id)) {
        const mine: { role: Role; can_read_answers: boolean } | undefined =
          m.id === workspaceId
            ? { role: grant!.role, can_read_answers: false }
            : actor?.type === 'user'
              ? await findMembership(app.db, actor.user.id, m.id)
              : undefined;
        if (!mine || !['owner', 'admin'].includes(mine.role) || !mayAssignRole({ role: mine.role, canReadAnswers: false }, m.role))
          throw forbidden('this member belongs to a workspace you do not manage: they can reset their password by mail, or an operator with the CLI');
      }
      await revokeLinks(app.db, 'password_reset', target.id);
      const { token, link } = await createLink(app.db, {
        purpose: 'password_reset',
        userId: target.id,
        email: target.email,
        createdBy: actor?.type === 'user' ? actor.user.id : null,
      });
      audit.action = 'passwordReset.linkCreated';
      audit.target = { type: 'user', id: target.id };
      return { link: linkUrl(app.config.publicUrl, 'password_reset', token), expires_at: new Date(link.expires_at).toISOString() };
    },
  }),
];

// Invitations: a single-use link (valid 7 days) that adds one email address to a workspace with a
// role. Mailed when SMTP_URL is set, otherwise returned once to the inviting admin to pass on.
// Accepting creates the account when the address has none (and signs it in), or adds the
// membership to the existing account after its password (or its signed-in session).
import { z } from 'zod';
import { createLink, findLiveLink, linkState, linkUrl, listInvitations, revokeInvitation, revokePendingInvitations, useLink } from '../../accounts/links.js';
import { canSendMail, sendMail } from '../../accounts/mailer.js';
import { errorSummary } from '../../util/error-summary.js';
import { hashPassword, passwordProblem } from '../../accounts/passwords.js';
import { mayAssignRole } from '../../accounts/permissions.js';
import { checkPassword } from '../../accounts/sign-in.js';
import { addMembershipIfAbsent, findMembership, findUserByEmail, insertUser, normaliseEmail } from '../../accounts/store.js';
import { findWorkspace } from '../../store/repos.js';
import type { AccountLink, User } from '../../store/schema.js';
import { defineOperation, Reply } from '../operation.js';
import { ApiProblem, conflict, forbidden, invalidField, notFound } from '../problem.js';
import { emailField, lockedProblem, startSession, userActor, userSchema, userView } from './auth.js';
import { workspaceIdParams } from './workspaces.js';

const ROLE = z.enum(['owner', 'admin', 'editor', 'viewer']);

const invitationSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    role: ROLE,
    state: z.enum(['pending', 'used', 'revoked', 'expired']),
    invited_by: z.uuid().nullable(),
    created_at: z.iso.datetime(),
    expires_at: z.iso.datetime(),
  })
  .meta({ id: 'Invitation' });

const view = (l: AccountLink) => ({
  id: l.id,
  email: l.email ?? '',
  role: l.role ?? 'viewer',
  state: linkState(l),
  invited_by: l.created_by,
  created_at: new Date(l.created_at).toISOString(),
  expires_at: new Date(l.expires_at).toISOString(),
});

const gone = () => notFound('this invitation (it may be used, revoked or expired)');

export const invitationOperations = [
  defineOperation({
    operationId: 'createInvitation',
    method: 'post',
    path: '/workspaces/{workspaceId}/invitations',
    summary: 'Invite someone by email with a role; the link is mailed, or returned once when SMTP is not set up',
    tag: 'Members',
    access: { kind: 'workspace', permission: 'members.manage' },
    errors: [409],
    params: workspaceIdParams,
    body: z.object({ email: emailField, role: ROLE }),
    response: {
      status: 201,
      description: 'the invitation',
      schema: z.object({
        invitation: invitationSchema,
        mailed: z.boolean(),
        link: z.string().nullable().meta({ description: 'the link to pass on (shown only now), when it was not mailed' }),
        mail_problem: z.string().nullable().meta({ description: 'why the mail could not be sent, when SMTP is set up but refused it' }),
      }),
    },
    async handler({ app, workspaceId, grant, actor, body, audit }) {
      if (!mayAssignRole(grant!, body.role)) throw forbidden(`your role (${grant!.role}) cannot invite an ${body.role}`);
      const email = normaliseEmail(body.email);
      const existing = await findUserByEmail(app.db, email);
      if (existing && (await findMembership(app.db, existing.id, workspaceId))) throw conflict('this address belongs to a member already');
      // One pending invitation per address: a new one replaces the old.
      await revokePendingInvitations(app.db, workspaceId, email);
      const { token, link } = await createLink(app.db, {
        purpose: 'invitation',
        workspaceId,
        email,
        role: body.role,
        createdBy: actor?.type === 'user' ? actor.user.id : null,
      });
      const url = linkUrl(app.config.publicUrl, 'invitation', token);
      let mailed = false;
      let mailProblem: string | null = null;
      if (canSendMail(app.config)) {
        const ws = await findWorkspace(app.db, workspaceId);
        // Awaited: when the mail cannot go, the admin gets the link to pass on instead of nobody.
        try {
          await sendMail(app.config, {
            to: email,
            subject: `You are invited to ${ws?.name ?? 'a workspace'} on LeadRelay`,
            text: `You are invited to join the LeadRelay workspace "${ws?.name ?? ''}" as ${body.role}. Open this link within 7 days to accept:\n\n${url}\n`,
          });
          mailed = true;
        } catch (err) {
          mailProblem = `the mail could not be sent (${errorSummary(err).message}); pass the link on yourself`;
          app.logger.warn({ err: errorSummary(err) }, 'could not send an invitation mail');
        }
      }
      audit.target = { type: 'invitation', id: link.id };
      audit.details = { role: body.role, mailed };
      return new Reply(201, { invitation: view(link), mailed, link: mailed ? null : url, mail_problem: mailProblem });
    },
  }),
  defineOperation({
    operationId: 'listInvitations',
    method: 'get',
    path: '/workspaces/{workspaceId}/invitations',
    summary: "The workspace's invitations, newest first (never their links)",
    tag: 'Members',
    access: { kind: 'workspace', permission: 'members.manage' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the invitations', schema: z.object({ items: z.array(invitationSchema) }) },
    async handler({ app, workspaceId }) {
      return { items: (await listInvitations(app.db, workspaceId)).map(view) };
    },
  }),
  defineOperation({
    operationId: 'revokeInvitation',
    method: 'delete',
    path: '/workspaces/{workspaceId}/invitations/{invitationId}',
    summary: 'Revoke a pending invitation; its link stops working',
    tag: 'Members',
    access: { kind: 'workspace', permission: 'members.manage' },
    params: workspaceIdParams.extend({ invitationId: z.uuid('must be an invitation id (uuid)') }),
    response: { status: 204, description: 'revoked' },
    async handler({ app, workspaceId, params }) {
      if (!(await revokeInvitation(app.db, workspaceId, params.invitationId))) throw notFound(`pending invitation "${params.invitationId}"`);
      return undefined;
    },
  }),
  defineOperation({
    operationId: 'acceptInvitation',
    method: 'post',
    path: '/invitations/accept',
    summary: "Accept an invitation with its link's token",
    description:
      'An address without an account: give a password (and a name); the account is created and signed in. An address with one: be signed in as it, or give its password; the membership is added (sign in as usual afterwards).',
    tag: 'Members',
    access: { kind: 'public' },
    rateLimit: 'sign-in',
    errors: [401, 403, 404, 423],
    body: z.object({
      token: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
      password: z.string().max(1024, 'must be at most 1024 characters').optional(),
      name: z.string().trim().max(200, 'must be at most 200 characters').optional(),
    }),
    response: {
      status: 200,
      description: 'a member now',
      schema: z.object({
        workspace_id: z.uuid(),
        role: ROLE,
        user: userSchema,
        signed_in: z.boolean(),
        csrf_token: z.string().nullable().meta({ description: 'when signed_in: the CSRF token of the new session' }),
      }),
    },
    async handler(ctx) {
      const { app, body, audit, actor, ip } = ctx;
      audit.onFailure = true;
      audit.action = 'invitation.accepted';
      const link = await findLiveLink(app.db, body.token, 'invitation');
      if (!link?.email || !link.workspace_id || !link.role) {
        if (ip) await ctx.rateLimits.failSignInIp(ip);
        throw gone();
      }
      audit.workspaceId = link.workspace_id;
      audit.target = { type: 'invitation', id: link.id };
      let user: User | undefined = await findUserByEmail(app.db, link.email);
      let isNew = false;
      const signedInAsInvitee = actor?.type === 'user' && actor.session.mfa_verified && actor.user.email === link.email;
      if (actor?.type === 'user' && !signedInAsInvitee && user && actor.user.id !== user.id)
        throw forbidden('this invitation is for another address: sign out, or sign in as that address');
      if (user && !signedInAsInvitee) {
        if (!body.password) throw invalidField('body.password', 'is required: this address has an account (or sign in as it first)');
        const check = await checkPassword(app.db, app.config, link.email, body.password);
        if (check.kind === 'locked') throw lockedProblem(check.lockedUntil);
        if (check.kind !== 'ok') {
          if (ip) await ctx.rateLimits.failSignInIp(ip);
          if (check.lockedUntil) throw lockedProblem(check.lockedUntil);
          throw new ApiProblem(401, 'Unauthenticated', 'the password is wrong');
        }
      }
      if (!user) {
        if (!body.password) throw invalidField('body.password', 'is required to create your account');
        const problem = passwordProblem(body.password, link.email);
        if (problem) throw invalidField('body.password', problem);
      }
      const passwordHash = !user ? await hashPassword(body.password!) : null;
      const role = await app.db.transaction().execute(async (trx) => {
        if (!(await useLink(trx, body.token, 'invitation'))) throw gone();
        if (!user) {
          user = await insertUser(trx, { email: link.email!, name: body.name || null, passwordHash: passwordHash! });
          isNew = true;
        }
        // An existing member keeps the role they have (an invitation never demotes anyone).
        await addMembershipIfAbsent(trx, { userId: user.id, workspaceId: link.workspace_id!, role: link.role! });
        return (await findMembership(trx, user.id, link.workspace_id!))!.role;
      });
      const invitee = user!;
      audit.actor = userActor(invitee);
      audit.details = { role, new_account: isNew };
      const session = isNew ? await startSession(ctx, invitee, true) : null;
      return { workspace_id: link.workspace_id, role, user: userView(invitee), signed_in: session !== null, csrf_token: session?.csrfToken ?? null };
    },
  }),
];

// Signing in and out: password (argon2id) then, when enrolled, a TOTP or recovery code; the
// session lives in PostgreSQL behind an httpOnly cookie, rotated at sign-in and when the second
// factor completes it. Also the first owner's set-up and password resets by single-use link.
// Failures are audited (never the password or code) and counted per account (lockout) and per IP.
import { z } from 'zod';
import { writeAudit, type AuditActor } from '../../accounts/audit.js';
import { createLink, findLiveLink, linkUrl, revokeLinks, useLink } from '../../accounts/links.js';
import { canSendMail, sendMail } from '../../accounts/mailer.js';
import { hashPassword, PASSWORD_MAX_LENGTH, passwordProblem } from '../../accounts/passwords.js';
import { ALL_PERMISSIONS, permissionsOf } from '../../accounts/permissions.js';
import { checkPassword, clearFailures, createFirstOwner, hasAnyUser, OwnerExistsError, recordFailure } from '../../accounts/sign-in.js';
import {
  createSession,
  deleteSession,
  deleteUserSessions,
  findUser,
  findUserByEmail,
  listUserWorkspaces,
  SESSION_MAX_MS,
  updateUser,
} from '../../accounts/store.js';
import { countUnusedRecoveryCodes, spendRecoveryCode, spendTotpCode } from '../../accounts/totp.js';
import type { App } from '../../app.js';
import type { User } from '../../store/schema.js';
import { errorSummary } from '../../util/error-summary.js';
import { type Actor, defineOperation, type OperationContext, Reply } from '../operation.js';
import { ApiProblem, conflict, invalidField, notFound } from '../problem.js';
import { clearSessionCookie, setSessionCookie } from '../session-cookie.js';

const ROLE = z.enum(['owner', 'admin', 'editor', 'viewer']);

export const userSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string().nullable(),
    mfa_enabled: z.boolean(),
    is_operator: z.boolean().meta({ description: 'may run the CLI in operator mode (the first owner)' }),
    created_at: z.iso.datetime(),
  })
  .meta({ id: 'User' });

export const userView = (u: User) => ({
  id: u.id,
  email: u.email,
  name: u.name,
  mfa_enabled: u.totp_enabled_at !== null,
  is_operator: u.is_operator,
  created_at: new Date(u.created_at).toISOString(),
});

export const membershipSummarySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    role: ROLE,
    can_read_answers: z.boolean(),
    require_mfa: z.boolean(),
    permissions: z
      .array(z.enum(ALL_PERMISSIONS))
      .meta({ description: "what the caller's role allows here (src/accounts/permissions.ts), for a client to offer only that" }),
  })
  .meta({ id: 'MyWorkspace' });

export async function myWorkspaces(app: App, userId: string) {
  const rows = await listUserWorkspaces(app.db, userId);
  return rows.map((w) => ({
    id: w.id,
    name: w.name,
    role: w.role,
    can_read_answers: w.can_read_answers,
    require_mfa: w.require_mfa,
    permissions: permissionsOf({ role: w.role, canReadAnswers: w.can_read_answers }),
  }));
}

const sessionSchema = z
  .object({
    user: userSchema,
    csrf_token: z.string().meta({ description: 'send it as X-CSRF-Token with every change made through this session' }),
    mfa_required: z.boolean().meta({ description: 'true until the TOTP or a recovery code is sent to POST /auth/mfa' }),
  })
  .meta({ id: 'Session' });

export const emailField = z.email('must be an email address').max(320, 'must be at most 320 characters');
const passwordField = z.string().min(1, 'must not be empty').max(PASSWORD_MAX_LENGTH, `must be at most ${PASSWORD_MAX_LENGTH} characters`);
export const newPasswordField = passwordField.meta({ description: 'at least 10 characters, not the email address' });

export const userActor = (u: User): AuditActor => ({ type: 'user', id: u.id, label: u.email });

/** Starts a session: the one the request came with (if any) ends, a new cookie is set. */
export async function startSession(
  ctx: Pick<OperationContext<unknown, unknown, unknown>, 'app' | 'actor' | 'res' | 'ip' | 'userAgent'>,
  user: User,
  mfaVerified: boolean,
) {
  if (ctx.actor?.type === 'user') await deleteSession(ctx.app.db, ctx.actor.cookie);
  const s = await createSession(ctx.app.db, { userId: user.id, mfaVerified, ip: ctx.ip, userAgent: ctx.userAgent });
  setSessionCookie(ctx.res, ctx.app.config, s.cookie, SESSION_MAX_MS);
  return s;
}

const wrongCredentials = () => new ApiProblem(401, 'Unauthenticated', 'the email or password is wrong');

export function lockedProblem(until: Date): ApiProblem {
  const retryAfter = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 1000));
  return new ApiProblem(423, 'Locked', `too many failed attempts: this account is locked for ${Math.ceil(retryAfter / 60)} more minute(s)`, undefined, {
    'Retry-After': String(retryAfter),
  });
}

const sessionUser = (actor: Actor | null) => actor as Extract<Actor, { type: 'user' }>;

/** Mails a link when SMTP is set; a failure is logged (without the link) and does not fail the request. */
function mailLink(app: App, to: string, subject: string, text: string): void {
  sendMail(app.config, { to, subject, text }).catch((err) => app.logger.warn({ err: errorSummary(err) }, `could not send mail: ${subject}`));
}

export const authOperations = [
  defineOperation({
    operationId: 'getSetupStatus',
    method: 'get',
    path: '/auth/setup-status',
    summary: 'Whether the first owner is set up yet (until then only owner set-up answers)',
    description: 'For a sign-in page to offer owner set-up instead. Says nothing else about the server.',
    tag: 'Auth',
    access: { kind: 'public' },
    beforeOwner: true,
    response: { status: 200, description: 'the set-up state', schema: z.object({ owner_exists: z.boolean() }) },
    async handler({ app }) {
      return { owner_exists: await hasAnyUser(app.db) };
    },
  }),
  defineOperation({
    operationId: 'signIn',
    method: 'post',
    path: '/auth/sign-in',
    summary: 'Sign in with email and password; sets the session cookie',
    description:
      'When the account has TOTP enabled, the session starts with mfa_required = true and only POST /auth/mfa, GET /auth/session and sign-out work until a code is sent. ' +
      'SIGN_IN_MAX_FAILURES wrong passwords or codes in a row lock the account for SIGN_IN_LOCKOUT_MINUTES (423, with Retry-After).',
    tag: 'Auth',
    access: { kind: 'public' },
    rateLimit: 'sign-in',
    errors: [401, 423],
    body: z.object({ email: z.string().min(1, 'must not be empty').max(320, 'must be at most 320 characters'), password: passwordField }),
    response: { status: 200, description: 'signed in (or waiting for the second factor)', schema: sessionSchema },
    async handler(ctx) {
      const { app, body, audit, ip } = ctx;
      audit.onFailure = true;
      const r = await checkPassword(app.db, app.config, body.email, body.password);
      if (r.kind !== 'ok') {
        audit.actor = r.user ? userActor(r.user) : { type: 'anonymous', id: null, label: null };
        if (r.kind === 'locked') {
          audit.action = 'signIn.refusedLocked';
          throw lockedProblem(r.lockedUntil);
        }
        if (ip) await ctx.rateLimits.failSignInIp(ip);
        audit.action = 'signIn.failed';
        audit.details = { reason: r.user ? 'wrong_password' : 'unknown_email' };
        if (r.lockedUntil) {
          await writeAudit(app.db, {
            workspaceId: null,
            actor: userActor(r.user!),
            action: 'account.lockedOut',
            target: { type: 'user', id: r.user!.id },
            ip,
            userAgent: ctx.userAgent,
            details: { minutes: app.config.api.signInLockoutMinutes },
          });
          throw lockedProblem(r.lockedUntil);
        }
        throw wrongCredentials();
      }
      const mfaRequired = r.user.totp_enabled_at !== null;
      const s = await startSession(ctx, r.user, !mfaRequired);
      audit.actor = userActor(r.user);
      audit.target = { type: 'user', id: r.user.id };
      audit.details = { mfa_required: mfaRequired };
      return { user: userView(r.user), csrf_token: s.csrfToken, mfa_required: mfaRequired };
    },
  }),
  defineOperation({
    operationId: 'completeMfa',
    method: 'post',
    path: '/auth/mfa',
    summary: 'Finish signing in with a TOTP code or a recovery code; the session is rotated',
    tag: 'Auth',
    access: { kind: 'user', allowPendingMfa: true },
    rateLimit: 'sign-in',
    errors: [401, 409, 423],
    body: z
      .object({
        code: z
          .string()
          .regex(/^\s*\d{6}\s*$/, 'must be the 6 digits your authenticator app shows')
          .optional(),
        recovery_code: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters').optional(),
      })
      .refine((b) => (b.code === undefined) !== (b.recovery_code === undefined), { message: 'send either code or recovery_code', path: ['code'] }),
    response: { status: 200, description: 'signed in', schema: sessionSchema },
    async handler(ctx) {
      const { app, body, audit, ip } = ctx;
      const actor = sessionUser(ctx.actor);
      const user = actor.user;
      if (actor.session.mfa_verified) throw conflict('this session has finished signing in already');
      audit.onFailure = true;
      audit.actor = userActor(user);
      audit.target = { type: 'user', id: user.id };
      const method = body.code !== undefined ? 'totp' : 'recovery_code';
      audit.details = { method };
      if (user.locked_until && new Date(user.locked_until) > new Date()) {
        audit.action = 'signIn.refusedLocked';
        throw lockedProblem(new Date(user.locked_until));
      }
      const ok =
        body.code !== undefined
          ? await spendTotpCode(app.db, app.keyRing, user, body.code.trim())
          : await spendRecoveryCode(app.db, user.id, body.recovery_code!);
      if (!ok) {
        audit.action = 'signIn.mfaFailed';
        if (ip) await ctx.rateLimits.failSignInIp(ip);
        const lockedUntil = await recordFailure(app.db, app.config, user.id);
        if (lockedUntil) {
          await deleteSession(app.db, actor.cookie);
          clearSessionCookie(ctx.res, app.config);
          await writeAudit(app.db, {
            workspaceId: null,
            actor: userActor(user),
            action: 'account.lockedOut',
            target: { type: 'user', id: user.id },
            ip,
            userAgent: ctx.userAgent,
          });
          throw lockedProblem(lockedUntil);
        }
        throw new ApiProblem(
          401,
          'Unauthenticated',
          body.code !== undefined ? 'the code is wrong or was used already' : 'the recovery code is wrong or was used already',
        );
      }
      await clearFailures(app.db, user.id);
      const s = await startSession(ctx, user, true);
      audit.action = 'signIn.mfa';
      if (method === 'recovery_code') audit.details = { method, recovery_codes_left: await countUnusedRecoveryCodes(app.db, user.id) };
      return { user: userView(user), csrf_token: s.csrfToken, mfa_required: false };
    },
  }),
  defineOperation({
    operationId: 'getSession',
    method: 'get',
    path: '/auth/session',
    summary: 'Who is signed in, the CSRF token for changes, and their workspaces',
    tag: 'Auth',
    access: { kind: 'user', allowPendingMfa: true },
    response: {
      status: 200,
      description: 'the session',
      schema: sessionSchema.extend({ workspaces: z.array(membershipSummarySchema).meta({ description: 'empty until the second factor is done' }) }),
    },
    async handler({ app, actor }) {
      const { user, session } = sessionUser(actor);
      return {
        user: userView(user),
        csrf_token: session.csrf_token,
        mfa_required: !session.mfa_verified,
        workspaces: session.mfa_verified ? await myWorkspaces(app, user.id) : [],
      };
    },
  }),
  defineOperation({
    operationId: 'signOut',
    method: 'post',
    path: '/auth/sign-out',
    summary: 'End this session',
    tag: 'Auth',
    access: { kind: 'user', allowPendingMfa: true },
    response: { status: 204, description: 'signed out' },
    async handler({ app, actor, res }) {
      await deleteSession(app.db, sessionUser(actor).cookie);
      clearSessionCookie(res, app.config);
      return undefined;
    },
  }),
  defineOperation({
    operationId: 'signOutEverywhere',
    method: 'post',
    path: '/auth/sign-out-everywhere',
    summary: "End every one of the caller's sessions, this one included",
    tag: 'Auth',
    access: { kind: 'user' },
    response: { status: 204, description: 'signed out everywhere' },
    async handler({ app, actor, res, audit }) {
      const ended = await deleteUserSessions(app.db, sessionUser(actor).user.id);
      clearSessionCookie(res, app.config);
      audit.details = { sessions_ended: ended };
      return undefined;
    },
  }),
  defineOperation({
    operationId: 'requestPasswordReset',
    method: 'post',
    path: '/auth/password-reset',
    summary: 'Mail a password-reset link (valid 1 hour) when the address has an account and SMTP is set up',
    description:
      'Always answers 202, whether or not the address has an account. Without SMTP_URL nothing is sent: an operator prints a link with `leadrelay users reset-link --email …`, or a workspace owner/admin creates one (POST /workspaces/{workspaceId}/members/{userId}/password-reset-link).',
    tag: 'Auth',
    access: { kind: 'public' },
    rateLimit: 'sign-in',
    body: z.object({ email: emailField }),
    response: { status: 202, description: 'accepted', schema: z.object({ detail: z.string() }) },
    async handler({ app, body, audit }) {
      const user = await findUserByEmail(app.db, body.email);
      audit.action = 'passwordReset.requested';
      audit.details = { mailed: Boolean(user && canSendMail(app.config)) };
      if (user) {
        audit.target = { type: 'user', id: user.id };
        if (canSendMail(app.config)) {
          await revokeLinks(app.db, 'password_reset', user.id);
          const { token } = await createLink(app.db, { purpose: 'password_reset', userId: user.id, email: user.email });
          mailLink(
            app,
            user.email,
            'Reset your LeadRelay password',
            `Someone asked to reset the password of your LeadRelay account. If it was you, open this link within an hour:\n\n${linkUrl(app.config.publicUrl, 'password_reset', token)}\n\nIf it was not you, ignore this mail.`,
          );
        }
      }
      return new Reply(202, { detail: 'if the address has an account and mail is set up, a reset link is on its way' });
    },
  }),
  defineOperation({
    operationId: 'completePasswordReset',
    method: 'post',
    path: '/auth/password-reset/complete',
    summary: "Set a new password with a reset link's token; every session of the account ends",
    tag: 'Auth',
    access: { kind: 'public' },
    rateLimit: 'sign-in',
    errors: [404],
    body: z.object({ token: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'), password: newPasswordField }),
    response: { status: 204, description: 'the password is changed; sign in with it' },
    async handler({ app, body, audit }) {
      const live = await findLiveLink(app.db, body.token, 'password_reset');
      const user = live?.user_id ? await findUser(app.db, live.user_id) : undefined;
      if (!live || !user) throw notFound('this reset link (it may be used, revoked or expired)');
      const problem = passwordProblem(body.password, user.email);
      if (problem) throw invalidField('body.password', problem);
      if (!(await useLink(app.db, body.token, 'password_reset'))) throw notFound('this reset link (it may be used, revoked or expired)');
      await updateUser(app.db, user.id, { passwordHash: await hashPassword(body.password) });
      await clearFailures(app.db, user.id);
      const ended = await deleteUserSessions(app.db, user.id);
      audit.action = 'passwordReset.completed';
      audit.actor = userActor(user);
      audit.target = { type: 'user', id: user.id };
      audit.details = { sessions_ended: ended };
      return undefined;
    },
  }),
  defineOperation({
    operationId: 'setUpOwner',
    method: 'post',
    path: '/auth/owner-setup',
    summary: 'Create the first user (owner and operator) with the one-time link printed at start',
    description:
      'Works once, before anyone else: the owner owns every workspace made before (with the CLI), or a new one (workspace_name, default "My workspace"). The caller is signed in.',
    tag: 'Auth',
    access: { kind: 'public' },
    beforeOwner: true,
    rateLimit: 'sign-in',
    errors: [404, 409],
    body: z.object({
      token: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
      email: emailField,
      password: newPasswordField,
      name: z.string().trim().max(200, 'must be at most 200 characters').optional(),
      workspace_name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional(),
    }),
    response: {
      status: 201,
      description: 'the owner, signed in',
      schema: z.object({ user: userSchema, csrf_token: z.string(), workspaces: z.array(membershipSummarySchema) }),
    },
    async handler(ctx) {
      const { app, body, audit, ip } = ctx;
      audit.onFailure = true;
      audit.action = 'ownerSetup';
      const problem = passwordProblem(body.password, body.email);
      if (problem) throw invalidField('body.password', problem);
      if (!(await useLink(app.db, body.token, 'owner_setup'))) {
        if (ip) await ctx.rateLimits.failSignInIp(ip);
        throw notFound('this owner-setup link (it may be used or expired; restart the server for a new one while no owner exists)');
      }
      let owner: Awaited<ReturnType<typeof createFirstOwner>>;
      try {
        owner = await createFirstOwner(app.db, {
          email: body.email,
          password: body.password,
          name: body.name || null,
          workspaceName: body.workspace_name,
          retentionDays: app.config.retention.leadRetentionDays,
        });
      } catch (err) {
        if (err instanceof OwnerExistsError) throw conflict(err.message);
        throw err;
      }
      const s = await startSession(ctx, owner.user, true);
      audit.actor = userActor(owner.user);
      audit.target = { type: 'user', id: owner.user.id };
      audit.workspaceId = owner.workspaces[0]?.id;
      audit.details = { workspaces: owner.workspaces.map((w) => w.id) };
      return new Reply(201, { user: userView(owner.user), csrf_token: s.csrfToken, workspaces: await myWorkspaces(app, owner.user.id) });
    },
  }),
];

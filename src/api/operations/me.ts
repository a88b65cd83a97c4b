// The signed-in person's own account: profile, password, and TOTP enrolment with recovery codes.
// The TOTP secret is shown once (as a URI, a QR code and a manual key) and stored encrypted under
// the key ring; recovery codes are shown once and stored hashed.
import { z } from 'zod';
import { hashPassword, verifyPassword, passwordProblem } from '../../accounts/passwords.js';
import { recordFailure } from '../../accounts/sign-in.js';
import { deleteUserSessions, updateUser } from '../../accounts/store.js';
import {
  countUnusedRecoveryCodes,
  disableTotp,
  enableTotp,
  matchingStep,
  replaceRecoveryCodes,
  setTotpSecret,
  spendTotpCode,
  startTotpEnrolment,
} from '../../accounts/totp.js';
import type { App } from '../../app.js';
import type { User } from '../../store/schema.js';
import { type Actor, defineOperation, Reply } from '../operation.js';
import { conflict, invalidField } from '../problem.js';
import { lockedProblem, membershipSummarySchema, myWorkspaces, newPasswordField, userSchema, userView } from './auth.js';

const me = (actor: Actor | null) => actor as Extract<Actor, { type: 'user' }>;

const codeField = z.string().regex(/^\s*\d{6}\s*$/, 'must be the 6 digits your authenticator app shows');
const recoveryCodesSchema = z.object({
  recovery_codes: z.array(z.string()).meta({ description: 'each works once in place of a TOTP code; shown only now, so keep them safe' }),
});

/** Counts a wrong password or code towards lockout, and says so (423) when it locked the account. */
async function refuse(app: App, user: User, field: string, message: string): Promise<never> {
  const lockedUntil = await recordFailure(app.db, app.config, user.id);
  if (lockedUntil) {
    await deleteUserSessions(app.db, user.id);
    throw lockedProblem(lockedUntil);
  }
  throw invalidField(field, message);
}

/** Goes on when `password` is the user's; refuses it otherwise (see refuse). */
async function requirePassword(app: App, user: User, password: string, field: string): Promise<void> {
  if (!(await verifyPassword(user.password_hash, password))) await refuse(app, user, field, 'is wrong');
}

/** Goes on when `code` (body.code) is a current TOTP code of the user's, which it spends; refuses it otherwise (see refuse). */
async function requireTotpCode(app: App, user: User, code: string): Promise<void> {
  if (!(await spendTotpCode(app.db, app.keyRing, user, code.trim()))) await refuse(app, user, 'body.code', 'is wrong or was used already');
}

export const meOperations = [
  defineOperation({
    operationId: 'getMe',
    method: 'get',
    path: '/me',
    summary: 'The signed-in person, their workspaces and how many recovery codes are left',
    tag: 'Me',
    access: { kind: 'user' },
    response: {
      status: 200,
      description: 'the account',
      schema: userSchema.extend({ workspaces: z.array(membershipSummarySchema), recovery_codes_left: z.number().int() }),
    },
    async handler({ app, actor }) {
      const { user } = me(actor);
      return { ...userView(user), workspaces: await myWorkspaces(app, user.id), recovery_codes_left: await countUnusedRecoveryCodes(app.db, user.id) };
    },
  }),
  defineOperation({
    operationId: 'updateMe',
    method: 'patch',
    path: '/me',
    summary: 'Change your name or password (a new password needs the current one and ends your other sessions)',
    tag: 'Me',
    access: { kind: 'user' },
    errors: [423],
    body: z
      .object({
        name: z.string().trim().max(200, 'must be at most 200 characters').nullable().optional(),
        current_password: z.string().max(1024, 'must be at most 1024 characters').optional(),
        new_password: newPasswordField.optional(),
      })
      .strict(),
    response: { status: 200, description: 'the account as changed', schema: userSchema },
    async handler({ app, actor, body, audit }) {
      const { user, session } = me(actor);
      const change: { name?: string | null; passwordHash?: string } = {};
      if (body.name !== undefined) change.name = body.name || null;
      if (body.new_password !== undefined) {
        if (!body.current_password) throw invalidField('body.current_password', 'is required to change the password');
        const problem = passwordProblem(body.new_password, user.email);
        if (problem) throw invalidField('body.new_password', problem);
        await requirePassword(app, user, body.current_password, 'body.current_password');
        change.passwordHash = await hashPassword(body.new_password);
      }
      const updated = await updateUser(app.db, user.id, change);
      audit.target = { type: 'user', id: user.id };
      audit.details = { changed: Object.keys(body).filter((k) => k !== 'current_password' && body[k as keyof typeof body] !== undefined) };
      if (change.passwordHash) audit.details.other_sessions_ended = await deleteUserSessions(app.db, user.id, session.id_hash);
      return userView(updated);
    },
  }),
  defineOperation({
    operationId: 'startTotpEnrolment',
    method: 'post',
    path: '/me/mfa/totp',
    summary: 'Start TOTP enrolment: a QR code and a manual key for an authenticator app',
    description: 'Nothing changes at sign-in until POST /me/mfa/totp/confirm with a code from the app. Starting again replaces an unconfirmed secret.',
    tag: 'Me',
    access: { kind: 'user' },
    errors: [409],
    response: {
      status: 201,
      description: 'the secret, shown once',
      schema: z.object({
        otpauth_uri: z.string(),
        qr_code: z.string().meta({ description: 'the otpauth URI as a QR code: a data: URL of a PNG' }),
        manual_key: z.string().meta({ description: 'the secret in base32, to type in by hand' }),
      }),
    },
    async handler({ app, actor, audit }) {
      const { user } = me(actor);
      if (user.totp_enabled_at) throw conflict('TOTP is enabled already: turn it off first (DELETE /me/mfa/totp) to enrol a new device');
      const e = await startTotpEnrolment(app.keyRing, user);
      await setTotpSecret(app.db, user.id, e.envelope);
      audit.target = { type: 'user', id: user.id };
      return new Reply(201, { otpauth_uri: e.uri, qr_code: e.qrCode, manual_key: e.manualKey });
    },
  }),
  defineOperation({
    operationId: 'confirmTotpEnrolment',
    method: 'post',
    path: '/me/mfa/totp/confirm',
    summary: 'Turn TOTP on with a code from the app; returns 10 recovery codes, once. Your other sessions end.',
    tag: 'Me',
    access: { kind: 'user' },
    errors: [409],
    body: z.object({ code: codeField }),
    response: { status: 200, description: 'TOTP is on', schema: recoveryCodesSchema },
    async handler({ app, actor, body, audit }) {
      const { user, session } = me(actor);
      if (user.totp_enabled_at) throw conflict('TOTP is enabled already');
      if (!user.totp_secret_envelope) throw conflict('start enrolment first (POST /me/mfa/totp)');
      const step = matchingStep(app.keyRing, user, body.code.trim());
      if (step === null) throw invalidField('body.code', 'is not the current code of the enrolled secret (check the phone clock)');
      if (!(await enableTotp(app.db, user.id, step))) throw conflict('TOTP is enabled already');
      const codes = await replaceRecoveryCodes(app.db, user.id);
      audit.target = { type: 'user', id: user.id };
      audit.details = { other_sessions_ended: await deleteUserSessions(app.db, user.id, session.id_hash) };
      return { recovery_codes: codes };
    },
  }),
  defineOperation({
    operationId: 'disableTotp',
    method: 'delete',
    path: '/me/mfa/totp',
    summary: 'Turn TOTP off, with a current code or your password',
    description: 'Workspaces that require MFA refuse you until you enrol again.',
    tag: 'Me',
    access: { kind: 'user' },
    errors: [409, 423],
    body: z
      .object({ code: codeField.optional(), password: z.string().max(1024, 'must be at most 1024 characters').optional() })
      .refine((b) => b.code !== undefined || b.password !== undefined, { message: 'send a current code or your password', path: ['code'] }),
    response: { status: 204, description: 'TOTP is off; the recovery codes are gone' },
    async handler({ app, actor, body, audit }) {
      const { user } = me(actor);
      if (!user.totp_enabled_at) throw conflict('TOTP is not enabled');
      if (body.code !== undefined) await requireTotpCode(app, user, body.code);
      else await requirePassword(app, user, body.password!, 'body.password');
      await disableTotp(app.db, user.id);
      audit.target = { type: 'user', id: user.id };
      audit.details = { confirmed_with: body.code !== undefined ? 'totp' : 'password' };
      return undefined;
    },
  }),
  defineOperation({
    operationId: 'regenerateRecoveryCodes',
    method: 'post',
    path: '/me/mfa/recovery-codes',
    summary: 'Replace your recovery codes (needs a current TOTP code); the old ones stop working',
    tag: 'Me',
    access: { kind: 'user' },
    errors: [409, 423],
    body: z.object({ code: codeField }),
    response: { status: 200, description: 'the new codes, shown once', schema: recoveryCodesSchema },
    async handler({ app, actor, body, audit }) {
      const { user } = me(actor);
      if (!user.totp_enabled_at) throw conflict('TOTP is not enabled');
      await requireTotpCode(app, user, body.code);
      audit.target = { type: 'user', id: user.id };
      return { recovery_codes: await replaceRecoveryCodes(app.db, user.id) };
    },
  }),
];

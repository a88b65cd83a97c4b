// TOTP (RFC 6238) second factor through `otpauth`: 6 digits, 30-second steps, SHA-1 (what every
// authenticator app supports). The secret is stored only as a key-ring envelope bound to its user;
// a code is accepted once (users.totp_last_step), and recovery codes are stored as SHA-256 hashes.
import { randomInt } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import type { KeyRing } from '../crypto/key-ring.js';
import type { Db } from '../store/db.js';
import type { User } from '../store/schema.js';
import { sha256Hex } from './tokens.js';

const PERIOD_S = 30;
/** Codes one step either side of now are accepted (clock drift between phone and server). */
const WINDOW = 1;
const RECOVERY_CODE_COUNT = 10;

/** The additional data binding a user's TOTP envelope to that user. */
export const totpAad = (userId: string) => `totp:${userId}`;

const totpOf = (secretBase32: string, label: string) =>
  new TOTP({ issuer: 'LeadRelay', label, algorithm: 'SHA1', digits: 6, period: PERIOD_S, secret: Secret.fromBase32(secretBase32) });

export interface TotpEnrolment {
  /** The otpauth:// URI an authenticator app reads. */
  uri: string;
  /** The same URI as a QR code (a data: URL of a PNG). */
  qrCode: string;
  /** The secret in base32, for typing in by hand. */
  manualKey: string;
  /** What to store: the secret encrypted under the key ring. */
  envelope: string;
}

export async function startTotpEnrolment(keyRing: KeyRing, user: Pick<User, 'id' | 'email'>): Promise<TotpEnrolment> {
  const manualKey = new Secret({ size: 20 }).base32;
  const uri = totpOf(manualKey, user.email).toString();
  const qrCode = await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 240 });
  return { uri, qrCode, manualKey, envelope: keyRing.encrypt(manualKey, totpAad(user.id)) };
}

/** The time step a code matches (now ± WINDOW), or null when it matches none. */
export function matchingStep(keyRing: KeyRing, user: Pick<User, 'id' | 'email' | 'totp_secret_envelope'>, code: string, now = Date.now()): number | null {
  if (!user.totp_secret_envelope || !/^\d{6}$/.test(code)) return null;
  const totp = totpOf(keyRing.decrypt(user.totp_secret_envelope, totpAad(user.id)), user.email);
  const delta = totp.validate({ token: code, timestamp: now, window: WINDOW });
  return delta === null ? null : Math.floor(now / 1000 / PERIOD_S) + delta;
}

/** Stores a new, not yet confirmed secret (replacing an unconfirmed one). */
export async function setTotpSecret(db: Db, userId: string, envelope: string): Promise<void> {
  await db.updateTable('users').set({ totp_secret_envelope: envelope, updated_at: new Date() }).where('id', '=', userId).execute();
}

/** Turns TOTP on, the confirming code's step spent; false when it was on already (a racing confirmation won). */
export async function enableTotp(db: Db, userId: string, step: number): Promise<boolean> {
  const enabled = await db
    .updateTable('users')
    .set({ totp_enabled_at: new Date(), totp_last_step: step, updated_at: new Date() })
    .where('id', '=', userId)
    .where('totp_enabled_at', 'is', null)
    .executeTakeFirst();
  return Number(enabled.numUpdatedRows) === 1;
}

/** Turns TOTP off: the secret and every recovery code go. */
export async function disableTotp(db: Db, userId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('users')
      .set({ totp_secret_envelope: null, totp_enabled_at: null, totp_last_step: null, updated_at: new Date() })
      .where('id', '=', userId)
      .execute();
    await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  });
}

/**
 * Accepts a code once: true when it matches a step later than the last one spent, which it then
 * records (atomically, so two requests racing with one code cannot both pass).
 */
export async function spendTotpCode(db: Db, keyRing: KeyRing, user: User, code: string): Promise<boolean> {
  const step = matchingStep(keyRing, user, code);
  if (step === null) return false;
  const spent = await db
    .updateTable('users')
    .set({ totp_last_step: step })
    .where('id', '=', user.id)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .executeTakeFirst();
  return Number(spent.numUpdatedRows) === 1;
}

// Recovery codes: 12 characters from an alphabet without look-alikes (~60 bits), shown as xxxx-xxxx-xxxx.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

function newRecoveryCode(): string {
  let s = '';
  for (let i = 0; i < 12; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8)}`;
}

/** The form a recovery code is hashed in: lower case, without separators or spaces. */
const recoveryHash = (code: string) => sha256Hex(code.toLowerCase().replace(/[^a-z0-9]/g, ''));

/** Replaces a user's recovery codes with new ones; returns them (to show once). */
export async function replaceRecoveryCodes(db: Db, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    await trx
      .insertInto('recovery_codes')
      .values(codes.map((c) => ({ user_id: userId, code_hash: recoveryHash(c) })))
      .execute();
  });
  return codes;
}

/** Spends one unused recovery code; false when it is unknown or used already. */
export async function spendRecoveryCode(db: Db, userId: string, code: string): Promise<boolean> {
  const r = await db
    .updateTable('recovery_codes')
    .set({ used_at: new Date() })
    .where('user_id', '=', userId)
    .where('code_hash', '=', recoveryHash(code))
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function countUnusedRecoveryCodes(db: Db, userId: string): Promise<number> {
  const r = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

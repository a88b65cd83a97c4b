// The blind index of a lead's email addresses and phone numbers: a keyed hash (HMAC-SHA256) of
// each normalised value, so the lead log can find a person's leads without decrypting anyone's
// answers, and whoever reads the table learns nothing from it without the key.
// - Email: trimmed and lower-cased (`' Foo@Example.COM '` → `foo@example.com`).
// - Phone: E.164 with libphonenumber-js. A number written without `+` is read as if the `+` were
//   there (`14155550100` → `+14155550100`), the same way for stored answers and for searches,
//   so a number is found however it is spaced or bracketed, as long as it carries its country code.
// The workspace id is part of the hashed text: the same person in two workspaces gives two
// unrelated hashes, so the table cannot link tenants' leads.
import { createHmac } from 'node:crypto';
import type { SearchKind } from '../store/schema.js';
import { readPhoneNumber } from './phone-numbers.js';

/** The key ring purpose the index key is derived for (KeyRing.deriveKey). */
export const SEARCH_KEY_PURPOSE = 'lead-search';

export interface SearchTerm {
  kind: SearchKind;
  /** Normalised: a lower-case email, or an E.164 phone number. */
  value: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** What a phone number is written with (digits, +, spaces, brackets, dots, dashes, slashes). */
const PHONE_CHARACTERS = /^[+\d\s().\-/]+$/;
// Meta's phone question types (meta-lead-ads.md §6) and, for forms read as CUSTOM, the keys.
const PHONE_TYPES = new Set(['PHONE', 'WORK_PHONE_NUMBER', 'PHONE_OTP', 'WHATSAPP_NUMBER', 'MOBILE_PHONE']);
const PHONE_KEY = /phone|mobile|whatsapp|cell/i;

export function normaliseEmail(raw: string): string | null {
  const value = raw.trim().toLowerCase();
  return value.length <= 320 && EMAIL.test(value) ? value : null;
}

export function normalisePhone(raw: string): string | null {
  const text = raw.trim();
  if (text.length > 40 || !PHONE_CHARACTERS.test(text)) return null;
  const digits = text.replace(/\D/g, '');
  if (digits.length < 6) return null;
  // International prefix 00 (most of the world) means +.
  const international = text.startsWith('+') ? `+${digits}` : text.startsWith('00') ? `+${digits.slice(2)}` : `+${digits}`;
  const phone = readPhoneNumber(international);
  return phone?.isPossible ? phone.number : null;
}

/** What a search box's text is: an email, a phone number, or (null) neither. */
export function parseSearchQuery(q: string): SearchTerm | null {
  if (q.includes('@')) {
    const email = normaliseEmail(q);
    return email ? { kind: 'email', value: email } : null;
  }
  const phone = normalisePhone(q);
  return phone ? { kind: 'phone', value: phone } : null;
}

const isPhoneQuestion = (key: string, type: string | undefined) => (type !== undefined && PHONE_TYPES.has(type.toUpperCase())) || PHONE_KEY.test(key);

/**
 * The emails (any answer that is one) and phone numbers (answers to phone questions, by type or
 * by key) of a lead, normalised, each once.
 */
export function searchTermsOf(answers: { key: string; values: unknown[] }[], questionTypes: ReadonlyMap<string, string> = new Map()): SearchTerm[] {
  const seen = new Map<string, SearchTerm>();
  for (const a of answers)
    for (const v of a.values) {
      if (typeof v !== 'string') continue;
      const email = normaliseEmail(v);
      const phone = email === null && isPhoneQuestion(a.key, questionTypes.get(a.key)) ? normalisePhone(v) : null;
      const term: SearchTerm | null = email ? { kind: 'email', value: email } : phone ? { kind: 'phone', value: phone } : null;
      if (term) seen.set(`${term.kind}:${term.value}`, term);
    }
  return [...seen.values()];
}

/** The index entry of one term in one workspace, under one key (KeyRing.deriveKey(SEARCH_KEY_PURPOSE, kid)). */
export function hashSearchTerm(key: Buffer, workspaceId: string, term: SearchTerm): string {
  return createHmac('sha256', key).update(`${workspaceId}\n${term.kind}\n${term.value}`, 'utf8').digest('hex');
}

// A CRM's own words about a lead ("Contact already exists: jane@example.com") are shown in the
// lead log, but the log never shows answers: these take lead data out of such text first.
import { normalisePhone } from './blind-index.js';

const REDACTED = '[redacted]';
const EMAIL_IN_TEXT = /[^\s@<>()[\]"'`,;:]+@[^\s@<>()[\]"'`,;:]+\.[A-Za-z]{2,}/g;

/** Every email address in the text, replaced (for messages shown without their lead's answers at hand). */
export function redactEmails(text: string | null): string | null {
  return text === null ? null : text.replace(EMAIL_IN_TEXT, REDACTED);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The text without any of the lead's answer values where they stand as words (case-insensitive;
 * phone numbers also in their E.164 and digits-only forms) and without any email address. Values shorter than 3 characters
 * (yes/no, a 1-5 rating) are left: they say nothing about the person and would blank the text.
 */
export function redactAnswerValues(text: string | null, values: readonly string[]): string | null {
  if (text === null) return null;
  const needles = new Set<string>();
  for (const raw of values) {
    const v = raw.trim();
    if (v.length >= 3) needles.add(v);
    const phone = normalisePhone(v);
    if (phone) {
      needles.add(phone);
      needles.add(phone.slice(1));
    }
  }
  let out = text;
  // Longest first, so a value containing another is replaced whole; only where it stands on its
  // own (not "yes" inside "yesterday").
  for (const n of [...needles].sort((a, b) => b.length - a.length))
    out = out.replace(new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(n)}(?![\\p{L}\\p{N}])`, 'giu'), REDACTED);
  return redactEmails(out);
}

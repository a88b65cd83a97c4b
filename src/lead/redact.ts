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

/** Any UTF-16 code unit outside ASCII (surrogate halves included). */
const NON_ASCII = /[\u0080-\uffff]/;
/**
 * The only characters outside ASCII that a case-insensitive Unicode expression (`iu`, simple
 * case folding) takes for an ASCII letter: LATIN SMALL LETTER LONG S (s) and KELVIN SIGN (k).
 * Found by trying every code point against every ASCII character.
 */
const FOLDS_TO_ASCII: Readonly<Record<string, string>> = { '\u017f': 's', '\u212a': 'k' };

/**
 * Whether `needle` can occur in `text` under the `iu` flags, decided without compiling an
 * expression. Sound (never false where the expression would find it): for ASCII-only text it
 * compares lower-cased strings, with the two non-ASCII letters that fold into ASCII mapped first
 * (any other non-ASCII character of the needle cannot match ASCII text); for other text it says
 * yes, and the expression decides.
 */
function mayOccur(asciiLowerText: string | undefined, needle: string): boolean {
  if (asciiLowerText === undefined) return true;
  let folded = '';
  for (const ch of needle) {
    const c = FOLDS_TO_ASCII[ch] ?? ch;
    if (NON_ASCII.test(c)) return false;
    folded += c;
  }
  return asciiLowerText.includes(folded.toLowerCase());
}

/** The text lower-cased when it is ASCII only (undefined otherwise): what `mayOccur` compares against. */
const asciiLowerOf = (text: string): string | undefined => (NON_ASCII.test(text) ? undefined : text.toLowerCase());

/**
 * The text without any of the lead's answer values where they stand as words (case-insensitive;
 * phone numbers also in their E.164 and digits-only forms) and without any email address. Values shorter than 3 characters
 * (yes/no, a 1-5 rating) are left: they say nothing about the person and would blank the text.
 *
 * An expression is compiled only for a value the text can hold (compiling one with Unicode
 * property classes costs about half a millisecond, and a CRM's success answer seldom quotes a
 * value); the result is the same as trying every value.
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
  let asciiLower = asciiLowerOf(out);
  // Longest first, so a value containing another is replaced whole; only where it stands on its
  // own (not "yes" inside "yesterday").
  for (const n of [...needles].sort((a, b) => b.length - a.length)) {
    if (!mayOccur(asciiLower, n)) continue;
    const replaced = out.replace(new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(n)}(?![\\p{L}\\p{N}])`, 'giu'), REDACTED);
    if (replaced !== out) {
      out = replaced;
      asciiLower = asciiLowerOf(out);
    }
  }
  return redactEmails(out);
}

// A CRM's own words about a lead ("Contact already exists: jane@example.com") are shown in the
// lead log, but the log never shows answers: these take lead data out of such text first.
import { normalisePhone } from './blind-index.js';

const REDACTED = '[redacted]';
const SIX_DIGITS = /\d{6}/;
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
 * The needle as it matches ASCII text under the `iu` flags, lower-cased: the two non-ASCII
 * letters that fold into ASCII mapped first; undefined when some other non-ASCII character
 * makes it unable to match ASCII text at all.
 */
function asciiNeedleOf(needle: string): string | undefined {
  let folded = '';
  for (const ch of needle) {
    const c = FOLDS_TO_ASCII[ch] ?? ch;
    if (NON_ASCII.test(c)) return undefined;
    folded += c;
  }
  return folded.toLowerCase();
}

/** The text lower-cased when it is ASCII only (undefined otherwise). */
const asciiLowerOf = (text: string): string | undefined => (NON_ASCII.test(text) ? undefined : text.toLowerCase());

/** An ASCII letter or digit: in ASCII text, what `[\p{L}\p{N}]` matches. */
const isAsciiWordChar = (code: number) => (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);

/**
 * In ASCII text, what `text.replace(/(?<![\p{L}\p{N}])needle(?![\p{L}\p{N}])/giu, REDACTED)`
 * gives, found without compiling an expression: `lower` is the text lower-cased, `needle` the
 * lower-cased ASCII needle (asciiNeedleOf). Left to right, as the expression matches: a place
 * that is not a whole word moves on by one character, a match continues after itself.
 */
function replaceInAscii(text: string, lower: string, needle: string): string {
  let out = '';
  let copied = 0;
  let from = 0;
  for (;;) {
    const at = lower.indexOf(needle, from);
    if (at < 0) break;
    const end = at + needle.length;
    if ((at > 0 && isAsciiWordChar(lower.charCodeAt(at - 1))) || (end < lower.length && isAsciiWordChar(lower.charCodeAt(end)))) {
      from = at + 1;
      continue;
    }
    out += text.slice(copied, at) + REDACTED;
    copied = end;
    from = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * The text without any of the lead's answer values where they stand as words (case-insensitive;
 * phone numbers also in their E.164 and digits-only forms) and without any email address. Values shorter than 3 characters
 * (yes/no, a 1-5 rating) are left: they say nothing about the person and would blank the text.
 *
 * ASCII text (nearly every CRM answer) is searched without any expression: compiling one with
 * Unicode property classes costs about half a millisecond, and a CRM's answer often quotes the
 * values sent (HubSpot's batch answer holds each contact's properties). Other text gets one
 * expression per value. Either way, the result is that of the expression for every value.
 */
export function redactAnswerValues(text: string | null, values: readonly string[]): string | null {
  if (text === null) return null;
  // A phone number's other forms are digits (after a +): text without six digits in a row holds
  // neither, and parsing numbers is the costly part, so they are only worked out when it could.
  const mayHoldPhone = SIX_DIGITS.test(text);
  const needles = new Set<string>();
  for (const raw of new Set(values)) {
    const v = raw.trim();
    if (v.length >= 3) needles.add(v);
    if (!mayHoldPhone) continue;
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
    let replaced: string;
    if (asciiLower !== undefined) {
      // ASCII text (a CRM's usual answer): searched as lower-cased strings, no expression.
      const needle = asciiNeedleOf(n);
      if (needle === undefined || !asciiLower.includes(needle)) continue;
      replaced = replaceInAscii(out, asciiLower, needle);
    } else {
      replaced = out.replace(new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(n)}(?![\\p{L}\\p{N}])`, 'giu'), REDACTED);
    }
    if (replaced !== out) {
      out = replaced;
      asciiLower = asciiLowerOf(out);
    }
  }
  return redactEmails(out);
}

// Phone numbers read with libphonenumber-js, each reading kept for a minute. One lead's number is
// read for its blind index when the lead is stored, and again by the phone transform of each
// destination it goes to, moments later; a reading is the dearest step of either (in the burst
// benchmark libphonenumber-js took 13 % of the worker's CPU, reading each number three times).
// Kept at most a minute and for at most MAX_KEPT numbers, so an erased lead's number does not
// linger in memory.
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

export interface PhoneReading {
  /** E.164. */
  number: string;
  /** Of a length some number of its country has. */
  isPossible: boolean;
  /** In a range its country gives out. */
  isValid: boolean;
  /** Written with an extension (E.164 has none). */
  hasExtension: boolean;
}

const MAX_KEPT = 1000;
const KEEP_MS = 60_000;
/** Oldest first (a reading read again is not moved: it goes when its minute is up). */
const kept = new Map<string, { at: number; reading: PhoneReading | null }>();

/**
 * What libphonenumber-js reads in `text` (trimmed by the caller): null when it finds no number.
 * `defaultCountry` applies to a number written without `+`.
 */
export function readPhoneNumber(text: string, defaultCountry?: CountryCode): PhoneReading | null {
  // A number written with its + reads the same whatever the default country: one entry serves all.
  const key = text.startsWith('+') || !defaultCountry ? text : `${defaultCountry}\u0000${text}`;
  const now = Date.now();
  const hit = kept.get(key);
  if (hit && now - hit.at < KEEP_MS) return hit.reading;
  let reading: PhoneReading | null = null;
  try {
    const phone = parsePhoneNumberFromString(text, defaultCountry ? { defaultCountry } : undefined);
    if (phone) reading = { number: phone.number, isPossible: phone.isPossible(), isValid: phone.isValid(), hasExtension: Boolean(phone.ext) };
  } catch {
    reading = null;
  }
  kept.delete(key);
  kept.set(key, { at: now, reading });
  for (const [k, v] of kept) {
    if (kept.size <= MAX_KEPT && now - v.at < KEEP_MS) break;
    kept.delete(k);
  }
  return reading;
}

/** How many readings are kept now (for tests of the bound). */
export function phoneReadingsKept(): number {
  return kept.size;
}

// The transforms a mapping rule can chain. Each one is total: it never throws, and a value it
// cannot convert is kept as it was with a warning (the warning never quotes the value, which
// is personal data). A transform that throws information away says so through `markLossy`,
// so the mapping engine can keep the original answer in the unmapped note.
import type { CountryCode } from 'libphonenumber-js';
import { resolveCountry } from './countries.js';
import { splitFullName } from './names.js';
import { readPhoneNumber } from '../lead/phone-numbers.js';
import type { Transform } from './schema.js';

/** A value on its way through a rule: answers are lists, metadata and constants are scalars. */
export type MappedValue = string | number | boolean | null | string[];
export type FieldValue = string | number | boolean | null;

export interface TransformEnv {
  /** Country for phone numbers without a +country code, when the transform names none. */
  defaultCountry?: string;
  /**
   * The lead's values for a question key (raw values, then their option labels), for transforms
   * that read another answer (`phone_e164` with `defaultCountryFrom`). Absent without a lead.
   */
  readAnswer?(key: string): string[];
  warn(message: string): void;
  /** Called when the output no longer holds everything the input did (cut, dropped, narrowed). */
  markLossy(): void;
}

const DEFAULT_SEPARATOR = ', ';

export function isEmptyValue(value: MappedValue): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value === 'string') return value.length === 0;
  if (Array.isArray(value)) return value.every((v) => v.length === 0);
  if (typeof value === 'number') return !Number.isFinite(value);
  return false;
}

/** One string from any value: lists are joined with `, `, null is ''. */
export function toText(value: MappedValue, separator = DEFAULT_SEPARATOR): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.filter((v) => v.length > 0).join(separator);
  return String(value);
}

/** The value a CRM field receives; several values are joined with `, ` unless a join said otherwise. */
export function toFieldValue(value: MappedValue): FieldValue {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) {
    const present = value.filter((v) => v.length > 0);
    return present.length === 0 ? null : present.join(DEFAULT_SEPARATOR);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  if (typeof value === 'string' && value.length === 0) return null;
  return value;
}

function mapStrings(value: MappedValue, fn: (s: string) => string): MappedValue {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map(fn);
  return value;
}

/** Cuts a string to at most `length` code points, never inside a surrogate pair. */
export function truncateCodePoints(text: string, length: number): string {
  if (text.length <= length) return text; // UTF-16 length ≥ code points: nothing to cut
  const points = Array.from(text);
  return points.length <= length ? text : points.slice(0, length).join('');
}

// ---- booleans ---------------------------------------------------------------------------

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'y', 'on', 'checked', 'x', 't']);
const FALSE_WORDS = new Set(['', '0', 'false', 'no', 'n', 'off', 'unchecked', 'f']);

/**
 * Reads a checkbox or consent answer. Meta sends `custom_disclaimer_responses[].is_checked` as
 * `"1"` / `""`, and as a real boolean in test-lead input
 * (https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving; reference:
 * meta-lead-ads.md §5). Null when it is not a yes/no.
 */
export function parseBooleanish(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value !== 0 : null;
  if (typeof value !== 'string') return null;
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return null;
}

function transformBoolean(value: MappedValue, env: TransformEnv): MappedValue {
  if (value === null) return null;
  let single: unknown = value;
  if (Array.isArray(value)) {
    const present = value.filter((v) => v.trim().length > 0);
    if (present.length === 0) return false; // the question was asked and left unticked
    if (present.length > 1) {
      env.warn('several values cannot become one yes/no; kept as they were');
      return value;
    }
    single = present[0];
  }
  const parsed = parseBooleanish(single);
  if (parsed === null) {
    env.warn('value is not a yes/no answer; kept as it was');
    return value;
  }
  return parsed;
}

// ---- numbers ----------------------------------------------------------------------------

/** Reads `42`, `-3.5`, `1,200.50`, `1.200,50`, `1 200`, `12,5`; null otherwise. */
export function parseNumberish(text: string): number | null {
  let s = text.trim().replace(/[\s\u00a0\u202f']/gu, '');
  if (!/^[+-]?[\d.,]+$/.test(s) || !/\d/.test(s)) return null;
  const lastComma = s.lastIndexOf(',');
  const lastDot = s.lastIndexOf('.');
  if (lastComma >= 0 && lastDot >= 0) {
    // The later separator is the decimal one.
    s = lastComma > lastDot ? s.replace(/\./g, '').replace(',', '.') : s.replace(/,/g, '');
  } else if (lastComma >= 0) {
    const groups = s.split(',');
    const isThousands = groups.length > 2 || (groups.length === 2 && groups[1].length === 3);
    s = isThousands ? groups.join('') : s.replace(',', '.');
  } else if ((s.match(/\./g) ?? []).length > 1) {
    s = s.replace(/\./g, ''); // 1.200.000
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

function transformNumber(value: MappedValue, env: TransformEnv): MappedValue {
  if (value === null || typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  const text = Array.isArray(value) ? value.filter((v) => v.trim().length > 0) : [value];
  if (text.length === 0 || (text.length === 1 && text[0].trim() === '')) return null;
  if (text.length > 1) {
    env.warn('several values cannot become one number; kept as they were');
    return value;
  }
  const n = parseNumberish(text[0]);
  if (n === null) {
    env.warn('value is not a number; kept as it was');
    return value;
  }
  return n;
}

// ---- dates ------------------------------------------------------------------------------

function utcDate(year: number, month: number, day: number): Date | null {
  if (month < 1 || month > 12 || day < 1 || day > 31) return null;
  const d = new Date(Date.UTC(year, month - 1, day));
  if (year >= 0 && year < 100) d.setUTCFullYear(year);
  return d.getUTCMonth() === month - 1 && d.getUTCDate() === day ? d : null;
}

/**
 * Reads the dates a lead carries: Graph's `2015-02-28T08:49:14+0000`, ISO strings, Unix
 * seconds (the webhook's `created_time`) or milliseconds, `YYYY-MM-DD`, `DD.MM.YYYY`, and
 * `MM/DD/YYYY` (or `DD/MM/YYYY` with `inputOrder: 'dmy'`). Free text is not guessed at.
 */
export function parseDateish(value: unknown, inputOrder: 'mdy' | 'dmy' = 'mdy'): Date | null {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    const d = new Date(Math.abs(value) < 1e11 ? value * 1000 : value);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  if (typeof value !== 'string') return null;
  const s = value.trim();
  if (/^\d{9,10}$/.test(s)) return parseDateish(Number(s), inputOrder);
  if (/^\d{12,13}$/.test(s)) return parseDateish(Number(s), inputOrder);
  let m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m) return utcDate(Number(m[1]), Number(m[2]), Number(m[3]));
  m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/.exec(s);
  if (m) return utcDate(Number(m[3]), Number(m[2]), Number(m[1]));
  m = /^(\d{1,2})[/-](\d{1,2})[/-](\d{4})$/.exec(s);
  if (m) {
    const [a, b] = [Number(m[1]), Number(m[2])];
    return inputOrder === 'dmy' ? utcDate(Number(m[3]), b, a) : utcDate(Number(m[3]), a, b);
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(s)) {
    // Graph writes offsets as +0000; give Date.parse the +00:00 it is specified to read.
    const iso = s.replace(' ', 'T').replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
    const d = new Date(/(Z|[+-]\d{2}:\d{2})$/i.test(iso) ? iso : `${iso}Z`);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return null;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function formatDate(date: Date, format: 'iso' | 'date' | 'epoch_ms' | 'us' | 'eu'): string | number {
  const y = pad(date.getUTCFullYear(), 4);
  const mo = pad(date.getUTCMonth() + 1);
  const d = pad(date.getUTCDate());
  switch (format) {
    case 'iso':
      return date.toISOString();
    case 'date':
      return `${y}-${mo}-${d}`;
    case 'epoch_ms':
      return date.getTime();
    case 'us':
      return `${mo}/${d}/${y}`;
    case 'eu':
      return `${d}/${mo}/${y}`;
  }
}

function isFormattable(d: Date): boolean {
  const y = d.getUTCFullYear();
  return !Number.isNaN(d.getTime()) && y >= 0 && y <= 9999;
}

function transformDate(value: MappedValue, t: Extract<Transform, { type: 'date' }>, env: TransformEnv): MappedValue {
  const convert = (v: string | number): string | number | null => {
    if (typeof v === 'string' && v.trim() === '') return v;
    const d = parseDateish(v, t.inputOrder ?? 'mdy');
    return d && isFormattable(d) ? formatDate(d, t.format) : null;
  };
  if (value === null || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    let failed = false;
    const out = value.map((v) => {
      const c = convert(v);
      if (c === null) failed = true;
      return c === null ? v : String(c);
    });
    if (failed) env.warn('value is not a date LeadRelay can read; kept as it was');
    return out.length === 1 && t.format === 'epoch_ms' && !failed ? Number(out[0]) : out;
  }
  const c = convert(value);
  if (c === null) {
    env.warn('value is not a date LeadRelay can read; kept as it was');
    return value;
  }
  return c;
}

// ---- phones -----------------------------------------------------------------------------

/** The country a phone transform reads national numbers with, and how a warning may name it. */
interface PhoneCountry {
  code: string | undefined;
  /** `for GB`, or `for the country answered in "country"` (a lead's own answer is never quoted). */
  where: string;
}

function phoneCountry(t: Extract<Transform, { type: 'phone_e164' }>, env: TransformEnv): PhoneCountry {
  const fallback = t.defaultCountry ?? env.defaultCountry;
  const byDefault: PhoneCountry = { code: fallback, where: fallback ? `for ${fallback}` : 'without a +country code (no default country set)' };
  if (!t.defaultCountryFrom) return byDefault;
  const answered = (env.readAnswer?.(t.defaultCountryFrom) ?? []).filter((v) => typeof v === 'string' && v.trim() !== '');
  if (answered.length === 0) return byDefault; // not asked, or left empty: the default is the answer
  for (const value of answered) {
    const code = resolveCountry(value);
    if (code) return { code, where: `for the country answered in "${t.defaultCountryFrom}"` };
  }
  env.warn(
    `the answer to "${t.defaultCountryFrom}" is not a country LeadRelay can read; ${fallback ? `used the default country ${fallback}` : 'no default country to fall back to'}`,
  );
  return byDefault;
}

function toE164(raw: string, countryFor: () => PhoneCountry, env: TransformEnv): string {
  const text = raw.trim();
  if (text === '') return raw;
  const country = countryFor();
  const where = country.where;
  const phone = readPhoneNumber(text, country.code as CountryCode | undefined);
  if (!phone?.isPossible) {
    env.warn(`phone is not a valid number ${where}; kept as it was`);
    return raw;
  }
  if (!phone.isValid) {
    // Right length but outside the ranges libphonenumber knows (e.g. Ofcom's 07700 900xxx drama
    // numbers): the digits are unambiguous, so E.164 still loses nothing.
    env.warn(`phone has a possible length but is not in a known range ${where}; converted anyway`);
  }
  if (phone.hasExtension) env.markLossy(); // E.164 has no extension; the note keeps the original
  return phone.number;
}

// ---- value maps -------------------------------------------------------------------------

/** Looks a value up in a value map: exact key first, then ignoring case and outer spaces. */
function lookUpValueMap(map: Record<string, string>, value: string): string | undefined {
  if (Object.hasOwn(map, value)) return map[value];
  const wanted = value.trim().toLowerCase();
  for (const key of Object.keys(map)) if (key.trim().toLowerCase() === wanted) return map[key];
  return undefined;
}

function transformValueMap(value: MappedValue, t: Extract<Transform, { type: 'value_map' }>, env: TransformEnv): MappedValue {
  const drop = t.fallback === 'drop';
  let missing = 0;
  const one = (v: string): string | null => {
    if (v.length === 0) return v;
    const hit = lookUpValueMap(t.map, v);
    if (hit !== undefined) return hit;
    missing++;
    return drop ? null : v;
  };
  let out: MappedValue;
  if (value === null) return null;
  if (Array.isArray(value)) {
    out = value.map(one).filter((v): v is string => v !== null);
  } else {
    const mapped = one(String(value));
    out = mapped === null ? null : mapped === String(value) ? value : mapped;
  }
  if (missing > 0) {
    if (drop) {
      env.markLossy();
      env.warn(`${missing} value(s) not in the value map were dropped (kept in the unmapped note)`);
    } else {
      env.warn(`${missing} value(s) not in the value map were kept as they were`);
    }
  }
  return out;
}

// ---- names ------------------------------------------------------------------------------

function transformName(value: MappedValue, t: Extract<Transform, { type: 'first_name' | 'last_name' }>, env: TransformEnv): MappedValue {
  if (value === null) return null;
  const text = toText(value, ' ');
  if (text.trim() === '') return '';
  const parts = splitFullName(text, t.order ?? 'auto');
  if (t.type === 'last_name' && !parts.isSplit) env.warn('one-word name: last name left empty');
  return t.type === 'first_name' ? parts.first : parts.last;
}

/** Applies one transform. Total: never throws for any value. */
export function applyTransform(value: MappedValue, t: Transform, env: TransformEnv): MappedValue {
  switch (t.type) {
    case 'trim':
      return mapStrings(value, (s) => s.trim());
    case 'lower':
      return mapStrings(value, (s) => s.toLowerCase());
    case 'upper':
      return mapStrings(value, (s) => s.toUpperCase());
    case 'first_name':
    case 'last_name':
      return transformName(value, t, env);
    case 'phone_e164': {
      // Read (and warn about) the country answer once, and only when there is a number to read.
      let country: PhoneCountry | undefined;
      const countryFor = () => (country ??= phoneCountry(t, env));
      if (typeof value === 'number') return toE164(String(value), countryFor, env);
      return mapStrings(value, (s) => toE164(s, countryFor, env));
    }
    case 'date':
      return transformDate(value, t, env);
    case 'boolean':
      return transformBoolean(value, env);
    case 'number':
      return transformNumber(value, env);
    case 'value_map':
      return transformValueMap(value, t, env);
    case 'join':
      return Array.isArray(value) ? toText(value, t.separator) : value;
    case 'first': {
      if (!Array.isArray(value)) return value;
      const present = value.filter((v) => v.length > 0);
      if (present.length > 1) env.markLossy();
      return present.length === 0 ? null : present[0];
    }
    case 'truncate': {
      if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
      const text = toText(value);
      const cut = truncateCodePoints(text, t.length);
      if (cut !== text) {
        env.markLossy();
        env.warn(`value cut to ${t.length} characters`);
      }
      return Array.isArray(value) && cut === text ? value : cut;
    }
    default: {
      const unknown: never = t;
      env.warn(`unknown transform ${JSON.stringify((unknown as { type?: unknown }).type)} skipped`);
      return value;
    }
  }
}

// Reading a country from a lead's answer, for phone numbers typed without a +country code
// (`phone_e164` with `defaultCountryFrom`). An answer may be an ISO 3166-1 alpha-2 code (`GB`,
// `de`) or a country's name as a person wrote or picked it (`United Kingdom`, `Deutschland`,
// `España`). libphonenumber-js knows only codes, so names are read through the ICU data Node
// ships (Intl.DisplayNames) in the languages below, plus a few everyday names ICU does not use.
import { getCountries, isSupportedCountry, type CountryCode } from 'libphonenumber-js';

/** Languages whose country names are recognised (English first: it wins a clash). */
const NAME_LOCALES = [
  'en',
  'es',
  'fr',
  'de',
  'it',
  'pt',
  'nl',
  'pl',
  'sv',
  'da',
  'nb',
  'fi',
  'cs',
  'ro',
  'hu',
  'el',
  'tr',
  'ru',
  'uk',
  'ar',
  'he',
  'hi',
  'id',
  'vi',
  'th',
  'ja',
  'ko',
  'zh',
];

/** Everyday names and abbreviations that are not (or no longer) ICU's names. */
const ALIASES: Record<string, CountryCode> = {
  uk: 'GB',
  'great britain': 'GB',
  britain: 'GB',
  england: 'GB',
  scotland: 'GB',
  wales: 'GB',
  'northern ireland': 'GB',
  usa: 'US',
  'u s a': 'US',
  'u s': 'US',
  'united states of america': 'US',
  holland: 'NL',
  'czech republic': 'CZ',
  turkey: 'TR',
  'ivory coast': 'CI',
  swaziland: 'SZ',
  macedonia: 'MK',
  burma: 'MM',
  'cape verde': 'CV',
  'east timor': 'TL',
  vatican: 'VA',
  uae: 'AE',
  korea: 'KR',
  'republic of korea': 'KR',
};

/** Lower case, accents and punctuation dropped, a leading "the" dropped: `Côte d’Ivoire` → `cote d ivoire`. */
export function normalizeCountryName(text: string): string {
  return String(text ?? '')
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
    .replace(/^the /u, '');
}

let namesToCodes: Map<string, CountryCode> | null = null;

function countryNameIndex(): Map<string, CountryCode> {
  if (namesToCodes) return namesToCodes;
  const index = new Map<string, CountryCode>();
  const add = (name: string | undefined, code: CountryCode) => {
    if (!name) return;
    const key = normalizeCountryName(name);
    if (key && !index.has(key)) index.set(key, code);
  };
  const codes = getCountries();
  for (const locale of NAME_LOCALES) {
    let long: Intl.DisplayNames;
    let short: Intl.DisplayNames;
    try {
      long = new Intl.DisplayNames([locale], { type: 'region', fallback: 'none' });
      short = new Intl.DisplayNames([locale], { type: 'region', style: 'short', fallback: 'none' });
    } catch {
      continue; // a Node built without this locale's data
    }
    for (const code of codes) {
      add(long.of(code), code);
      add(short.of(code), code);
    }
  }
  for (const [name, code] of Object.entries(ALIASES)) if (!index.has(name)) index.set(name, code);
  namesToCodes = index;
  return index;
}

/**
 * The country an answer names: an ISO 3166-1 alpha-2 code libphonenumber-js knows, or a
 * country name in one of the languages above. Null when it names none (free text, `Other`).
 */
export function resolveCountry(answer: string): CountryCode | null {
  const text = String(answer ?? '').trim();
  if (text === '') return null;
  if (/^[A-Za-z]{2}$/.test(text) && isSupportedCountry(text.toUpperCase())) return text.toUpperCase() as CountryCode;
  return countryNameIndex().get(normalizeCountryName(text)) ?? null;
}

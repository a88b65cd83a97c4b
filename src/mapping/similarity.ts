// Label similarity for auto-mapping custom questions to CRM fields. Labels are written by
// marketers in any language, so normalisation keeps letters of every script and only folds
// case, diacritics and punctuation: `Código postal` ~ `codigo_postal` ~ `CodigoPostal__c`.

// Words that carry no meaning in a question label ("What is your budget?" → budget).
const STOPWORDS = new Set([
  'a',
  'an',
  'the',
  'of',
  'for',
  'to',
  'in',
  'on',
  'at',
  'by',
  'with',
  'and',
  'or',
  'is',
  'are',
  'be',
  'do',
  'does',
  'you',
  'your',
  'yours',
  'we',
  'our',
  'what',
  'which',
  'when',
  'where',
  'who',
  'how',
  'would',
  'like',
  'please',
  'enter',
  'select',
  'choose',
  'current',
  'preferred',
]);

/** Lower-case, diacritics removed, camelCase and snake_case split, punctuation → spaces. */
export function normalizeLabel(text: string): string {
  return String(text ?? '')
    .replace(/__c$/i, '') // Salesforce custom-field suffix
    .replace(/(\p{Ll})(\p{Lu})/gu, '$1 $2')
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function stem(token: string): string {
  return token.length > 3 && token.endsWith('s') && !token.endsWith('ss') ? token.slice(0, -1) : token;
}

/** Meaningful tokens of a label (stop words dropped unless nothing else is left). */
function labelTokens(text: string): string[] {
  const all = normalizeLabel(text).split(' ').filter(Boolean);
  const kept = all.filter((t) => !STOPWORDS.has(t));
  return (kept.length > 0 ? kept : all).map(stem);
}

function bigrams(text: string): Map<string, number> {
  const chars = Array.from(text.replace(/\s+/g, ''));
  const out = new Map<string, number>();
  for (let i = 0; i < chars.length - 1; i++) {
    const g = chars[i] + chars[i + 1];
    out.set(g, (out.get(g) ?? 0) + 1);
  }
  return out;
}

/** Sørensen–Dice coefficient over character bigrams of the normalised texts (0..1). */
export function diceCoefficient(a: string, b: string): number {
  const na = normalizeLabel(a);
  const nb = normalizeLabel(b);
  if (na.length === 0 || nb.length === 0) return 0;
  if (na.replace(/\s+/g, '') === nb.replace(/\s+/g, '')) return 1;
  const ga = bigrams(na);
  const gb = bigrams(nb);
  let total = 0;
  for (const n of ga.values()) total += n;
  for (const n of gb.values()) total += n;
  if (total === 0) return 0;
  let shared = 0;
  for (const [g, n] of ga) shared += Math.min(n, gb.get(g) ?? 0);
  return (2 * shared) / total;
}

/** Dice coefficient over meaningful tokens (0..1). */
export function tokenOverlap(a: string, b: string): number {
  const ta = new Set(labelTokens(a));
  const tb = new Set(labelTokens(b));
  if (ta.size === 0 || tb.size === 0) return 0;
  let shared = 0;
  for (const t of ta) if (tb.has(t)) shared++;
  return (2 * shared) / (ta.size + tb.size);
}

/** How alike two labels are (0..1): the better of character-bigram and token overlap. */
export function labelSimilarity(a: string, b: string): number {
  return Math.max(diceCoefficient(a, b), tokenOverlap(a, b));
}

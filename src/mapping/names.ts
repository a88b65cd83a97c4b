// Splitting a full name into first (given) and last (family) name, for CRMs that want two
// fields. Names come in any script, so the rules are conservative: collapse runs of white
// space, drop a leading honorific, and otherwise never lose a character — every other
// character of the input ends up in `first` or `last`.
//
// - Latin, Cyrillic, Arabic, Greek… with spaces: first token = given name, the rest = family
//   name (`Jean-Claude Van Damme` → `Jean-Claude` / `Van Damme`). `Smith, John` (one comma,
//   not before a suffix such as `Jr.`) is read as `family, given`.
// - CJK (Chinese, Japanese, Korean) is written family-name-first:
//   - with spaces (`山田 太郎`): first token = family name, the rest = given name;
//   - without spaces (`王小明`): family name = the first character, or two characters for a
//     known compound surname (`欧阳娜娜`, `남궁민수`) and for four-or-more-character Han names
//     (usually Japanese, `山田太郎`); a leading Han run followed by kana (`山田はなこ`) is the
//     family name. Kana-only names cannot be split and are treated as one word.
//   - a middle dot (`约翰·史密斯`, `ジョン・スミス`) marks a foreign name written given-first.
// - One word (`Cher`, `Madonna`): first = the word, last = '' (the caller warns; connectors
//   fill a required last name with their default).
// An explicit `order` overrides the guess (`family_first` for Hungarian or Vietnamese forms).

export type NameOrder = 'auto' | 'given_first' | 'family_first';

export interface NameParts {
  first: string;
  last: string;
  /** False when the name could not be split (one word): `last` is then ''. */
  isSplit: boolean;
  /** A leading honorific that was dropped, e.g. `Dr.`. */
  title: string | null;
}

// Honorifics compared lower-cased without a trailing dot. Only dropped when a name remains.
const TITLES = new Set([
  'mr',
  'mrs',
  'ms',
  'miss',
  'mx',
  'dr',
  'prof',
  'professor',
  'sir',
  'dame',
  'lady',
  'lord',
  'rev',
  'revd',
  'fr',
  'mme',
  'mlle',
  'herr',
  'frau',
  'sr',
  'sra',
  'srta',
  'señor',
  'señora',
  'senhor',
  'senhora',
  'dott',
  'dott.ssa',
  'ing',
  'hr',
  'fru',
  'sig',
  'sig.ra',
  'г-н',
  'г-жа',
  'господин',
  'госпожа',
  'السيد',
  'السيدة',
  'د',
]);

// Name suffixes that may follow a comma (`King, Jr.`) without making the name `family, given`.
const SUFFIXES = new Set(['jr', 'sr', 'ii', 'iii', 'iv', 'phd', 'md', 'esq', 'dds', 'mba']);

const CHINESE_COMPOUND_SURNAMES = new Set([
  '欧阳',
  '歐陽',
  '司马',
  '司馬',
  '诸葛',
  '諸葛',
  '上官',
  '东方',
  '東方',
  '皇甫',
  '尉迟',
  '尉遲',
  '公孙',
  '公孫',
  '慕容',
  '长孙',
  '長孫',
  '宇文',
  '司徒',
  '夏侯',
  '轩辕',
  '軒轅',
  '令狐',
  '钟离',
  '鍾離',
  '澹台',
  '澹臺',
  '端木',
  '独孤',
  '獨孤',
  '南宫',
  '南宮',
  '西门',
  '西門',
  '申屠',
  '呼延',
]);
const KOREAN_COMPOUND_SURNAMES = new Set(['남궁', '황보', '제갈', '선우', '독고', '사공', '서문']);

const HAN = /^[\p{Script=Han}々〆ヶ]+$/u;
const HANGUL = /^\p{Script=Hangul}+$/u;
const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}々〆ヶー]/u;
const CJK_ONLY = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}々〆ヶー]+$/u;
const MIDDLE_DOTS = /[·・•‧]/u;

function normalizeToken(token: string): string {
  return token.toLocaleLowerCase('und').replace(/[.,]+$/u, '');
}

function isCjkToken(token: string): boolean {
  return CJK_ONLY.test(token);
}

/** Splits one space-less CJK name into family and given name, or null when it can't. */
function splitCompactCjk(name: string): { family: string; given: string } | null {
  const chars = Array.from(name);
  if (chars.length < 2) return null;
  if (HANGUL.test(name)) {
    const head = chars.slice(0, 2).join('');
    const size = chars.length >= 4 && KOREAN_COMPOUND_SURNAMES.has(head) ? 2 : 1;
    return { family: chars.slice(0, size).join(''), given: chars.slice(size).join('') };
  }
  if (HAN.test(name)) {
    const head = chars.slice(0, 2).join('');
    const size = chars.length >= 3 && CHINESE_COMPOUND_SURNAMES.has(head) ? 2 : chars.length >= 4 ? 2 : 1;
    return { family: chars.slice(0, size).join(''), given: chars.slice(size).join('') };
  }
  // Kanji family name followed by a kana given name (山田はなこ).
  const match = /^([\p{Script=Han}々〆ヶ]{1,3})([\p{Script=Hiragana}\p{Script=Katakana}ー]+)$/u.exec(name);
  if (match) return { family: match[1], given: match[2] };
  return null;
}

/**
 * Splits a full name. Never throws; for '' returns two empty parts. See the file comment for
 * the rules.
 */
export function splitFullName(raw: string, order: NameOrder = 'auto'): NameParts {
  const text = String(raw ?? '').trim();
  const tokens = text.split(/\s+/u).filter((t) => t.length > 0);
  if (tokens.length === 0) return { first: '', last: '', isSplit: false, title: null };

  // Drop leading honorifics, but never the last remaining word (`Dr` alone stays a name).
  const dropped: string[] = [];
  while (tokens.length > 1 && TITLES.has(normalizeToken(tokens[0]))) dropped.push(tokens.shift() as string);
  const title = dropped.length > 0 ? dropped.join(' ') : null;

  const commaParts = tokens.join(' ').split(',');
  if (order === 'auto' && commaParts.length === 2) {
    const before = commaParts[0].trim();
    const after = commaParts[1].trim();
    if (before && after && !SUFFIXES.has(normalizeToken(after))) {
      return { first: after, last: before, isSplit: true, title };
    }
  }

  if (tokens.length === 1) {
    const only = tokens[0];
    if (order !== 'family_first' && MIDDLE_DOTS.test(only) && CJK_CHAR.test(only)) {
      // A transliterated foreign name keeps its given-first order: 约翰·史密斯.
      const cut = only.search(MIDDLE_DOTS);
      const given = only.slice(0, cut);
      const family = only.slice(cut + 1);
      if (given && family) return { first: given, last: family, isSplit: true, title };
    }
    if (order !== 'given_first' && isCjkToken(only)) {
      const parts = splitCompactCjk(only);
      if (parts) return { first: parts.given, last: parts.family, isSplit: true, title };
    }
    return { first: only, last: '', isSplit: false, title };
  }

  const familyFirst = order === 'family_first' || (order === 'auto' && tokens.every(isCjkToken));
  if (familyFirst) {
    return { first: tokens.slice(1).join(' '), last: tokens[0], isSplit: true, title };
  }
  return { first: tokens[0], last: tokens.slice(1).join(' '), isSplit: true, title };
}

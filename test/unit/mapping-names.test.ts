import { expect } from 'chai';
import fc from 'fast-check';
import { splitFullName, type NameOrder } from '../../src/mapping/names.js';

describe('mapping: splitFullName', () => {
  const cases: { input: string; order?: NameOrder; first: string; last: string; isSplit?: boolean; title?: string | null }[] = [
    // Latin
    { input: 'Jane Smith', first: 'Jane', last: 'Smith' },
    { input: '  Jane   Smith  ', first: 'Jane', last: 'Smith' },
    { input: 'Dr. Jane Smith-Jones', first: 'Jane', last: 'Smith-Jones', title: 'Dr.' },
    { input: 'Mrs Mary Ann O’Neil', first: 'Mary', last: 'Ann O’Neil', title: 'Mrs' },
    { input: 'Prof. Dr. Hans Müller', first: 'Hans', last: 'Müller', title: 'Prof. Dr.' },
    { input: 'Jean-Claude Van Damme', first: 'Jean-Claude', last: 'Van Damme' },
    { input: 'Zoë Ångström-Núñez', first: 'Zoë', last: 'Ångström-Núñez' },
    { input: 'Smith, John', first: 'John', last: 'Smith' },
    { input: 'John Smith, Jr.', first: 'John', last: 'Smith, Jr.' },
    { input: 'Martin Luther King Jr.', first: 'Martin', last: 'Luther King Jr.' },
    { input: 'Cher', first: 'Cher', last: '', isSplit: false },
    { input: 'Dr', first: 'Dr', last: '', isSplit: false, title: null },
    { input: 'Dr. Who', first: 'Who', last: '', isSplit: false, title: 'Dr.' },
    { input: '', first: '', last: '', isSplit: false },
    // Cyrillic, Arabic, Greek
    { input: 'Иван Петров', first: 'Иван', last: 'Петров' },
    { input: 'Анна-Мария Иванова-Петрова', first: 'Анна-Мария', last: 'Иванова-Петрова' },
    { input: 'г-н Иван Петров', first: 'Иван', last: 'Петров', title: 'г-н' },
    { input: 'محمد بن سلمان', first: 'محمد', last: 'بن سلمان' },
    { input: 'فاطمة الزهراء', first: 'فاطمة', last: 'الزهراء' },
    { input: 'Γιώργος Παπαδόπουλος', first: 'Γιώργος', last: 'Παπαδόπουλος' },
    // CJK: family name first
    { input: '王小明', first: '小明', last: '王' },
    { input: '李娜', first: '娜', last: '李' },
    { input: '欧阳娜娜', first: '娜娜', last: '欧阳' },
    { input: '司馬懿', first: '懿', last: '司馬' },
    { input: '山田太郎', first: '太郎', last: '山田' },
    { input: '山田 太郎', first: '太郎', last: '山田' },
    { input: '山田\u3000太郎', first: '太郎', last: '山田' },
    { input: '山田はなこ', first: 'はなこ', last: '山田' },
    { input: 'やまだはなこ', first: 'やまだはなこ', last: '', isSplit: false },
    { input: '김민준', first: '민준', last: '김' },
    { input: '남궁민수', first: '민수', last: '남궁' },
    { input: '김 민준', first: '민준', last: '김' },
    { input: '约翰·史密斯', first: '约翰', last: '史密斯' },
    { input: '王', first: '王', last: '', isSplit: false },
    // explicit order for family-name-first locales written in Latin script
    { input: 'Nagy János', order: 'family_first', first: 'János', last: 'Nagy' },
    { input: 'Nguyễn Văn An', order: 'family_first', first: 'Văn An', last: 'Nguyễn' },
    { input: '王小明', order: 'given_first', first: '王小明', last: '', isSplit: false },
  ];

  for (const c of cases) {
    it(`splits ${JSON.stringify(c.input)}${c.order ? ` (${c.order})` : ''}`, () => {
      const parts = splitFullName(c.input, c.order);
      expect(parts.first).to.equal(c.first);
      expect(parts.last).to.equal(c.last);
      if (c.isSplit !== undefined) expect(parts.isSplit).to.equal(c.isSplit);
      if (c.title !== undefined) expect(parts.title).to.equal(c.title);
    });
  }

  it('never loses a character of a name without titles or commas (property)', () => {
    const word = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).filter((w) => !/[\s,·・•‧]/u.test(w) && w.trim() === w);
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 5 }), (words) => {
        const input = words.join(' ');
        const parts = splitFullName(input);
        const joinedChars = (parts.title ?? '') + parts.first + parts.last;
        // Every non-space character survives, in the same multiset.
        const sortChars = (s: string) => Array.from(s.replace(/\s+/gu, '')).sort().join('');
        expect(sortChars(joinedChars)).to.equal(sortChars(input));
      }),
      { numRuns: 300 },
    );
  });
});

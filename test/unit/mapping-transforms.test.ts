import { expect } from 'chai';
import {
  applyTransform,
  parseBooleanish,
  parseDateish,
  parseNumberish,
  toFieldValue,
  truncateCodePoints,
  type MappedValue,
} from '../../src/mapping/transforms.js';
import type { Transform } from '../../src/mapping/schema.js';

function run(value: MappedValue, t: Transform, defaultCountry?: string) {
  const warnings: string[] = [];
  let isLossy = false;
  const out = applyTransform(value, t, { defaultCountry, warn: (m) => warnings.push(m), markLossy: () => (isLossy = true) });
  return { out, warnings, isLossy };
}

describe('mapping: transforms', () => {
  describe('trim / lower / upper', () => {
    const cases: [Transform, MappedValue, MappedValue][] = [
      [{ type: 'trim' }, '  Jane \n', 'Jane'],
      [{ type: 'trim' }, ['  a ', 'b  '], ['a', 'b']],
      [{ type: 'trim' }, '\u00a0Zoë\u3000', 'Zoë'],
      [{ type: 'lower' }, 'ZOË@Example.COM', 'zoë@example.com'],
      [{ type: 'lower' }, 'ИВАН', 'иван'],
      [{ type: 'upper' }, 'straße', 'STRASSE'],
      [{ type: 'upper' }, ['gb', 'fr'], ['GB', 'FR']],
      [{ type: 'lower' }, true, true],
      [{ type: 'trim' }, null, null],
    ];
    for (const [t, input, expected] of cases) {
      it(`${t.type} ${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
        expect(run(input, t).out).to.deep.equal(expected);
      });
    }
  });

  describe('first_name / last_name', () => {
    const cases: [string, string, string][] = [
      ['Dr. Jane Smith-Jones', 'Jane', 'Smith-Jones'],
      ['王小明', '小明', '王'],
      ['Иван Петров', 'Иван', 'Петров'],
      ['محمد بن سلمان', 'محمد', 'بن سلمان'],
    ];
    for (const [input, first, last] of cases) {
      it(`splits ${input}`, () => {
        expect(run([input], { type: 'first_name' }).out).to.equal(first);
        expect(run([input], { type: 'last_name' }).out).to.equal(last);
      });
    }
    it('warns (without the name) on a one-word name and leaves the last name empty', () => {
      const r = run(['Madonna'], { type: 'last_name' });
      expect(r.out).to.equal('');
      expect(r.warnings).to.have.length(1);
      expect(r.warnings[0]).to.not.include('Madonna');
      expect(run(['Madonna'], { type: 'first_name' }).out).to.equal('Madonna');
    });
    it('honours an explicit family-first order', () => {
      expect(run('Nagy János', { type: 'first_name', order: 'family_first' }).out).to.equal('János');
    });
  });

  describe('phone_e164', () => {
    const cases: { input: string; country?: string; expected: string; warns: boolean }[] = [
      { input: '+44 7911 123456', expected: '+447911123456', warns: false },
      { input: '07911 123456', country: 'GB', expected: '+447911123456', warns: false },
      { input: '07700 900123', country: 'GB', expected: '+447700900123', warns: true }, // Ofcom drama range: possible, not allocated
      { input: '0044 7911 123456', country: 'GB', expected: '+447911123456', warns: false },
      { input: '(202) 555-0143', country: 'US', expected: '+12025550143', warns: false },
      { input: '+1 202-555-0143', country: 'GB', expected: '+12025550143', warns: false },
      { input: '8 (912) 345-67-89', country: 'RU', expected: '+79123456789', warns: false },
      { input: '06 12 34 56 78', country: 'FR', expected: '+33612345678', warns: false },
      { input: '138 1234 5678', country: 'CN', expected: '+8613812345678', warns: false },
      { input: '2025550143', expected: '2025550143', warns: true }, // no country to read it with
      { input: 'call me', country: 'GB', expected: 'call me', warns: true },
      { input: '<test lead: dummy data for phone_number>', country: 'US', expected: '<test lead: dummy data for phone_number>', warns: true },
      { input: '123', country: 'GB', expected: '123', warns: true },
    ];
    for (const c of cases) {
      it(`${c.input} (${c.country ?? 'no country'}) → ${c.expected}`, () => {
        const r = run([c.input], { type: 'phone_e164' }, c.country);
        expect(r.out).to.deep.equal([c.expected]);
        expect(r.warnings.length > 0).to.equal(c.warns);
        for (const w of r.warnings) expect(w).to.not.include(c.input);
      });
    }
    it('prefers the transform country over the mapping country', () => {
      expect(run('06 12 34 56 78', { type: 'phone_e164', defaultCountry: 'FR' }, 'GB').out).to.equal('+33612345678');
    });
    it('names the country in the warning', () => {
      expect(run('123', { type: 'phone_e164' }, 'GB').warnings[0]).to.include('for GB');
    });
    it('marks an extension as lossy (E.164 has none)', () => {
      const r = run('+33 6 12 34 56 78 ext 12', { type: 'phone_e164' });
      expect(r.out).to.equal('+33612345678');
      expect(r.isLossy).to.equal(true);
    });
  });

  describe('date', () => {
    const cases: { input: string | number; format: 'iso' | 'date' | 'epoch_ms' | 'us' | 'eu'; inputOrder?: 'mdy' | 'dmy'; expected: string | number }[] = [
      { input: '2015-02-28T08:49:14+0000', format: 'iso', expected: '2015-02-28T08:49:14.000Z' }, // Graph's offset style
      { input: '2015-02-28T08:49:14+0000', format: 'date', expected: '2015-02-28' },
      { input: '2015-02-28T23:30:00-0200', format: 'date', expected: '2015-03-01' },
      { input: '2026-11-20T10:15:00.000Z', format: 'epoch_ms', expected: Date.UTC(2026, 10, 20, 10, 15) },
      { input: 1425113354, format: 'iso', expected: '2015-02-28T08:49:14.000Z' }, // webhook Unix seconds
      { input: '1425113354', format: 'date', expected: '2015-02-28' },
      { input: '1425113354000', format: 'date', expected: '2015-02-28' },
      { input: '1990-01-31', format: 'us', expected: '01/31/1990' },
      { input: '1990-01-31', format: 'eu', expected: '31/01/1990' },
      { input: '01/02/1990', format: 'date', expected: '1990-01-02' },
      { input: '01/02/1990', format: 'date', inputOrder: 'dmy', expected: '1990-02-01' },
      { input: '31.01.1990', format: 'date', expected: '1990-01-31' },
      { input: '2026-11-20 10:15', format: 'iso', expected: '2026-11-20T10:15:00.000Z' },
    ];
    for (const c of cases) {
      it(`${c.input} → ${c.format}${c.inputOrder ? ` (${c.inputOrder})` : ''}`, () => {
        const r = run(typeof c.input === 'number' ? c.input : [c.input], { type: 'date', format: c.format, inputOrder: c.inputOrder });
        const out = Array.isArray(r.out) ? r.out : [r.out];
        expect(String(out[0])).to.equal(String(c.expected));
        expect(r.warnings).to.deep.equal([]);
      });
    }
    for (const bad of ['next tuesday', '02/30/2020', '13/13/2020', '2020-13-01', '1']) {
      it(`keeps ${JSON.stringify(bad)} and warns`, () => {
        const r = run(bad, { type: 'date', format: 'date' });
        expect(r.out).to.equal(bad);
        expect(r.warnings).to.have.length(1);
      });
    }
    it('epoch_ms of a single answer is a number', () => {
      expect(run(['1990-01-31'], { type: 'date', format: 'epoch_ms' }).out).to.equal(Date.UTC(1990, 0, 31));
    });
    it('parseDateish rejects free text Date.parse would guess at', () => {
      expect(parseDateish('May 5')).to.equal(null);
      expect(parseDateish('2015-02-28T08:49:14+0000')?.toISOString()).to.equal('2015-02-28T08:49:14.000Z');
    });
  });

  describe('boolean (checkbox and consent)', () => {
    const cases: [MappedValue, MappedValue][] = [
      ['1', true],
      ['', false],
      [true, true],
      [false, false],
      ['true', true],
      ['TRUE', true],
      ['yes', true],
      ['Yes ', true],
      ['0', false],
      ['false', false],
      ['no', false],
      [['1'], true],
      [[''], false],
      [[], false],
      [null, null],
    ];
    for (const [input, expected] of cases) {
      it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
        const r = run(input, { type: 'boolean' });
        expect(r.out).to.equal(expected);
        expect(r.warnings).to.deep.equal([]);
      });
    }
    it('keeps a non-yes/no answer and warns', () => {
      const r = run(['maybe later'], { type: 'boolean' });
      expect(r.out).to.deep.equal(['maybe later']);
      expect(r.warnings).to.have.length(1);
      expect(r.warnings[0]).to.not.include('maybe');
    });
    it('parseBooleanish reads Meta consent strings', () => {
      expect([parseBooleanish('1'), parseBooleanish(''), parseBooleanish(true), parseBooleanish('nope')]).to.deep.equal([true, false, true, null]);
    });
  });

  describe('number', () => {
    const cases: [string, number | null][] = [
      ['42', 42],
      ['-3.5', -3.5],
      ['1,200.50', 1200.5],
      ['1.200,50', 1200.5],
      ['1 200', 1200],
      ['12,5', 12.5],
      ['1,200', 1200],
      ['1.200.000', 1200000],
      ['abc', null],
      ['1-2', null],
      ['', null],
    ];
    for (const [input, expected] of cases) {
      it(`parses ${JSON.stringify(input)}`, () => expect(parseNumberish(input)).to.equal(expected));
    }
    it('turns a single answer into a number and warns (keeping it) otherwise', () => {
      expect(run(['5'], { type: 'number' }).out).to.equal(5);
      const r = run(['lots'], { type: 'number' });
      expect(r.out).to.deep.equal(['lots']);
      expect(r.warnings).to.have.length(1);
    });
  });

  describe('value_map', () => {
    const map = { opt_a: 'Option A', opt_b: 'Option B', Yes: 'Y' };
    it('maps option keys stored as answers', () => {
      expect(run(['opt_a', 'opt_b'], { type: 'value_map', map }).out).to.deep.equal(['Option A', 'Option B']);
    });
    it('matches ignoring case and outer spaces', () => {
      expect(run(' yes ', { type: 'value_map', map }).out).to.equal('Y');
    });
    it('keeps unknown values by default, with a warning', () => {
      const r = run(['opt_c'], { type: 'value_map', map });
      expect(r.out).to.deep.equal(['opt_c']);
      expect(r.isLossy).to.equal(false);
      expect(r.warnings).to.have.length(1);
    });
    it('drops unknown values with fallback drop and marks the rule lossy', () => {
      const r = run(['opt_a', 'opt_c'], { type: 'value_map', map, fallback: 'drop' });
      expect(r.out).to.deep.equal(['Option A']);
      expect(r.isLossy).to.equal(true);
    });
    it('maps booleans by their text', () => {
      expect(run(true, { type: 'value_map', map: { true: 'Opted in' } }).out).to.equal('Opted in');
    });
    it('does not read inherited keys such as toString', () => {
      expect(run('toString', { type: 'value_map', map }).out).to.equal('toString');
    });
  });

  describe('join / first / truncate', () => {
    it('joins multi-value answers with the separator', () => {
      expect(run(['blue', 'green'], { type: 'join', separator: ';' }).out).to.equal('blue;green');
      expect(run('solo', { type: 'join', separator: ';' }).out).to.equal('solo');
    });
    it('first keeps the first value and is lossy when there were more', () => {
      expect(run(['a', 'b'], { type: 'first' })).to.deep.include({ out: 'a', isLossy: true });
      expect(run(['a'], { type: 'first' })).to.deep.include({ out: 'a', isLossy: false });
    });
    const truncations: [string, number, string][] = [
      ['Hello world', 5, 'Hello'],
      ['short', 10, 'short'],
      ['😀😀😀', 2, '😀😀'],
      ['a😀b', 2, 'a😀'],
      ['王小明', 2, '王小'],
    ];
    for (const [input, length, expected] of truncations) {
      it(`truncates ${JSON.stringify(input)} to ${length} code points`, () => {
        const r = run(input, { type: 'truncate', length });
        expect(r.out).to.equal(expected);
        expect(r.isLossy).to.equal(input !== expected);
        expect(truncateCodePoints(input, length)).to.equal(expected);
      });
    }
    it('never leaves a lone surrogate', () => {
      const out = truncateCodePoints('😀'.repeat(10), 3);
      expect(out).to.equal('😀😀😀');
      expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(out)).to.equal(false);
    });
  });

  describe('toFieldValue', () => {
    it('joins several values with ", " and drops empties', () => {
      expect(toFieldValue(['a', '', 'b'])).to.equal('a, b');
      expect(toFieldValue([])).to.equal(null);
      expect(toFieldValue('')).to.equal(null);
      expect(toFieldValue(false)).to.equal(false);
      expect(toFieldValue(Number.NaN)).to.equal(null);
    });
  });
});

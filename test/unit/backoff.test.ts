// The retry wait policy: exponential growth from the base, a hard cap, ±20 % jitter.
import { expect } from 'chai';
import fc from 'fast-check';
import { computeBackoffMs } from '../../src/pipeline/backoff.js';

const middle = () => 0.5; // jitter factor exactly 1.0
const lowest = () => 0; // factor 0.8
const highest = () => 0.999_999; // factor just under 1.2

describe('computeBackoffMs', () => {
  const table: { attempt: number; base: number; max: number; random: () => number; expected: number }[] = [
    // growth: base × 2^(attempt-1)
    { attempt: 1, base: 1000, max: 600_000, random: middle, expected: 1000 },
    { attempt: 2, base: 1000, max: 600_000, random: middle, expected: 2000 },
    { attempt: 3, base: 1000, max: 600_000, random: middle, expected: 4000 },
    { attempt: 8, base: 1000, max: 600_000, random: middle, expected: 128_000 },
    { attempt: 4, base: 250, max: 600_000, random: middle, expected: 2000 },
    // cap
    { attempt: 10, base: 1000, max: 600_000, random: middle, expected: 512_000 },
    { attempt: 11, base: 1000, max: 600_000, random: middle, expected: 600_000 },
    { attempt: 60, base: 1000, max: 600_000, random: middle, expected: 600_000 },
    { attempt: 2000, base: 1000, max: 600_000, random: middle, expected: 600_000 },
    // jitter bounds
    { attempt: 3, base: 1000, max: 600_000, random: lowest, expected: 3200 },
    { attempt: 3, base: 1000, max: 600_000, random: highest, expected: 4800 },
    // jitter applies below the cap too, and never lifts a wait above it
    { attempt: 30, base: 1000, max: 600_000, random: lowest, expected: 480_000 },
    { attempt: 30, base: 1000, max: 600_000, random: highest, expected: 600_000 },
    // attempt 0 or below counts as the first
    { attempt: 0, base: 1000, max: 600_000, random: middle, expected: 1000 },
    { attempt: -3, base: 1000, max: 600_000, random: middle, expected: 1000 },
  ];
  for (const c of table) {
    it(`attempt ${c.attempt}, base ${c.base}, max ${c.max}, random ${c.random()} → ${c.expected} ms`, () => {
      expect(computeBackoffMs(c.attempt, c.base, c.max, c.random)).to.equal(c.expected);
    });
  }

  it('returns whole milliseconds', () => {
    expect(computeBackoffMs(1, 333, 10_000, () => 0.123)).to.equal(Math.round(333 * (0.8 + 0.4 * 0.123)));
    expect(Number.isInteger(computeBackoffMs(5, 7, 10_000, () => 0.777))).to.equal(true);
  });

  it('uses Math.random when no random is given, within the jitter bounds', () => {
    for (let i = 0; i < 50; i++) {
      const ms = computeBackoffMs(4, 100, 1_000_000);
      expect(ms).to.be.within(640, 960);
    }
  });

  it('property: within ±20 % of the capped exponential, never above the cap, never shrinking as attempts grow', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, base, extra, r) => {
          const max = base + extra;
          const exp = Math.min(max, base * 2 ** (attempt - 1));
          const ms = computeBackoffMs(attempt, base, max, () => r);
          expect(ms).to.be.at.most(max);
          expect(ms).to.be.at.least(Math.floor(exp * 0.8));
          expect(ms).to.be.at.most(Math.ceil(exp * 1.2));
          expect(computeBackoffMs(attempt + 1, base, max, () => r)).to.be.at.least(ms);
        },
      ),
    );
  });
});

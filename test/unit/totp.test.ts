import { expect } from 'chai';
import { Secret, TOTP } from 'otpauth';
import { matchingStep, startTotpEnrolment } from '../../src/accounts/totp.js';
import { KeyRing } from '../../src/crypto/key-ring.js';

const ring = new KeyRing([{ kid: 'k1', key: Buffer.alloc(32, 3) }]);
const user = { id: '00000000-0000-4000-8000-000000000001', email: 'a@example.com' };
const NOW = 1_700_000_000_000;
const STEP = Math.floor(NOW / 30_000);

describe('TOTP codes', () => {
  let manualKey: string;
  let enrolled: typeof user & { totp_secret_envelope: string };
  const code = (timestamp: number) => new TOTP({ secret: Secret.fromBase32(manualKey), digits: 6, period: 30 }).generate({ timestamp });

  before(async () => {
    const e = await startTotpEnrolment(ring, user);
    manualKey = e.manualKey;
    enrolled = { ...user, totp_secret_envelope: e.envelope };
  });

  it('binds the stored secret to its user', () => {
    expect(() => ring.decrypt(enrolled.totp_secret_envelope, 'totp:someone-else')).to.throw(/authentication failed/);
  });

  it("matches the current code to the current step, and the previous step's code to that step", () => {
    expect(matchingStep(ring, enrolled, code(NOW), NOW)).to.equal(STEP);
    expect(matchingStep(ring, enrolled, code(NOW - 30_000), NOW)).to.equal(STEP - 1);
  });

  it('refuses a code two steps old', () => {
    expect(matchingStep(ring, enrolled, code(NOW - 60_000), NOW)).to.equal(null);
  });

  it('refuses anything but six digits', () => {
    expect(matchingStep(ring, enrolled, `${code(NOW)}0`, NOW)).to.equal(null);
    expect(matchingStep(ring, enrolled, 'abcdef', NOW)).to.equal(null);
  });
});

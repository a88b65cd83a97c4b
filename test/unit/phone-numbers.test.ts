// Phone readings are kept for a moment and shared by the blind index and the phone transforms:
// the key must keep apart what libphonenumber-js reads differently, and the memory stays bounded.
import { expect } from 'chai';
import { phoneReadingsKept, readPhoneNumber } from '../../src/lead/phone-numbers.js';

describe('phone readings', () => {
  it('reads a national number by the default country it is given, whatever was read before', () => {
    expect(readPhoneNumber('020 7946 0018', 'GB')?.number).to.equal('+442079460018');
    expect(readPhoneNumber('020 7946 0018', 'DE')?.number).to.equal('+49207946001' + '8');
    expect(readPhoneNumber('020 7946 0018')).to.equal(null);
    expect(readPhoneNumber('020 7946 0018', 'GB')?.number).to.equal('+442079460018');
  });

  it('reads a number written with + the same whatever the default country', () => {
    const alone = readPhoneNumber('+1 415 555 0100');
    expect(alone).to.include({ number: '+14155550100', isPossible: true });
    expect(readPhoneNumber('+1 415 555 0100', 'GB')).to.deep.equal(alone);
  });

  it('tells a possible but unassigned number, and an extension', () => {
    expect(readPhoneNumber('07700 900123', 'GB')).to.include({ isPossible: true, isValid: false });
    expect(readPhoneNumber('+44 20 7946 0018 ext. 12')).to.include({ number: '+442079460018', hasExtension: true });
  });

  it('keeps at most 1,000 readings', () => {
    for (let i = 0; i < 1_500; i++) readPhoneNumber(`+1 415 555 ${String(i).padStart(4, '0')}`);
    expect(phoneReadingsKept()).to.equal(1_000);
  });
});

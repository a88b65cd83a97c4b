// The role table's rule for handing out rights: a key (or any grant) given out must carry no
// right its giver lacks.
import { expect } from 'chai';
import { grantIsWithin } from '../../src/accounts/permissions.js';

describe('grantIsWithin', () => {
  const cases: [string, Parameters<typeof grantIsWithin>[0], Parameters<typeof grantIsWithin>[1], boolean][] = [
    ['an admin key from an owner', { role: 'admin', canReadAnswers: false }, { role: 'owner', canReadAnswers: false }, true],
    ['an admin key from an admin', { role: 'admin', canReadAnswers: false }, { role: 'admin', canReadAnswers: false }, true],
    ['an admin key from an editor', { role: 'admin', canReadAnswers: false }, { role: 'editor', canReadAnswers: false }, false],
    ['an editor key from a viewer', { role: 'editor', canReadAnswers: false }, { role: 'viewer', canReadAnswers: true }, false],
    ['a viewer key from a viewer', { role: 'viewer', canReadAnswers: false }, { role: 'viewer', canReadAnswers: false }, true],
    ['a viewer key reading answers from a viewer who may not', { role: 'viewer', canReadAnswers: true }, { role: 'viewer', canReadAnswers: false }, false],
    ['a viewer key reading answers from a viewer who may', { role: 'viewer', canReadAnswers: true }, { role: 'viewer', canReadAnswers: true }, true],
    ['a viewer key reading answers from an editor', { role: 'viewer', canReadAnswers: true }, { role: 'editor', canReadAnswers: false }, true],
  ];
  for (const [name, wanted, giver, expected] of cases)
    it(`${expected ? 'allows' : 'refuses'} ${name}`, () => {
      expect(grantIsWithin(wanted, giver)).to.equal(expected);
    });
});

import { expect } from 'chai';
import type { FieldDescriptor } from '../../connectors/types.js';
import type { FormQuestion, Mapping, MappingRule } from '../../src/mapping/schema.js';
import { isMappingSavable, validateMapping, type MappingIssue } from '../../src/mapping/validate.js';

const fields: FieldDescriptor[] = [
  { key: 'LastName', label: 'Last Name', type: 'string', required: true, length: 80 },
  { key: 'Company', label: 'Company', type: 'string', required: true, length: 10 },
  { key: 'Email', label: 'Email', type: 'email', required: false, length: 80 },
  { key: 'Employees', label: 'Employees', type: 'number', required: false },
  { key: 'OptIn', label: 'Opt in', type: 'boolean', required: false },
  { key: 'Birthdate', label: 'Birthdate', type: 'date', required: false },
  { key: 'Description', label: 'Description', type: 'text', required: false, length: 32000 },
  { key: 'Short', label: 'Short note', type: 'text', required: false, length: 255 },
  {
    key: 'LeadSource',
    label: 'Lead Source',
    type: 'enum',
    required: false,
    options: [
      { value: 'Web', label: 'Web' },
      { value: 'Facebook Lead Ads', label: 'Facebook Lead Ads' },
    ],
  },
  {
    key: 'Interests',
    label: 'Interests',
    type: 'multienum',
    required: false,
    options: [
      { value: 'bikes', label: 'Bikes' },
      { value: 'cars', label: 'Cars' },
    ],
  },
];

const questions: FormQuestion[] = [
  { key: 'full_name', label: 'Full name', type: 'FULL_NAME' },
  { key: 'email', label: 'Email', type: 'EMAIL' },
  { key: 'size', label: 'Company size', type: 'CUSTOM' },
  {
    key: 'interests',
    label: 'Interests',
    type: 'CUSTOM',
    options: [
      { key: 'opt_b', value: 'Bikes' },
      { key: 'opt_c', value: 'Cars' },
    ],
  },
];

const base: MappingRule[] = [
  { target: 'LastName', source: { type: 'answer', key: 'full_name' }, transforms: [{ type: 'last_name' }, { type: 'truncate', length: 80 }] },
  { target: 'LastName', source: { type: 'constant', value: '[none]' } },
  { target: 'Company', source: { type: 'constant', value: 'n/a' } },
];

function check(rules: MappingRule[], extra: Partial<Mapping> = {}): MappingIssue[] {
  return validateMapping({ version: 1, rules: [...base, ...rules], defaultCountry: 'GB', ...extra }, fields, questions);
}

/** The one issue about the rule added after `base`. */
function only(issues: MappingIssue[]): MappingIssue {
  expect(issues, JSON.stringify(issues)).to.have.length(1);
  return issues[0];
}

describe('mapping: validateMapping', () => {
  it('a complete mapping has no issues', () => {
    expect(check([{ target: 'Email', source: { type: 'answer', key: 'email' }, transforms: [{ type: 'truncate', length: 80 }] }])).to.deep.equal([]);
  });

  it('a required field without a rule is an error naming the field', () => {
    const issues = validateMapping({ version: 1, rules: [base[0], base[1]] }, fields, questions);
    expect(issues).to.deep.equal([{ severity: 'error', field: 'Company', rule: null, message: 'required field "Company" (Company) has no rule' }]);
    expect(isMappingSavable(issues)).to.equal(false);
  });

  it('a required field filled only from an answer warns to add a fallback', () => {
    const issues = validateMapping({ version: 1, rules: [base[0], base[2]] }, fields, questions);
    expect(issues).to.have.length(1);
    expect(issues[0]).to.deep.include({ severity: 'warning', field: 'LastName', rule: 0 });
    expect(isMappingSavable(issues)).to.equal(true);
  });

  it('an unknown target is an error naming the rule (1-based) and the field', () => {
    const issue = only(check([{ target: 'Nope__c', source: { type: 'constant', value: 'x' } }]));
    expect(issue).to.deep.equal({ severity: 'error', field: 'Nope__c', rule: 3, message: 'rule 4 → Nope__c: "Nope__c" is not a writable field of this CRM' });
  });

  const typeCases: { name: string; rule: MappingRule; severity: 'error' | 'warning'; match: RegExp }[] = [
    {
      name: 'boolean into number',
      rule: { target: 'Employees', source: { type: 'consent', key: 'c' } },
      severity: 'warning',
      match: /yes\/no value into a number field/,
    },
    { name: 'text into number', rule: { target: 'Employees', source: { type: 'answer', key: 'size' } }, severity: 'warning', match: /add a number transform/ },
    { name: 'text into boolean', rule: { target: 'OptIn', source: { type: 'answer', key: 'size' } }, severity: 'warning', match: /add a boolean transform/ },
    { name: 'text into date', rule: { target: 'Birthdate', source: { type: 'answer', key: 'size' } }, severity: 'warning', match: /add a date transform/ },
    {
      name: 'date-time into date',
      rule: { target: 'Birthdate', source: { type: 'meta', field: 'created_time' } },
      severity: 'warning',
      match: /format "date"/,
    },
    {
      name: 'free text into picklist',
      rule: { target: 'LeadSource', source: { type: 'answer', key: 'size' } },
      severity: 'error',
      match: /free text into picklist "Lead Source": add a value map or use a constant/,
    },
    {
      name: 'constant not in picklist',
      rule: { target: 'LeadSource', source: { type: 'constant', value: 'Facebook' } },
      severity: 'error',
      match: /"Facebook" is not an option of picklist "Lead Source"/,
    },
    {
      name: 'lead_source with Instagram missing from the picklist',
      rule: { target: 'LeadSource', source: { type: 'meta', field: 'lead_source' } },
      severity: 'error',
      match: /"Instagram Lead Ads" is not an option/,
    },
    {
      name: 'value map output not in picklist',
      rule: {
        target: 'LeadSource',
        source: { type: 'answer', key: 'size' },
        transforms: [{ type: 'value_map', map: { a: 'Web', b: 'Print' }, fallback: 'drop' }],
      },
      severity: 'error',
      match: /"Print" is not an option/,
    },
    {
      name: 'multi-choice labels that are not picklist values',
      rule: { target: 'Interests', source: { type: 'answer', key: 'interests' }, transforms: [{ type: 'join', separator: ';' }] },
      severity: 'error',
      match: /"Bikes", "Cars" are not options of picklist "Interests"/,
    },
    {
      name: 'constant longer than the field',
      rule: { target: 'Short', source: { type: 'constant', value: 'x'.repeat(300) } },
      severity: 'error',
      match: /longer than the field's 255 characters/,
    },
    {
      name: 'free text that may exceed the field length',
      rule: { target: 'Short', source: { type: 'answer', key: 'size' } },
      severity: 'warning',
      match: /add a truncate to 255/,
    },
    {
      name: 'truncate longer than the field',
      rule: { target: 'Short', source: { type: 'answer', key: 'size' }, transforms: [{ type: 'truncate', length: 500 }] },
      severity: 'warning',
      match: /truncates to 500 characters but the field holds 255/,
    },
    {
      name: 'answer key not on the form',
      rule: { target: 'Description', source: { type: 'answer', key: 'gone' }, transforms: [{ type: 'truncate', length: 100 }] },
      severity: 'warning',
      match: /question "gone" is not on the form/,
    },
    {
      name: 'value map key that is not an option',
      rule: {
        target: 'Interests',
        source: { type: 'answer', key: 'interests' },
        transforms: [
          { type: 'value_map', map: { opt_b: 'bikes', opt_c: 'cars', opt_x: 'bikes' } },
          { type: 'join', separator: ';' },
        ],
      },
      severity: 'warning',
      match: /value map entries "opt_x" are not options of question "interests"/,
    },
    {
      name: 'phone without a default country',
      rule: { target: 'Description', source: { type: 'answer', key: 'email' }, transforms: [{ type: 'phone_e164' }, { type: 'truncate', length: 50 }] },
      severity: 'warning',
      match: /no default country/,
    },
  ];
  for (const c of typeCases) {
    it(`${c.severity}: ${c.name}`, () => {
      const extra = c.name === 'phone without a default country' ? { defaultCountry: undefined } : {};
      const issue = only(check([c.rule], extra));
      expect(issue.severity).to.equal(c.severity);
      expect(issue.field).to.equal(c.rule.target);
      expect(issue.rule).to.equal(3);
      expect(issue.message).to.match(/^rule 4 → /);
      expect(issue.message).to.match(c.match);
    });
  }

  it('value-mapped multi-choice into a multi-select passes', () => {
    expect(
      check([
        {
          target: 'Interests',
          source: { type: 'answer', key: 'interests' },
          transforms: [
            { type: 'value_map', map: { opt_b: 'bikes', opt_c: 'cars' } },
            { type: 'join', separator: ';' },
          ],
        },
      ]),
    ).to.deep.equal([]);
  });

  it('warns that a rule after one that always fills the field is never used', () => {
    const issue = only(check([{ target: 'Company', source: { type: 'constant', value: 'other' } }]));
    expect(issue).to.deep.include({ severity: 'warning', field: 'Company', rule: 3 });
    expect(issue.message).to.include('rule 3 always fills');
  });

  it('checks the unmapped target', () => {
    expect(check([], { unmapped: { target: 'Description' } })).to.deep.equal([]);
    expect(only(check([], { unmapped: { target: 'Employees' } }))).to.deep.include({ severity: 'error', field: 'Employees', rule: null });
    expect(only(check([], { unmapped: { target: 'note' } }))).to.deep.include({ severity: 'warning', field: 'note' });
    expect(only(check([], { unmapped: { target: 'Short' } }))).to.deep.include({ severity: 'warning', field: 'Short' });
  });

  it('an open destination (no fields) only checks the rules themselves', () => {
    // Any target is accepted: there is no field list to hold it against.
    expect(
      validateMapping({ version: 1, rules: [{ target: 'anything', source: { type: 'answer', key: 'email' } }], unmapped: { target: 'x' } }, [], questions),
    ).to.deep.equal([]);
    // The rule itself is still checked: its question must be on the form.
    const issues = validateMapping({ version: 1, rules: [{ target: 'anything', source: { type: 'answer', key: 'gone' } }] }, [], questions);
    expect(issues.map((i) => [i.severity, i.rule])).to.deep.equal([['warning', 0]]);
    expect(issues[0].message).to.match(/question "gone" is not on the form/);
  });

  it('a malformed mapping is reported, with the rule where there is one', () => {
    const issues = validateMapping({ version: 1, rules: [{ target: 'Email', source: { type: 'meta', field: 'bogus' } }] } as unknown as Mapping, fields);
    expect(issues).to.have.length(1);
    expect(issues[0]).to.deep.include({ severity: 'error', field: 'Email', rule: 0 });
    expect(issues[0].message).to.match(/^rule 1: rules\.0\.source/);
  });
});

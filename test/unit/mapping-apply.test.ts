import { expect } from 'chai';
import { applyMapping, leadSourceForPlatform, readMetaField } from '../../src/mapping/apply.js';
import { parseMapping, type FormQuestion, type Mapping, type MappingRule, type MetaField } from '../../src/mapping/schema.js';
import { makeSampleLead } from '../helpers/sample-lead.js';

const questions: FormQuestion[] = [
  { key: 'full_name', label: 'Full name', type: 'FULL_NAME' },
  { key: 'email', label: 'Email', type: 'EMAIL' },
  { key: 'phone_number', label: 'Phone number', type: 'PHONE' },
  {
    key: 'favorite_color?',
    label: 'Favourite colour?',
    type: 'CUSTOM',
    options: [
      { key: 'blue', value: 'Blue' },
      { key: 'green', value: 'Green' },
    ],
  },
];

function mapping(rules: MappingRule[], extra: Partial<Mapping> = {}): Mapping {
  return { version: 1, rules, ...extra };
}

describe('mapping: applyMapping', () => {
  describe('sources', () => {
    const lead = makeSampleLead();
    const metaCases: [MetaField, string | boolean | null][] = [
      ['created_time', '2026-11-20T10:15:00.000Z'],
      ['received_at', '2026-11-20T10:15:01.000Z'],
      ['form_id', '555666777'],
      ['form_name', 'Spring test ride'],
      ['page_id', '100200300'],
      ['page_name', 'Acme Bikes'],
      ['ad_id', '2385000001'],
      ['ad_name', 'Carousel A'],
      ['adset_id', '2385000002'],
      ['adset_name', 'Cyclists 25-45'],
      ['campaign_id', '2385000003'],
      ['campaign_name', 'Spring 2026'],
      ['platform', 'ig'],
      ['is_organic', false],
      ['is_test', false],
      ['leadgen_id', '1234567890123456789'],
      ['lead_id', '7d0c1f6e-7f5a-4c56-9a36-5f7c9d3f0a11'],
      ['lead_source', 'Instagram Lead Ads'],
    ];
    for (const [field, expected] of metaCases) {
      it(`meta ${field}`, () => {
        const out = applyMapping(mapping([{ target: 'x', source: { type: 'meta', field } }]), lead);
        expect(out.fields.x).to.equal(expected);
      });
    }

    it('meta attribution of an organic lead is absent, not "null" text', () => {
      const organic = makeSampleLead({
        is_organic: true,
        attribution: { ad_id: null, ad_name: null, adset_id: null, adset_name: null, campaign_id: null, campaign_name: null },
      });
      const out = applyMapping(mapping([{ target: 'campaign', source: { type: 'meta', field: 'campaign_name' } }]), organic);
      expect(out.fields).to.not.have.property('campaign');
      expect(readMetaField(organic, 'is_organic')).to.equal(true);
    });

    const platforms: [string | null, string][] = [
      ['ig', 'Instagram Lead Ads'],
      ['IG', 'Instagram Lead Ads'],
      ['fb', 'Facebook Lead Ads'],
      [null, 'Facebook Lead Ads'],
      ['messenger', 'Facebook Lead Ads'],
    ];
    for (const [platform, expected] of platforms) {
      it(`lead_source for platform ${platform}`, () => expect(leadSourceForPlatform(platform)).to.equal(expected));
    }

    it('answer by key, multi-value joined with ", " by default', () => {
      const out = applyMapping(mapping([{ target: 'colors', source: { type: 'answer', key: 'favorite_color?' } }]), lead);
      expect(out.fields.colors).to.equal('blue, green');
    });

    it('resolves option keys to labels when the questions are known', () => {
      const out = applyMapping(mapping([{ target: 'colors', source: { type: 'answer', key: 'favorite_color?' } }]), lead, { questions });
      expect(out.fields.colors).to.equal('Blue, Green');
    });

    it('a value map sees the option key when it maps that key', () => {
      const out = applyMapping(
        mapping([
          {
            target: 'colors',
            source: { type: 'answer', key: 'favorite_color?' },
            transforms: [
              { type: 'value_map', map: { blue: 'BLUE_PICK', Green: 'GREEN_PICK' } },
              { type: 'join', separator: ';' },
            ],
          },
        ]),
        lead,
        { questions },
      );
      expect(out.fields.colors).to.equal('BLUE_PICK;GREEN_PICK');
    });

    it('a missing answer leaves the field out', () => {
      const out = applyMapping(mapping([{ target: 'city', source: { type: 'answer', key: 'city' } }]), lead);
      expect(out.fields).to.deep.equal({});
    });

    const consentCases: [unknown, boolean | undefined][] = [
      [true, true],
      [false, false],
      ['1', true],
      ['', false],
    ];
    for (const [checked, expected] of consentCases) {
      it(`consent checked=${JSON.stringify(checked)} → ${expected}`, () => {
        const l = makeSampleLead({ consents: [{ key: 'newsletter_optin', checked: checked as boolean }] });
        const out = applyMapping(mapping([{ target: 'optin', source: { type: 'consent', key: 'newsletter_optin' } }]), l);
        expect(out.fields.optin).to.equal(expected);
        expect(out.unmappedConsentKeys).to.deep.equal([]);
      });
    }

    it('constant values of every type', () => {
      const out = applyMapping(
        mapping([
          { target: 's', source: { type: 'constant', value: 'Facebook' } },
          { target: 'n', source: { type: 'constant', value: 7 } },
          { target: 'b', source: { type: 'constant', value: false } },
        ]),
        lead,
      );
      expect(out.fields).to.deep.equal({ s: 'Facebook', n: 7, b: false });
    });

    const templates: [string, string][] = [
      ['{{campaign_name}} / {{form_name}}', 'Spring 2026 / Spring test ride'],
      ['{{ meta.platform }}:{{answer.email}}', 'ig:zoe.angstrom@example.com'],
      ['{{favorite_color?}}', 'blue, green'],
      ['{{consent.newsletter_optin}}', 'yes'],
      ['{{city|unknown city}} - {{nope}}!', 'unknown city - !'],
      ['no placeholders', 'no placeholders'],
      ['{{lead_source}}', 'Instagram Lead Ads'],
    ];
    for (const [template, expected] of templates) {
      it(`template ${template}`, () => {
        const out = applyMapping(mapping([{ target: 't', source: { type: 'template', template } }]), lead);
        expect(out.fields.t).to.equal(expected);
      });
    }
    it('template fallback for an organic lead without a campaign', () => {
      const organic = makeSampleLead({ attribution: { ...makeSampleLead().attribution, campaign_name: null } });
      const out = applyMapping(mapping([{ target: 't', source: { type: 'template', template: '{{campaign_name|organic}} / {{form_name}}' } }]), organic);
      expect(out.fields.t).to.equal('organic / Spring test ride');
    });
  });

  describe('rules', () => {
    const lead = makeSampleLead();

    it('maps the sample lead to the HubSpot-style record', () => {
      const out = applyMapping(
        mapping(
          [
            { target: 'email', source: { type: 'answer', key: 'email' }, transforms: [{ type: 'trim' }, { type: 'lower' }] },
            { target: 'firstname', source: { type: 'answer', key: 'full_name' }, transforms: [{ type: 'first_name' }] },
            { target: 'lastname', source: { type: 'answer', key: 'full_name' }, transforms: [{ type: 'last_name' }] },
            { target: 'phone', source: { type: 'answer', key: 'phone_number' }, transforms: [{ type: 'phone_e164' }] },
          ],
          { unmapped: { target: 'message' }, defaultCountry: 'GB' },
        ),
        lead,
        { questions },
      );
      expect(out.fields).to.deep.equal({
        email: 'zoe.angstrom@example.com',
        firstname: 'Zoë',
        lastname: 'Ångström-Núñez',
        phone: '+447700900123',
        message: 'Favourite colour?: Blue, Green\nConsent newsletter_optin: yes',
      });
      expect(out.unmappedKeys).to.deep.equal(['favorite_color?']);
      expect(out.unmappedNote).to.equal('Favourite colour?: Blue, Green\nConsent newsletter_optin: yes');
    });

    it('the first non-empty value wins, so a later constant is a fallback', () => {
      const rules: MappingRule[] = [
        { target: 'Company', source: { type: 'answer', key: 'company_name' } },
        { target: 'Company', source: { type: 'constant', value: '[not provided]' } },
      ];
      expect(applyMapping(mapping(rules), lead).fields.Company).to.equal('[not provided]');
      const withCompany = makeSampleLead({ answers: [{ key: 'company_name', values: ['Acme'] }] });
      const out = applyMapping(mapping(rules), withCompany);
      expect(out.fields.Company).to.equal('Acme');
      expect(out.unmappedKeys).to.deep.equal([]);
    });

    it('an answer whose rule lost to an earlier rule for the same field goes to the note', () => {
      const l = makeSampleLead({
        answers: [
          { key: 'a', values: ['first'] },
          { key: 'b', values: ['second'] },
        ],
        consents: [],
      });
      const out = applyMapping(
        mapping([
          { target: 'x', source: { type: 'answer', key: 'a' } },
          { target: 'x', source: { type: 'answer', key: 'b' } },
        ]),
        l,
      );
      expect(out.fields.x).to.equal('first');
      expect(out.unmappedKeys).to.deep.equal(['b']);
      expect(out.unmappedNote).to.equal('b: second');
    });

    it('without an unmapped target the note is still returned, and no field is added', () => {
      const out = applyMapping(mapping([]), lead, { questions });
      expect(out.fields).to.deep.equal({});
      expect(out.unmappedKeys).to.deep.equal(['full_name', 'email', 'phone_number', 'favorite_color?']);
      expect(out.unmappedNote).to.equal(
        'Full name: Zoë Ångström-Núñez\nEmail: zoe.angstrom@example.com\nPhone number: +44 7700 900123\nFavourite colour?: Blue, Green\nConsent newsletter_optin: yes',
      );
    });

    it('uses keys instead of labels when includeLabels is false, and consent labels when given', () => {
      const l = makeSampleLead({ answers: [{ key: 'car_make', values: ['Škoda'] }] });
      const out = applyMapping(mapping([], { unmapped: { target: 'note', includeLabels: false } }), l, {
        questions: [{ key: 'car_make', label: 'Which car?', type: 'CUSTOM' }],
        consentLabels: { newsletter_optin: 'Newsletter' },
      });
      expect(out.fields.note).to.equal('car_make: Škoda\nConsent newsletter_optin: yes');
      const labelled = applyMapping(mapping([], { unmapped: { target: 'note' } }), l, {
        questions: [{ key: 'car_make', label: 'Which car?', type: 'CUSTOM' }],
        consentLabels: { newsletter_optin: 'Newsletter' },
      });
      expect(labelled.fields.note).to.equal('Which car?: Škoda\nConsent Newsletter: yes');
    });

    it('appends the note to a field a rule already filled', () => {
      const out = applyMapping(
        mapping([{ target: 'Description', source: { type: 'template', template: 'From {{form_name}}' } }], { unmapped: { target: 'Description' } }),
        makeSampleLead({ answers: [{ key: 'q', values: ['v'] }], consents: [] }),
      );
      expect(out.fields.Description).to.equal('From Spring test ride\n\nq: v');
    });

    it('keeps a truncated answer whole in the note', () => {
      const l = makeSampleLead({ answers: [{ key: 'comment', values: ['A very long comment indeed'] }], consents: [] });
      const out = applyMapping(mapping([{ target: 'c', source: { type: 'answer', key: 'comment' }, transforms: [{ type: 'truncate', length: 6 }] }]), l);
      expect(out.fields.c).to.equal('A very');
      expect(out.unmappedNote).to.equal('comment: A very long comment indeed');
      expect(out.warnings.join(' ')).to.not.include('comment indeed');
    });

    it('keeps a value-map-dropped answer in the note', () => {
      const l = makeSampleLead({ answers: [{ key: 'size', values: ['xxl'] }], consents: [] });
      const out = applyMapping(
        mapping([{ target: 's', source: { type: 'answer', key: 'size' }, transforms: [{ type: 'value_map', map: { s: 'Small' }, fallback: 'drop' }] }]),
        l,
      );
      expect(out.fields).to.deep.equal({});
      expect(out.unmappedKeys).to.deep.equal(['size']);
    });

    it('a full name of which only the first name is mapped is kept in the note', () => {
      const l = makeSampleLead({ answers: [{ key: 'full_name', values: ['Jane Smith'] }], consents: [] });
      const out = applyMapping(mapping([{ target: 'first', source: { type: 'answer', key: 'full_name' }, transforms: [{ type: 'first_name' }] }]), l);
      expect(out.fields.first).to.equal('Jane');
      expect(out.unmappedKeys).to.deep.equal(['full_name']);
      expect(out.unmappedNote).to.contain('Jane Smith');
    });

    it('a one-word name is whole in first name: nothing goes to the note, one warning', () => {
      const l = makeSampleLead({ answers: [{ key: 'full_name', values: ['Cher'] }], consents: [] });
      const out = applyMapping(
        mapping([
          { target: 'FirstName', source: { type: 'answer', key: 'full_name' }, transforms: [{ type: 'first_name' }] },
          { target: 'LastName', source: { type: 'answer', key: 'full_name' }, transforms: [{ type: 'last_name' }] },
          { target: 'LastName', source: { type: 'constant', value: '[not provided]' } },
        ]),
        l,
      );
      expect(out.fields).to.deep.equal({ FirstName: 'Cher', LastName: '[not provided]' });
      expect(out.unmappedKeys).to.deep.equal([]);
      expect(out.warnings).to.have.length(1);
      expect(out.warnings[0]).to.match(/^rule 2 \(LastName\): /);
      expect(out.warnings[0]).to.not.include('Cher');
    });

    it('warnings name the rule and never the value', () => {
      const l = makeSampleLead({ answers: [{ key: 'phone_number', values: ['555 CALL NOW'] }] });
      const out = applyMapping(
        mapping([{ target: 'phone', source: { type: 'answer', key: 'phone_number' }, transforms: [{ type: 'phone_e164' }] }], { defaultCountry: 'GB' }),
        l,
      );
      expect(out.fields.phone).to.equal('555 CALL NOW');
      expect(out.warnings).to.deep.equal(['rule 1 (phone): phone is not a valid number for GB; kept as it was']);
    });

    it('the context default country is used when the mapping has none', () => {
      const l = makeSampleLead({ answers: [{ key: 'p', values: ['07911 123456'] }] });
      const rules: MappingRule[] = [{ target: 'phone', source: { type: 'answer', key: 'p' }, transforms: [{ type: 'phone_e164' }] }];
      expect(applyMapping(mapping(rules), l, { defaultCountry: 'GB' }).fields.phone).to.equal('+447911123456');
      expect(applyMapping(mapping(rules, { defaultCountry: 'GB' }), l, { defaultCountry: 'FR' }).fields.phone).to.equal('+447911123456');
    });

    it('a repeated answer key keeps every value', () => {
      const l = makeSampleLead({
        answers: [
          { key: 'x', values: ['a'] },
          { key: 'x', values: ['b'] },
        ],
        consents: [],
      });
      expect(applyMapping(mapping([{ target: 'x', source: { type: 'answer', key: 'x' } }]), l).fields.x).to.equal('a, b');
    });

    it('a target named __proto__ is an ordinary key', () => {
      const out = applyMapping(mapping([{ target: '__proto__', source: { type: 'constant', value: 'v' } }]), makeSampleLead());
      expect(Object.getPrototypeOf(out.fields)).to.equal(Object.prototype);
      expect(Object.keys(out.fields)).to.deep.equal(['__proto__']);
      expect(JSON.parse(JSON.stringify(out.fields))).to.have.own.property('__proto__');
    });

    it('does not throw on a malformed lead or mapping', () => {
      const broken = {
        ...makeSampleLead(),
        answers: [{ key: 5, values: 'x' }, null, { key: 'k', values: [1, null, { a: 1 }] }],
        consents: 'nope',
      } as unknown as ReturnType<typeof makeSampleLead>;
      const out = applyMapping(
        { version: 1, rules: [null, { target: 'a' }, { target: 'b', source: { type: 'answer', key: 'k' } }] } as unknown as Mapping,
        broken,
      );
      expect(out.fields.b).to.equal('1, {"a":1}');
      expect(out.unmappedKeys).to.deep.equal(['5']);
      expect(out.warnings).to.have.length(2);
    });
  });

  describe('parseMapping', () => {
    it('accepts a stored mapping and names the wrong path otherwise', () => {
      expect(parseMapping({ version: 1, rules: [{ target: 'email', source: { type: 'answer', key: 'email' } }] }).ok).to.equal(true);
      const bad = parseMapping({ version: 1, rules: [{ target: 'x', source: { type: 'meta', field: 'nope' } }] });
      expect(bad.ok).to.equal(false);
      if (!bad.ok) expect(bad.errors[0]).to.match(/^rules\.0\.source/);
    });
  });
});

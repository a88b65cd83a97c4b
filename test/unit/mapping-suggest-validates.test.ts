// A suggestion always passes its own validation, for every registered connector: whatever the
// form asks and whatever fields the CRM has (types, required flags, lengths, picklists), what
// `mappings suggest` proposes is what `mappings set` accepts.
import { expect } from 'chai';
import fc from 'fast-check';
import { fieldMappingOf, listManifests } from '../../connectors/index.js';
import type { FieldDescriptor, FieldType } from '../../connectors/types.js';
import { mappingSchema, type FormQuestion, type MappingPreset } from '../../src/mapping/schema.js';
import { loadPreset, PLACEHOLDER_TEXT, proposeMapping, suggestMapping } from '../../src/mapping/suggest.js';
import { validateMapping, type MappingIssue } from '../../src/mapping/validate.js';

const FIELD_TYPES: FieldType[] = ['string', 'text', 'email', 'phone', 'number', 'boolean', 'date', 'datetime', 'enum', 'multienum', 'url', 'id', 'other'];
const QUESTION_TYPES = [
  'CUSTOM',
  'FULL_NAME',
  'FIRST_NAME',
  'LAST_NAME',
  'EMAIL',
  'WORK_EMAIL',
  'PHONE',
  'WORK_PHONE_NUMBER',
  'WHATSAPP_NUMBER',
  'CITY',
  'STATE',
  'ZIP',
  'POST_CODE',
  'COUNTRY',
  'COMPANY_NAME',
  'JOB_TITLE',
  'DOB',
  'DATE_TIME',
  'GENDER',
  'STORE_LOOKUP',
  'SLIDER',
];

const text = (maxLength: number) =>
  fc.oneof(
    fc.string({ unit: 'grapheme', maxLength }),
    fc.constantFrom('', ' ', 'Budget', 'Which bike?', 'E-bike', 'Road', 'Facebook Lead Ads', 'a;b', 'Ünïcødé', '選擇'),
  );

/** Every target a preset may write: standard targets, extra rules, the unmapped field. */
function presetTargets(preset: MappingPreset): string[] {
  const out = new Set<string>();
  for (const targets of Object.values(preset.standard)) for (const t of targets) out.add(t.target);
  for (const r of preset.extraRules ?? []) out.add(r.target);
  if (preset.unmapped) out.add(preset.unmapped.target);
  return [...out];
}

function questionsArb(preset: MappingPreset): fc.Arbitrary<FormQuestion[]> {
  const keys = [...Object.keys(preset.keyAliases ?? {}), 'full_name', 'email', 'phone_number', 'country', 'budget', 'which_bike?', ''];
  const question = fc.record({
    key: fc.oneof(fc.constantFrom(...keys), text(10)),
    label: text(20),
    type: fc.oneof(fc.constantFrom(...QUESTION_TYPES), fc.constantFrom(...Object.keys(preset.standard).concat('CUSTOM'))),
    options: fc.option(fc.array(fc.record({ key: text(8), value: text(12) }), { maxLength: 4 }), { nil: undefined }),
  });
  return fc.array(question, { maxLength: 10 });
}

function fieldsArb(preset: MappingPreset): fc.Arbitrary<FieldDescriptor[]> {
  const keys = [...presetTargets(preset), 'budget', 'which_bike', 'notes', 'custom_1'];
  const field = fc.record(
    {
      key: fc.oneof(fc.constantFrom(...keys), fc.string({ minLength: 1, maxLength: 8 })),
      label: text(16),
      type: fc.constantFrom(...FIELD_TYPES),
      required: fc.boolean(),
      length: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
      // CRMs give every picklist option a non-empty value.
      options: fc.option(fc.array(fc.record({ value: text(10).filter((v) => v.length > 0), label: text(12) }), { maxLength: 5 }), { nil: undefined }),
      isExternalId: fc.option(fc.boolean(), { nil: undefined }),
    },
    { requiredKeys: ['key', 'label', 'type', 'required'] },
  );
  // A CRM lists each field once.
  return fc.uniqueArray(field, { selector: (f) => f.key, maxLength: 14 });
}

const errorsOf = (issues: MappingIssue[]) => issues.filter((i) => i.severity === 'error').map((i) => i.message);

describe('mapping: a suggestion passes its own validation', () => {
  for (const connector of listManifests()) {
    const preset = loadPreset(connector.id);
    const support = fieldMappingOf(connector);
    const openTargets = support.targets === 'open';

    it(`${connector.id}: for any form and any ${openTargets ? 'documented keys' : 'CRM fields'}`, () => {
      const fields: fc.Arbitrary<FieldDescriptor[]> = openTargets ? fc.constant([...(support.knownTargets ?? [])]) : fieldsArb(preset);
      fc.assert(
        fc.property(questionsArb(preset), fields, (questions, crmFields) => {
          const mapping = suggestMapping(connector.id, questions, crmFields, preset, { openTargets });
          expect(mappingSchema.safeParse(mapping).success, JSON.stringify(mapping)).to.equal(true);
          expect(errorsOf(validateMapping(mapping, crmFields, questions, { openTargets })), JSON.stringify(mapping)).to.deep.equal([]);
        }),
        { numRuns: 300 },
      );
    });

    it(`${connector.id}: for any form, before the CRM is connected (no field list yet)`, () => {
      fc.assert(
        fc.property(questionsArb(preset), (questions) => {
          const mapping = suggestMapping(connector.id, questions, [], preset, { openTargets });
          expect(errorsOf(validateMapping(mapping, [], questions, { openTargets })), JSON.stringify(mapping)).to.deep.equal([]);
        }),
        { numRuns: 150 },
      );
    });
  }

  describe('a typical form into each CRM', () => {
    const questions: FormQuestion[] = [
      { key: 'full_name', label: 'Full name', type: 'FULL_NAME' },
      { key: 'email', label: 'Email', type: 'EMAIL' },
      { key: 'phone_number', label: 'Phone number', type: 'PHONE' },
      { key: 'country', label: 'Country', type: 'COUNTRY' },
      {
        key: 'bike',
        label: 'Which bike?',
        type: 'CUSTOM',
        options: [
          { key: 'road', value: 'Road bike' },
          { key: 'e', value: 'E-bike' },
        ],
      },
      { key: 'budget', label: 'Budget', type: 'CUSTOM' },
    ];
    const f = (key: string, label: string, type: FieldType, extra: Partial<FieldDescriptor> = {}): FieldDescriptor => ({
      key,
      label,
      type,
      required: false,
      ...extra,
    });
    const crmFields: Record<string, FieldDescriptor[]> = {
      hubspot: [
        f('email', 'Email', 'email'),
        f('firstname', 'First name', 'string'),
        f('lastname', 'Last name', 'string'),
        f('phone', 'Phone', 'phone'),
        f('country', 'Country', 'string'),
        f('message', 'Message', 'text'),
        f('lr_fb_lead_id', 'Facebook lead id', 'string'),
        f('hs_lead_status', 'Lead status', 'enum', {
          required: true,
          options: [
            { value: 'NEW', label: 'New' },
            { value: 'OPEN', label: 'Open' },
          ],
        }),
      ],
      salesforce: [
        f('FirstName', 'First Name', 'string', { length: 40 }),
        f('LastName', 'Last Name', 'string', { required: true, length: 80 }),
        f('Company', 'Company', 'string', { required: true, length: 255 }),
        f('Email', 'Email', 'email', { length: 80 }),
        f('Phone', 'Phone', 'phone', { length: 40 }),
        f('Country', 'Country', 'string', { length: 80 }),
        f('Description', 'Description', 'text', { length: 32000 }),
        f('NumberOfEmployees', 'Employees', 'number', { required: true }),
      ],
      pipedrive: [
        f('person.name', 'Person name', 'string', { required: true }),
        f('person.email', 'Person email', 'email'),
        f('person.phone', 'Person phone', 'phone'),
        f('title', 'Lead title', 'string', { required: true }),
        f('note', 'Note', 'text'),
        f('9f1c9f1c9f1c9f1c9f1c9f1c9f1c9f1c9f1c9f1c', 'Fleet size', 'string', { required: true }),
      ],
    };
    for (const connector of listManifests()) {
      const support = fieldMappingOf(connector);
      const openTargets = support.targets === 'open';
      const fields = openTargets ? [...(support.knownTargets ?? [])] : crmFields[connector.id];
      if (!fields) continue;
      it(`${connector.id}: no errors, and each required field no question fills gets a placeholder that is reported`, () => {
        const { mapping, placeholders } = proposeMapping(connector.id, questions, fields, loadPreset(connector.id), { openTargets });
        expect(errorsOf(validateMapping(mapping, fields, questions, { openTargets }))).to.deep.equal([]);
        for (const p of placeholders) expect(mapping.rules[p.rule].target).to.equal(p.field.key);
        const expected: Record<string, string[]> = {
          hubspot: ['hs_lead_status'],
          salesforce: ['NumberOfEmployees'],
          pipedrive: ['9f1c9f1c9f1c9f1c9f1c9f1c9f1c9f1c9f1c9f1c'],
          webhook: [],
        };
        expect(placeholders.map((p) => p.field.key)).to.deep.equal(expected[connector.id] ?? []);
      });
    }

    it("placeholders are typed: text, number, yes/no, the submission date, the first picklist option, the lead's own id for a unique key", () => {
      const fields = [
        f('a', 'A', 'string', { required: true, length: 5 }),
        f('b', 'B', 'number', { required: true }),
        f('c', 'C', 'boolean', { required: true }),
        f('d', 'D', 'date', { required: true }),
        f('e', 'E', 'enum', {
          required: true,
          options: [
            { value: 'x', label: 'X' },
            { value: 'y', label: 'Y' },
          ],
        }),
        f('g', 'G', 'string', { required: true, isExternalId: true }),
      ];
      const { mapping } = proposeMapping('custom', [], fields, { crm: 'custom', standard: {}, unmapped: null });
      expect(mapping.rules).to.deep.equal([
        { target: 'a', source: { type: 'constant', value: PLACEHOLDER_TEXT.slice(0, 5) } },
        { target: 'b', source: { type: 'constant', value: 0 } },
        { target: 'c', source: { type: 'constant', value: false } },
        { target: 'd', source: { type: 'meta', field: 'created_time' }, transforms: [{ type: 'date', format: 'date' }] },
        { target: 'e', source: { type: 'constant', value: 'x' } },
        { target: 'g', source: { type: 'meta', field: 'leadgen_id' } },
      ]);
    });

    it('no placeholders when asked not to (the delivery-time preset never invents values)', () => {
      const { mapping, placeholders } = proposeMapping(
        'custom',
        [],
        [f('a', 'A', 'string', { required: true })],
        { crm: 'custom', standard: {}, unmapped: null },
        { fillRequired: false },
      );
      expect(mapping.rules).to.deep.equal([]);
      expect(placeholders).to.deep.equal([]);
    });

    it('the note goes to the connector, not to a CRM field that cannot hold text', () => {
      const preset = loadPreset('hubspot');
      const mapping = suggestMapping('hubspot', questions, [f('email', 'Email', 'email'), f('message', 'Message', 'number')], preset);
      expect(mapping.unmapped).to.equal(null);
    });
  });
});

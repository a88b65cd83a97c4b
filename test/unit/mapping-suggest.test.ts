import { expect } from 'chai';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FieldDescriptor } from '../../connectors/types.js';
import { applyMapping } from '../../src/mapping/apply.js';
import type { FormQuestion, Mapping, MappingPreset } from '../../src/mapping/schema.js';
import { diceCoefficient, labelSimilarity, normalizeLabel, tokenOverlap } from '../../src/mapping/similarity.js';
import { buildOptionValueMap, loadPreset, standardTypeOf, suggestMapping } from '../../src/mapping/suggest.js';
import { validateMapping } from '../../src/mapping/validate.js';
import { makeSampleLead } from '../helpers/sample-lead.js';

const field = (key: string, label: string, type: FieldDescriptor['type'] = 'string', extra: Partial<FieldDescriptor> = {}): FieldDescriptor => ({
  key,
  label,
  type,
  required: false,
  ...extra,
});

const questions: FormQuestion[] = [
  { key: 'full_name', label: 'Full name', type: 'FULL_NAME' },
  { key: 'email', label: 'Email', type: 'EMAIL' },
  { key: 'phone_number', label: 'Phone number', type: 'PHONE' },
  { key: 'company_name', label: 'Company name', type: 'COMPANY_NAME' },
  { key: 'job_title', label: 'Job title', type: 'JOB_TITLE' },
  { key: 'city', label: 'City', type: 'CITY' },
  {
    key: 'car_make',
    label: 'Which car make do you drive?',
    type: 'CUSTOM',
    options: [
      { key: 'opt_vw', value: 'Volkswagen' },
      { key: 'opt_skoda', value: 'Škoda' },
      { key: 'opt_other', value: 'Something else' },
    ],
  },
  { key: 'budget', label: 'What is your budget?', type: 'CUSTOM' },
  { key: 'favorite_color?', label: 'Favourite colour?', type: 'CUSTOM' },
];

const hubspotFields: FieldDescriptor[] = [
  field('email', 'Email', 'email'),
  field('firstname', 'First Name'),
  field('lastname', 'Last Name'),
  field('phone', 'Phone Number', 'phone'),
  field('company', 'Company Name'),
  field('jobtitle', 'Job Title'),
  field('city', 'City'),
  field('message', 'Message', 'text'),
  field('lr_platform', 'Lead platform'),
  field('lr_fb_lead_id', 'Facebook lead id'),
  field('lr_campaign_name', 'Campaign name'),
  field('lr_form_name', 'Form name'),
  field('car_brand', 'Car make', 'multienum', {
    options: [
      { value: 'vw', label: 'Volkswagen' },
      { value: 'skoda', label: 'Skoda' },
    ],
  }),
  field('budget_eur', 'Budget', 'number'),
  field('hs_object_id', 'Record ID', 'id'),
];

const salesforceFields: FieldDescriptor[] = [
  field('FirstName', 'First Name', 'string', { length: 40 }),
  field('LastName', 'Last Name', 'string', { required: true, length: 80 }),
  field('Company', 'Company', 'string', { required: true, length: 255 }),
  field('Email', 'Email', 'email', { length: 80 }),
  field('Phone', 'Phone', 'phone', { length: 40 }),
  field('Title', 'Title', 'string', { length: 128 }),
  field('City', 'City', 'string', { length: 40 }),
  field('Description', 'Description', 'text', { length: 32000 }),
  field('LeadSource', 'Lead Source', 'enum', {
    options: [
      { value: 'Web', label: 'Web' },
      { value: 'Facebook Lead Ads', label: 'Facebook Lead Ads' },
      { value: 'Instagram Lead Ads', label: 'Instagram Lead Ads' },
    ],
  }),
  field('FB_Lead_Id__c', 'FB Lead Id', 'string', { length: 40, isExternalId: true }),
];

function targetsOf(mapping: Mapping): string[] {
  return mapping.rules.map((r) => r.target);
}

describe('mapping: label similarity', () => {
  const normalized: [string, string][] = [
    ['Código Postal', 'codigo postal'],
    ['CarMake__c', 'car make'],
    ['favorite_color?', 'favorite color'],
    ['Ваш город?', 'ваш город'],
  ];
  for (const [input, expected] of normalized) it(`normalizes ${input}`, () => expect(normalizeLabel(input)).to.equal(expected));

  it('scores equal labels 1 and unrelated labels low', () => {
    expect(labelSimilarity('Car make', 'car_make')).to.equal(1);
    expect(labelSimilarity('What is your budget?', 'Budget')).to.equal(1);
    expect(labelSimilarity('Preferred contact time', 'Annual revenue')).to.be.below(0.3);
    expect(diceCoefficient('night', 'nacht')).to.be.closeTo(0.25, 0.001);
    expect(tokenOverlap('car make model', 'car make')).to.be.closeTo(0.8, 0.001);
  });
});

describe('mapping: presets', () => {
  for (const crm of ['hubspot', 'salesforce', 'pipedrive', 'webhook']) {
    it(`config/mappings/${crm}.json loads and parses`, () => {
      const preset = loadPreset(crm);
      expect(preset.crm).to.equal(crm);
    });
  }
  it('names a missing or malformed preset', () => {
    const root = mkdtempSync(join(tmpdir(), 'lr-presets-'));
    mkdirSync(join(root, 'config/mappings'), { recursive: true });
    writeFileSync(join(root, 'config/mappings/broken.json'), '{"crm":"broken","standard":{"EMAIL":[{"target":""}]},"unmapped":null}');
    writeFileSync(join(root, 'config/mappings/notjson.json'), '{');
    expect(() => loadPreset('absent', root)).to.throw(/config\/mappings\/absent\.json is missing/);
    expect(() => loadPreset('broken', root)).to.throw(/standard\.EMAIL\.0\.target/);
    expect(() => loadPreset('notjson', root)).to.throw(/not valid JSON/);
    expect(() => loadPreset('../secrets', root)).to.throw(/must be lower-case/);
  });
  it('salesforce: LastName and Company have constant fallbacks; unmapped → Description', () => {
    const preset = loadPreset('salesforce');
    expect(preset.unmapped?.target).to.equal('Description');
    expect(preset.extraRules?.filter((r) => r.source.type === 'constant').map((r) => r.target)).to.have.members(['LastName', 'Company']);
  });
  it('reads standard types from the question type or, for CUSTOM, the key', () => {
    const preset = loadPreset('hubspot');
    expect(standardTypeOf({ key: 'x', label: 'x', type: 'email' }, preset)).to.equal('EMAIL');
    expect(standardTypeOf({ key: 'phone_number', label: 'Phone', type: 'CUSTOM' }, preset)).to.equal('PHONE');
    expect(standardTypeOf({ key: 'car', label: 'Car', type: 'CUSTOM' }, preset)).to.equal(null);
  });
});

describe('mapping: suggestMapping', () => {
  it('hubspot: standard, custom-by-label and attribution, and validates without errors', () => {
    const m = suggestMapping('hubspot', questions, hubspotFields);
    const byTarget = new Map(m.rules.map((r) => [r.target, r]));
    expect(byTarget.get('email')?.source).to.deep.equal({ type: 'answer', key: 'email' });
    expect(byTarget.get('firstname')?.transforms).to.deep.equal([{ type: 'first_name' }]);
    expect(byTarget.get('lastname')?.transforms).to.deep.equal([{ type: 'last_name' }]);
    expect(byTarget.get('phone')?.transforms?.map((t) => t.type)).to.include('phone_e164');
    expect(byTarget.get('company')?.source).to.deep.equal({ type: 'answer', key: 'company_name' });
    expect(byTarget.get('jobtitle')?.source).to.deep.equal({ type: 'answer', key: 'job_title' });
    expect(byTarget.get('lr_platform')?.source).to.deep.equal({ type: 'meta', field: 'platform' });
    expect(byTarget.get('lr_fb_lead_id')?.source).to.deep.equal({ type: 'meta', field: 'leadgen_id' });
    expect(byTarget.get('budget_eur')?.source).to.deep.equal({ type: 'answer', key: 'budget' });
    expect(byTarget.get('budget_eur')?.transforms?.map((t) => t.type)).to.include('number');
    // A multi-select picklist gets a value map (keys and labels) and HubSpot's ';' join.
    const car = byTarget.get('car_brand');
    expect(car?.source).to.deep.equal({ type: 'answer', key: 'car_make' });
    const valueMap = car?.transforms?.find((t) => t.type === 'value_map');
    expect(valueMap).to.deep.include({ fallback: 'drop' });
    expect((valueMap as { map: Record<string, string> }).map).to.deep.include({ opt_vw: 'vw', Volkswagen: 'vw', opt_skoda: 'skoda', Škoda: 'skoda' });
    expect(car?.transforms?.at(-1)).to.deep.equal({ type: 'join', separator: ';' });
    expect(m.unmapped).to.deep.equal({ target: 'message', includeLabels: true });
    expect(targetsOf(m)).to.not.include('hs_object_id');
    expect(validateMapping(m, hubspotFields, questions).filter((i) => i.severity === 'error')).to.deep.equal([]);
  });

  it('hubspot: the suggestion maps a lead and sends the rest to the note', () => {
    const m = suggestMapping('hubspot', questions, hubspotFields, undefined, { defaultCountry: 'GB' });
    const lead = makeSampleLead({
      answers: [
        { key: 'full_name', values: ['Dr. Jane Smith-Jones'] },
        { key: 'email', values: [' jane@example.com '] },
        { key: 'phone_number', values: ['07911 123456'] },
        { key: 'car_make', values: ['opt_vw', 'opt_other'] },
        { key: 'favorite_color?', values: ['blue'] },
      ],
    });
    const out = applyMapping(m, lead, { questions });
    expect(out.fields).to.deep.include({ email: 'jane@example.com', firstname: 'Jane', lastname: 'Smith-Jones', phone: '+447911123456', car_brand: 'vw' });
    // "Something else" has no picklist match: dropped from the field, so the whole answer is in the note.
    expect(out.unmappedKeys).to.have.members(['car_make', 'favorite_color?']);
    expect(out.fields.message).to.include('Which car make do you drive?: Volkswagen, Something else');
  });

  it('salesforce: required fields covered, LeadSource when the picklist has the values, lengths truncated', () => {
    const m = suggestMapping('salesforce', questions, salesforceFields);
    const targets = targetsOf(m);
    expect(targets.filter((t) => t === 'LastName')).to.have.length(2); // answer, then constant fallback
    expect(targets.indexOf('Company')).to.be.below(targets.lastIndexOf('Company'));
    expect(m.rules.find((r) => r.target === 'LeadSource')?.source).to.deep.equal({ type: 'meta', field: 'lead_source' });
    expect(m.rules.find((r) => r.target === 'FirstName')?.transforms).to.deep.equal([{ type: 'first_name' }, { type: 'truncate', length: 40 }]);
    expect(m.rules.find((r) => r.target === 'Company' && r.source.type === 'constant')?.transforms).to.equal(undefined);
    expect(validateMapping(m, salesforceFields, questions)).to.deep.equal([
      {
        severity: 'warning',
        field: 'Phone',
        rule: m.rules.findIndex((r) => r.target === 'Phone'),
        message: `rule ${m.rules.findIndex((r) => r.target === 'Phone') + 1} → Phone: no default country: phone numbers typed without +country code will be kept as typed`,
      },
    ]);
    const out = applyMapping(m, makeSampleLead({ platform: 'fb' }), { questions });
    expect(out.fields).to.deep.include({ LeadSource: 'Facebook Lead Ads', Company: '[not provided]', FB_Lead_Id__c: '1234567890123456789' });
  });

  it('salesforce: skips LeadSource when the picklist lacks the values', () => {
    const fields = salesforceFields.map((f) => (f.key === 'LeadSource' ? { ...f, options: [{ value: 'Web', label: 'Web' }] } : f));
    const m = suggestMapping('salesforce', questions, fields);
    expect(targetsOf(m)).to.not.include('LeadSource');
    expect(validateMapping(m, fields, questions).filter((i) => i.severity === 'error')).to.deep.equal([]);
  });

  it('never maps two questions to the same target', () => {
    const qs: FormQuestion[] = [
      { key: 'email', label: 'Email', type: 'EMAIL' },
      { key: 'work_email', label: 'Work email', type: 'WORK_EMAIL' },
      { key: 'email_2', label: 'Email', type: 'CUSTOM' },
      { key: 'phone_number', label: 'Phone', type: 'PHONE' },
      { key: 'work_phone_number', label: 'Work phone', type: 'WORK_PHONE_NUMBER' },
    ];
    for (const crm of ['hubspot', 'salesforce', 'pipedrive']) {
      const m = suggestMapping(crm, qs, crm === 'hubspot' ? hubspotFields : crm === 'salesforce' ? salesforceFields : []);
      const questionTargets = m.rules.filter((r) => r.source.type === 'answer').map((r) => r.target);
      // Not vacuous: several questions did get a target.
      expect(questionTargets.length, crm).to.be.greaterThan(1);
      expect(new Set(questionTargets).size, crm).to.equal(questionTargets.length);
    }
  });

  it('WORK_EMAIL takes email when the form has no EMAIL question', () => {
    const m = suggestMapping('hubspot', [{ key: 'work_email', label: 'Work email', type: 'WORK_EMAIL' }], hubspotFields);
    expect(m.rules.find((r) => r.target === 'email')?.source).to.deep.equal({ type: 'answer', key: 'work_email' });
  });

  it('only suggests targets that exist among the fields', () => {
    const fields = [field('email', 'Email', 'email')];
    const m = suggestMapping('hubspot', questions, fields);
    expect(targetsOf(m)).to.deep.equal(['email']);
  });

  it('custom questions with non-Latin labels match fields in the same script', () => {
    const fields = [field('city_ru', 'Город'), field('notes', 'Заметки', 'text')];
    const m = suggestMapping('hubspot', [{ key: 'gorod', label: 'Ваш город?', type: 'CUSTOM' }], fields);
    expect(m.rules).to.deep.equal([{ target: 'city_ru', source: { type: 'answer', key: 'gorod' }, transforms: [{ type: 'trim' }] }]);
  });

  it('leaves a question unmapped when no field is similar enough', () => {
    const m = suggestMapping('hubspot', [{ key: 'q1', label: 'When can we call you?', type: 'CUSTOM' }], hubspotFields);
    expect(m.rules.filter((r) => r.source.type === 'answer')).to.deep.equal([]);
  });

  it('does not put free text into a picklist', () => {
    const fields = [field('industry', 'Industry', 'enum', { options: [{ value: 'tech', label: 'Technology' }] })];
    const m = suggestMapping('hubspot', [{ key: 'industry', label: 'Industry', type: 'CUSTOM' }], fields);
    expect(m.rules).to.deep.equal([]);
  });

  it('webhook: maps every question by key, plus attribution, whatever fields it describes', () => {
    const m = suggestMapping('webhook', questions, [field('leadgen_id', 'Meta leadgen id', 'id', { required: true })]);
    for (const q of questions) expect(m.rules).to.deep.include({ target: q.key, source: { type: 'answer', key: q.key } });
    expect(m.rules).to.deep.include({ target: 'lr_platform', source: { type: 'meta', field: 'platform' } });
    const out = applyMapping(m, makeSampleLead(), { questions });
    expect(out.unmappedKeys).to.deep.equal([]);
    expect(out.fields['favorite_color?']).to.equal('blue, green');
  });

  it('pipedrive: person name whole, lead title from a template, unmapped → note', () => {
    const fields = [
      field('person.name', 'Person: Name'),
      field('person.email', 'Person: Email', 'email'),
      field('person.phone', 'Person: Phone', 'phone'),
      field('title', 'Lead title', 'string', { required: true }),
      field('note', 'Note on the lead', 'text'),
    ];
    const m = suggestMapping('pipedrive', questions, fields);
    expect(m.rules.find((r) => r.target === 'person.name')?.source).to.deep.equal({ type: 'answer', key: 'full_name' });
    expect(m.rules.find((r) => r.target === 'person.email')?.source).to.deep.equal({ type: 'answer', key: 'email' });
    expect(m.unmapped?.target).to.equal('note');
    const out = applyMapping(m, makeSampleLead(), { questions });
    expect(out.fields.title).to.equal('Zoë Ångström-Núñez – Spring test ride');
    expect(validateMapping(m, fields, questions).filter((i) => i.severity === 'error')).to.deep.equal([]);
  });

  it('takes a preset object instead of the file', () => {
    const preset: MappingPreset = { crm: 'custom', standard: { EMAIL: [{ target: 'mail' }] }, unmapped: { target: 'notes' } };
    const m = suggestMapping('custom', questions, [field('mail', 'Mail', 'email'), field('notes', 'Notes', 'text')], preset);
    expect(m).to.deep.equal({ version: 1, rules: [{ target: 'mail', source: { type: 'answer', key: 'email' } }], unmapped: { target: 'notes' } });
  });

  it('buildOptionValueMap pairs options by label and skips the unmatched', () => {
    expect(
      buildOptionValueMap(
        [
          { key: 'a', value: 'Small business' },
          { key: 'b', value: 'Enterprise' },
          { key: 'c', value: 'Hobby' },
        ],
        [
          { value: 'smb', label: 'Small Business' },
          { value: 'ent', label: 'Enterprise' },
        ],
      ),
    ).to.deep.equal({ a: 'smb', 'Small business': 'smb', b: 'ent', Enterprise: 'ent' });
  });
});

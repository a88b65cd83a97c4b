import { expect } from 'chai';
import type { FieldDescriptor } from '../../connectors/types.js';
import { canonicalLeadSchema } from '../../src/lead/canonical.js';
import { previewMapping } from '../../src/mapping/preview.js';
import { sampleLeadFromQuestions } from '../../src/mapping/sample-lead.js';
import type { FormQuestion } from '../../src/mapping/schema.js';
import { suggestMapping } from '../../src/mapping/suggest.js';
import { makeSampleLead } from '../helpers/sample-lead.js';

const questions: FormQuestion[] = [
  { key: 'full_name', label: 'Full name', type: 'FULL_NAME' },
  { key: 'email', label: 'Email', type: 'EMAIL' },
  { key: 'phone_number', label: 'Phone', type: 'CUSTOM' },
  { key: 'dob', label: 'Birthday', type: 'DOB' },
  {
    key: 'size',
    label: 'Shoe size',
    type: 'CUSTOM',
    options: [
      { key: 'opt_42', value: '42' },
      { key: 'opt_43', value: '43' },
    ],
  },
  { key: 'notes', label: 'Anything else?', type: 'CUSTOM' },
  { key: 'email', label: 'Duplicate key', type: 'EMAIL' },
];

describe('mapping: sample lead and preview', () => {
  it('builds a valid canonical test lead with one answer per question key', () => {
    const lead = sampleLeadFromQuestions(questions, { created_time: '2026-01-01T00:00:00.000Z' });
    expect(canonicalLeadSchema.safeParse(lead).success).to.equal(true);
    expect(lead.is_test).to.equal(true);
    expect(lead.created_time).to.equal('2026-01-01T00:00:00.000Z');
    expect(lead.answers).to.deep.equal([
      { key: 'full_name', values: ['Jane Sample'] },
      { key: 'email', values: ['sample.lead@example.com'] },
      { key: 'phone_number', values: ['+1 202 555 0143'] },
      { key: 'dob', values: ['1990-01-31'] },
      { key: 'size', values: ['opt_42'] },
      { key: 'notes', values: ['Sample answer'] },
    ]);
  });

  it('base fields override the sample ones', () => {
    const lead = sampleLeadFromQuestions(questions, { platform: 'ig', form: { id: '99', name: 'Real form' } });
    expect(lead.platform).to.equal('ig');
    expect(lead.form).to.deep.equal({ id: '99', name: 'Real form' });
  });

  it('previews the exact record for a sample lead, with validation issues', () => {
    const fields: FieldDescriptor[] = [
      { key: 'email', label: 'Email', type: 'email', required: false },
      { key: 'firstname', label: 'First name', type: 'string', required: false },
      { key: 'lastname', label: 'Last name', type: 'string', required: false },
      { key: 'phone', label: 'Phone', type: 'phone', required: false },
      { key: 'message', label: 'Message', type: 'text', required: false },
      { key: 'lr_platform', label: 'Platform', type: 'string', required: false },
    ];
    const mapping = suggestMapping('hubspot', questions, fields);
    const preview = previewMapping({ mapping, questions, fields });
    expect(preview.isSampleLead).to.equal(true);
    expect(preview.output.fields).to.deep.equal({
      email: 'sample.lead@example.com',
      firstname: 'Jane',
      lastname: 'Sample',
      phone: '+12025550143',
      lr_platform: 'fb',
      message: 'Birthday: 1990-01-31\nShoe size: 42\nAnything else?: Sample answer',
    });
    expect(preview.output.unmappedKeys).to.deep.equal(['dob', 'size', 'notes']);
    expect(preview.issues.map((i) => i.field)).to.deep.equal(['phone']); // no default country
  });

  it('previews a stored lead as it is', () => {
    const lead = makeSampleLead();
    const preview = previewMapping({ mapping: { version: 1, rules: [{ target: 'src', source: { type: 'meta', field: 'lead_source' } }] }, lead });
    expect(preview.isSampleLead).to.equal(false);
    expect(preview.lead).to.equal(lead);
    expect(preview.output.fields.src).to.equal('Instagram Lead Ads');
    expect(preview.issues).to.deep.equal([]);
  });
});

// A made-up lead built from a form's questions, so a marketer can preview a mapping before any
// real lead (or Meta test lead) exists. Every value is obviously fake, and the lead is flagged
// `is_test` so it is never delivered as a real one.
import { CANONICAL_SCHEMA_VERSION, type CanonicalLead } from '../lead/canonical.js';
import type { FormQuestion } from './schema.js';

// Sample answers per standard question type (meta-lead-ads.md §6), chosen to exercise the
// transforms: a name to split, a phone with spaces, a date to reformat.
const SAMPLE_BY_TYPE: Record<string, string> = {
  EMAIL: 'sample.lead@example.com',
  WORK_EMAIL: 'sample.work@example.com',
  FULL_NAME: 'Jane Sample',
  FIRST_NAME: 'Jane',
  LAST_NAME: 'Sample',
  PHONE: '+1 202 555 0143',
  WORK_PHONE_NUMBER: '+1 202 555 0144',
  WHATSAPP_NUMBER: '+1 202 555 0145',
  PHONE_OTP: '+1 202 555 0146',
  CITY: 'Springfield',
  STATE: 'IL',
  PROVINCE: 'Ontario',
  ZIP: '62701',
  POST_CODE: 'SW1A 1AA',
  COUNTRY: 'US',
  STREET_ADDRESS: '1 Sample Street',
  COMPANY_NAME: 'Example Ltd',
  JOB_TITLE: 'Head of Sales',
  DOB: '1990-01-31',
  DATE_TIME: '2026-01-15T10:00:00+0000',
  GENDER: 'female',
  MARITIAL_STATUS: 'single',
  RELATIONSHIP_STATUS: 'single',
  MILITARY_STATUS: 'civilian',
  WEBSITE: 'https://example.com',
  SLIDER: '5',
};

// Standard keys for forms whose questions come back typed CUSTOM.
const TYPE_BY_KEY: Record<string, string> = {
  email: 'EMAIL',
  work_email: 'WORK_EMAIL',
  full_name: 'FULL_NAME',
  first_name: 'FIRST_NAME',
  last_name: 'LAST_NAME',
  phone_number: 'PHONE',
  phone: 'PHONE',
  city: 'CITY',
  state: 'STATE',
  zip: 'ZIP',
  zip_code: 'ZIP',
  post_code: 'POST_CODE',
  country: 'COUNTRY',
  street_address: 'STREET_ADDRESS',
  company_name: 'COMPANY_NAME',
  job_title: 'JOB_TITLE',
  date_of_birth: 'DOB',
};

/** A sample answer for one question: its first option (stored as the option key, as Meta may), else by type. */
function sampleAnswerFor(question: FormQuestion): string {
  const first = question.options?.[0];
  if (first) return first.key;
  const type = String(question.type ?? '').toUpperCase();
  const byType = SAMPLE_BY_TYPE[type] ?? SAMPLE_BY_TYPE[TYPE_BY_KEY[String(question.key).toLowerCase()] ?? ''];
  return byType ?? 'Sample answer';
}

export function sampleLeadFromQuestions(questions: FormQuestion[], base: Partial<CanonicalLead> = {}): CanonicalLead {
  const createdTime = base.created_time ?? new Date().toISOString();
  const seen = new Set<string>();
  const answers: CanonicalLead['answers'] = [];
  for (const q of questions ?? []) {
    if (!q || typeof q.key !== 'string' || seen.has(q.key)) continue;
    seen.add(q.key);
    answers.push({ key: q.key, values: [sampleAnswerFor(q)] });
  }
  return {
    schema: CANONICAL_SCHEMA_VERSION,
    id: 'sample',
    leadgen_id: 'sample',
    workspace_id: '',
    page: { id: 'sample-page', name: 'Sample page' },
    form: { id: null, name: 'Sample form' },
    created_time: createdTime,
    platform: 'fb',
    is_organic: false,
    attribution: {
      ad_id: 'sample-ad',
      ad_name: 'Sample ad',
      adset_id: 'sample-adset',
      adset_name: 'Sample ad set',
      campaign_id: 'sample-campaign',
      campaign_name: 'Sample campaign',
    },
    answers,
    consents: [],
    is_test: true,
    received_at: createdTime,
    ...base,
  };
}

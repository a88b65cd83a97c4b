// Preview: the exact record a mapping would send for one lead — a stored lead, Meta's test
// lead, or (when there is none) a sample built from the form's questions — with the
// validation issues beside it.
import type { FieldDescriptor } from '../../connectors/types.js';
import type { CanonicalLead } from '../lead/canonical.js';
import { applyMapping, type MappingContext, type MappingOutput } from './apply.js';
import { sampleLeadFromQuestions } from './sample-lead.js';
import type { FormQuestion, Mapping } from './schema.js';
import { validateMapping, type MappingIssue } from './validate.js';

export interface PreviewInput extends MappingContext {
  mapping: Mapping;
  /** The lead to run; omitted → a sample lead from `questions`. */
  lead?: CanonicalLead;
  questions?: FormQuestion[];
  /** The CRM's fields, to validate against; omitted → no validation issues. */
  fields?: FieldDescriptor[];
  /** The destination takes any key (see validateMapping). */
  openTargets?: boolean;
}

export interface MappingPreview {
  lead: CanonicalLead;
  isSampleLead: boolean;
  output: MappingOutput;
  issues: MappingIssue[];
}

export function previewMapping(input: PreviewInput): MappingPreview {
  const questions = input.questions ?? [];
  const lead = input.lead ?? sampleLeadFromQuestions(questions);
  const output = applyMapping(input.mapping, lead, { questions, consentLabels: input.consentLabels, defaultCountry: input.defaultCountry });
  const issues = input.fields ? validateMapping(input.mapping, input.fields, questions, { openTargets: input.openTargets }) : [];
  return { lead, isSampleLead: input.lead === undefined, output, issues };
}

// Applies a route's field mapping to a canonical lead, giving the record a connector sends.
// Routes without a mapping of their own use the CRM's preset (config/mappings/<crm>.json).
import type { DeliveryRecord, FieldDescriptor } from '../../connectors/types.js';
import type { CanonicalLead } from '../lead/canonical.js';
import { applyMapping } from '../mapping/apply.js';
import { parseMapping, type FormQuestion, type Mapping } from '../mapping/schema.js';
import { loadPreset, suggestMapping } from '../mapping/suggest.js';
import type { MappingPreset } from '../mapping/schema.js';
import type { Route } from '../store/schema.js';

const presets = new Map<string, MappingPreset>();

/** The CRM's preset applied to the questions, targets taken as the preset names them. */
export function defaultMappingFor(type: string, questions: FormQuestion[], fields: FieldDescriptor[] = []): Mapping {
  let preset = presets.get(type);
  if (!preset) presets.set(type, (preset = loadPreset(type)));
  return suggestMapping(type, questions, fields, preset);
}

/** True when a delivery to this route needs the CRM's field list (a preset fitted to the real fields). */
export function needsFieldList(type: string, route: Route | null): boolean {
  return type !== 'webhook' && !route?.mapping;
}

export function questionsFromLead(lead: CanonicalLead): FormQuestion[] {
  return lead.answers.map((a) => ({ key: a.key, label: a.key, type: 'CUSTOM' }));
}

/** The questions a mapping reads labels and options from: the route's baseline, else the form's last known ones. */
export function questionsFor(route: Route | null, formQuestions?: FormQuestion[] | null): FormQuestion[] | undefined {
  return (route?.form_questions as FormQuestion[] | null) ?? formQuestions ?? undefined;
}

export function mappingForRoute(type: string, route: Route | null, lead: CanonicalLead, fields: FieldDescriptor[] = [], formQuestions?: FormQuestion[] | null): Mapping | null {
  if (route?.mapping) {
    const parsed = parseMapping(route.mapping);
    if (parsed.ok) return parsed.mapping;
  }
  if (type === 'webhook') return null;
  return defaultMappingFor(type, questionsFor(route, formQuestions) ?? questionsFromLead(lead), fields);
}

export function buildDeliveryRecord(
  type: string,
  route: Route | null,
  lead: CanonicalLead,
  deliveryId: string,
  fields: FieldDescriptor[] = [],
  formQuestions?: FormQuestion[] | null,
): DeliveryRecord {
  const mapping = mappingForRoute(type, route, lead, fields, formQuestions);
  if (!mapping) return { lead, fields: {}, idempotencyKey: deliveryId };
  const out = applyMapping(mapping, lead, { questions: questionsFor(route, formQuestions) });
  // When the mapping names a field for unmapped answers, the note is already in `fields`; hand it
  // over separately only otherwise, so a connector never writes it twice.
  const unmappedNote = mapping.unmapped?.target ? undefined : (out.unmappedNote ?? undefined);
  return { lead, fields: out.fields, unmappedNote, idempotencyKey: deliveryId };
}

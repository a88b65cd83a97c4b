// Applies a route's field mapping to a canonical lead, giving the record a connector sends.
// What a connector does with mappings is what its manifest declares (connectors/types.ts
// FieldMappingSupport): fixed or open targets, and whether a route without a mapping of its own
// uses the connector's preset (the file its manifest names) or sends no mapped fields.
import { fieldMappingOf, mappingPresetOf } from '../../connectors/index.js';
import type { Connector, ConnectorContext, ConnectorManifest, DeliveryRecord, FieldDescriptor } from '../../connectors/types.js';
import type { CanonicalLead } from '../lead/canonical.js';
import { applyMapping } from '../mapping/apply.js';
import { parseMapping, type FormQuestion, type Mapping } from '../mapping/schema.js';
import { loadPresetFile, suggestMapping } from '../mapping/suggest.js';
import type { MappingPreset } from '../mapping/schema.js';
import type { Route } from '../store/schema.js';

/** What the mapping step needs of a connector: its id, its declaration and its preset. */
export type MappingConnector = Pick<ConnectorManifest, 'id' | 'fieldMapping' | 'mappingPreset'>;

const presets = new Map<string, MappingPreset>();

/** The connector's mapping preset (read once per file). */
export function presetFor(connector: MappingConnector): MappingPreset {
  const file = mappingPresetOf(connector);
  let preset = presets.get(file);
  if (!preset) presets.set(file, (preset = loadPresetFile(file)));
  return preset;
}

/** True when the connector's mapping targets are open (any key is a target). */
export function hasOpenTargets(connector: MappingConnector): boolean {
  return fieldMappingOf(connector).targets === 'open';
}

/**
 * The connector's preset applied to the questions, fitted to `fields` (targets as the preset
 * names them when there are none). Unlike a suggestion, it never fills a required field with a
 * placeholder: a delivery does not invent values, and the CRM's refusal names the field.
 */
function defaultMappingFor(connector: MappingConnector, questions: FormQuestion[], fields: FieldDescriptor[] = []): Mapping {
  return suggestMapping(connector.id, questions, fields, presetFor(connector), { openTargets: hasOpenTargets(connector), fillRequired: false });
}

/** The route's own mapping, when it has a valid one. */
function routeMappingOf(route: Route | null | undefined): Mapping | null {
  if (!route?.mapping) return null;
  const parsed = parseMapping(route.mapping);
  return parsed.ok ? parsed.mapping : null;
}

/** True when a delivery to this route needs the CRM's field list (a preset fitted to the real fields). */
export function needsFieldList(connector: MappingConnector, route: Route | null): boolean {
  const support = fieldMappingOf(connector);
  return support.targets === 'fixed' && support.withoutRouteMapping === 'preset' && !routeMappingOf(route);
}

/**
 * The fields mapping targets are checked against: the CRM's writable fields (describeFields)
 * for fixed targets, the keys the connector documents for open ones.
 */
export async function mappingFieldsFor<C, K>(connector: Connector<C, K>, ctx: ConnectorContext<C, K>): Promise<FieldDescriptor[]> {
  const support = fieldMappingOf(connector);
  return support.targets === 'open' ? [...(support.knownTargets ?? [])] : connector.describeFields(ctx);
}

function questionsFromLead(lead: CanonicalLead): FormQuestion[] {
  return lead.answers.map((a) => ({ key: a.key, label: a.key, type: 'CUSTOM' }));
}

/** The questions a mapping reads labels and options from: the route's baseline, else the form's last known ones. */
export function questionsFor(route: Route | null, formQuestions?: FormQuestion[] | null): FormQuestion[] | undefined {
  return (route?.form_questions as FormQuestion[] | null) ?? formQuestions ?? undefined;
}

/**
 * True when mappingForRoute's answer depends on the lead: no valid mapping of the route's own and
 * no known questions, so the lead's answers stand in for them. Otherwise it is the same for every
 * lead of the route and form.
 */
export function mappingReadsLead(route: Route | null, formQuestions?: FormQuestion[] | null): boolean {
  return !routeMappingOf(route) && !questionsFor(route, formQuestions);
}

/** The mapping a delivery through this route uses, or null when the connector sends no mapped fields without one. */
export function mappingForRoute(
  connector: MappingConnector,
  route: Route | null,
  lead: CanonicalLead,
  fields: FieldDescriptor[] = [],
  formQuestions?: FormQuestion[] | null,
): Mapping | null {
  const own = routeMappingOf(route);
  if (own) return own;
  if (fieldMappingOf(connector).withoutRouteMapping === 'none') return null;
  return defaultMappingFor(connector, questionsFor(route, formQuestions) ?? questionsFromLead(lead), fields);
}

export function buildDeliveryRecord(
  connector: MappingConnector,
  route: Route | null,
  lead: CanonicalLead,
  deliveryId: string,
  fields: FieldDescriptor[] = [],
  formQuestions?: FormQuestion[] | null,
): DeliveryRecord {
  return deliveryRecordWith(mappingForRoute(connector, route, lead, fields, formQuestions), route, lead, deliveryId, formQuestions);
}

/** The record a delivery sends with this mapping (mappingForRoute's answer for its route), for a caller that keeps mappings. */
export function deliveryRecordWith(
  mapping: Mapping | null,
  route: Route | null,
  lead: CanonicalLead,
  deliveryId: string,
  formQuestions?: FormQuestion[] | null,
): DeliveryRecord {
  if (!mapping) return { lead, fields: {}, isMapped: false, idempotencyKey: deliveryId };
  const out = applyMapping(mapping, lead, { questions: questionsFor(route, formQuestions) });
  // When the mapping names a field for unmapped answers, the note is already in `fields`; hand it
  // over separately only otherwise, so a connector never writes it twice.
  const unmappedNote = mapping.unmapped?.target ? undefined : (out.unmappedNote ?? undefined);
  return { lead, fields: out.fields, unmappedNote, isMapped: true, idempotencyKey: deliveryId };
}

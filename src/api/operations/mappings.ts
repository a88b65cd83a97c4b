// A route's field mapping: propose one, validate and store one, preview the exact record the
// route would send, and re-read routed forms for changes. Each answer carries the notes (warnings,
// validation issues) a person should read.
import { z } from 'zod';
import { allows } from '../../accounts/permissions.js';
import { apiFieldNamer } from '../../services/errors.js';
import { checkMappingDrift, type MappingCall, previewMapping, setMapping, suggestMappings } from '../../services/mappings.js';
import { defineOperation } from '../operation.js';
import { forbidden, invalidField } from '../problem.js';
import { mappingDocSchema, routeParams, routeSchema, routeView } from './routes.js';
import { workspaceIdParams } from './workspaces.js';
import { getRoute } from '../../services/routes.js';

const issueSchema = z.object({ severity: z.enum(['error', 'warning']), field: z.string(), rule: z.number().int().nullable(), message: z.string() });
const notes = z.array(z.string()).meta({ description: 'warnings and validation issues, one sentence each' });
const formRef = z.object({ id: z.string(), name: z.string().nullable() });

const previewedFormSchema = z
  .object({
    form: formRef,
    lead: z.object({
      source: z.enum(['stored', 'test_lead', 'sample']),
      id: z.string(),
      leadgen_id: z.string(),
      answers: z
        .array(z.object({ key: z.string(), values: z.array(z.string()) }))
        .optional()
        .meta({ description: "source sample only: the made-up answers (a stored or test lead's answers are never listed)" }),
    }),
    mapping: z
      .enum(['draft', 'route', 'preset', 'none'])
      .meta({ description: "which mapping made it: the draft sent, the route's own, the destination type's default, or none" }),
    fields: z.record(z.string(), z.unknown()).meta({ description: 'CRM field → value, exactly as the connector would get them' }),
    unmappedNote: z.string().nullable().meta({ description: 'the answers no rule took, as the CRM would get them in its note' }),
    warnings: z.array(z.string()),
    issues: z.array(issueSchema),
    validationSkipped: z.string().optional(),
    formChanged: z.boolean().optional(),
    body: z.unknown().optional().meta({ description: 'the request body, for destinations that render one' }),
  })
  .meta({ id: 'MappingPreview' });
const skippedFormSchema = z.object({ form: formRef, skipped: z.string() });

/** The API as a mapping caller: the path's workspace, fields named where they are in the request, notes collected. */
function apiCall(workspaceId: string, where: 'body' | 'query' = 'body'): MappingCall & { notes: string[] } {
  const collected: string[] = [];
  return { workspaceId, name: apiFieldNamer(where), say: (line) => collected.push(line), notes: collected };
}

const FORM_ID = z
  .string()
  .max(40)
  .optional()
  .meta({ description: 'one lead form of the page (a page-wide route: without it, every known form, grouped per form)' });

export const mappingOperations = [
  defineOperation({
    operationId: 'suggestMapping',
    method: 'get',
    path: '/workspaces/{workspaceId}/routes/{routeId}/mapping/suggestion',
    summary: "Propose a complete mapping from the form's questions and the destination's fields (nothing is stored)",
    tag: 'Mappings',
    access: { kind: 'workspace', permission: 'config.read' },
    params: routeParams,
    query: z.object({ form_id: FORM_ID }),
    response: {
      status: 200,
      description: 'one proposal per form',
      schema: z.object({
        is_grouped: z.boolean(),
        forms: z.array(
          z.object({ form: formRef, mapping: mappingDocSchema.optional(), issues: z.array(issueSchema).optional(), skipped: z.string().optional() }),
        ),
        notes,
      }),
    },
    errors: [502],
    async handler({ app, workspaceId, params, query }) {
      const call = apiCall(workspaceId, 'query');
      const r = await suggestMappings(app, call, { routeId: params.routeId, formId: query.form_id });
      return { is_grouped: r.isGrouped, forms: r.forms, notes: call.notes };
    },
  }),
  defineOperation({
    operationId: 'setMapping',
    method: 'put',
    path: '/workspaces/{workspaceId}/routes/{routeId}/mapping',
    summary: "Validate a mapping against the destination's fields and the form's questions, and store it on the route",
    description:
      "Errors refuse it (422, one entry per error under body.mapping) unless force is set. Storing it clears the route's form-change flag when the form could be read.",
    tag: 'Mappings',
    access: { kind: 'workspace', permission: 'config.write' },
    params: routeParams,
    body: z.object({ mapping: z.unknown(), force: z.boolean().optional() }),
    response: { status: 200, description: 'the route with its mapping', schema: z.object({ route: routeSchema, issues: z.array(issueSchema), notes }) },
    async handler({ app, workspaceId, params, body, audit }) {
      const call = apiCall(workspaceId);
      const r = await setMapping(app, call, { routeId: params.routeId, mapping: body.mapping, force: body.force });
      audit.details = { rules: r.rules, forced: body.force === true && r.issues.some((i) => i.severity === 'error') };
      return { route: routeView(await getRoute(app, workspaceId, r.route.id)), issues: r.issues, notes: call.notes };
    },
  }),
  defineOperation({
    operationId: 'previewMapping',
    method: 'post',
    path: '/workspaces/{workspaceId}/routes/{routeId}/mapping/preview',
    summary: "The exact record the route would send: for a stored lead, Meta's test lead of the form, or a sample made from the form's questions",
    description: 'A preview shows field values from the lead, so it needs leads.answers when source is lead or test_lead.',
    tag: 'Mappings',
    access: { kind: 'workspace', permission: 'config.read' },
    params: routeParams,
    body: z.object({
      source: z.enum(['sample', 'lead', 'test_lead']).default('sample'),
      lead_id: z.string().max(64).optional().meta({ description: 'with source lead: the stored lead' }),
      form_id: FORM_ID,
      mapping: z.unknown().optional().meta({ description: 'a draft mapping (the Mapping format) to preview instead of the stored one; nothing is stored' }),
    }),
    audit: 'read',
    response: {
      status: 200,
      description: 'the record per form',
      schema: z.object({
        route: z.string(),
        destination: z.object({ id: z.string(), type: z.string() }),
        preview: previewedFormSchema.optional(),
        forms: z.array(z.union([previewedFormSchema, skippedFormSchema])).optional(),
        notes,
      }),
    },
    errors: [403, 502],
    async handler({ app, workspaceId, params, body, grant, audit }) {
      // A stored or test lead's values are answers: the same right as reading them.
      if (body.source !== 'sample' && !allows(grant!, 'leads.answers')) throw forbidden(`your role (${grant!.role}) does not include leads.answers`);
      if (body.source === 'lead' && !body.lead_id) throw invalidField('body.lead_id', 'body.lead_id is required with source "lead"');
      const call = apiCall(workspaceId);
      const source = body.source === 'lead' ? ({ kind: 'lead', leadId: body.lead_id! } as const) : ({ kind: body.source } as const);
      const r = await previewMapping(app, call, { routeId: params.routeId, source, formId: body.form_id, draftMapping: body.mapping });
      audit.details = { source: body.source, ...(body.lead_id ? { lead_id: body.lead_id } : {}), ...(body.mapping === undefined ? {} : { draft: true }) };
      return { ...r, notes: call.notes };
    },
  }),
  defineOperation({
    operationId: 'checkMappingDrift',
    method: 'post',
    path: '/workspaces/{workspaceId}/mapping-drift-checks',
    summary: "Re-read every routed form's questions now and flag routes whose form changed since their mapping was set",
    tag: 'Mappings',
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    body: z.object({ route_id: z.string().max(64).optional().meta({ description: 'only this route' }) }),
    response: { status: 200, description: 'what the check found', schema: z.record(z.string(), z.unknown()) },
    async handler({ app, workspaceId, body }) {
      const r = await checkMappingDrift(app, apiCall(workspaceId), { routeId: body.route_id });
      return r as unknown as Record<string, unknown>;
    },
  }),
];

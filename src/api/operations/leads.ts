// The lead log: leads and where they went (never their answers), one lead's deliveries and
// attempts, its answers as a separate, audited read, and sending leads again.
import { z } from 'zod';
import { apiFieldNamer } from '../../services/errors.js';
import { describeLead, getLead, listLeadSummaries, readLeadAnswers, refetchFailedLeads, replayOneLead, replayUnroutedLeads } from '../../services/leads.js';
import { defineOperation } from '../operation.js';
import { decodeCursor, pageFrom, pageOf, pageQuery } from '../pagination.js';
import { workspaceIdParams } from './workspaces.js';

const leadParams = workspaceIdParams.extend({ leadId: z.string().max(64).meta({ description: 'lead id (uuid)' }) });
const pathName = (field: string) => (field === 'lead_id' ? 'path.leadId' : `path.${field}`);

const deliverySummarySchema = z.object({
  id: z.string(),
  destination_id: z.string(),
  route_id: z.string().nullable(),
  status: z.string(),
  attempts: z.number().int(),
  external_id: z.string().nullable(),
  action: z.string().nullable(),
  error: z.string().nullable().meta({ description: 'stable reason, e.g. status_code_503' }),
  message: z.string().nullable().meta({ description: "the CRM's own words" }),
  mapping_drift: z.boolean().meta({ description: 'sent through a route whose form changed since its mapping was set' }),
});

const leadSummarySchema = z
  .object({
    id: z.string(),
    leadgen_id: z.string(),
    received_at: z.iso.datetime(),
    page_id: z.string(),
    form_id: z.string().nullable(),
    platform: z.string().nullable(),
    is_organic: z.boolean().nullable(),
    status: z.string(),
    status_reason: z.string().nullable(),
    deliveries: z.array(deliverySummarySchema),
  })
  .meta({ id: 'LeadSummary' });

const leadDetailSchema = z
  .object({
    id: z.string(),
    leadgen_id: z.string(),
    page: z.object({ id: z.string(), name: z.string().nullable() }),
    form: z.object({ id: z.string().nullable(), name: z.string().nullable() }),
    status: z.string(),
    status_reason: z.string().nullable(),
    answers: z.enum(['stored', 'erased', 'none']).meta({ description: 'whether answers are held (read them with GET …/answers), never what they are' }),
    deliveries: z.array(z.record(z.string(), z.unknown())),
  })
  .passthrough()
  .meta({ id: 'LeadDetail' });

const cursorKey = z.object({ r: z.string(), i: z.uuid() });

const replayResultSchema = z.object({ lead_id: z.string(), queued: z.number().int(), is_unrouted: z.boolean(), reason: z.string().nullable() });

export const leadOperations = [
  defineOperation({
    operationId: 'listLeads',
    method: 'get',
    path: '/workspaces/{workspaceId}/leads',
    summary: 'Leads, newest first, and where they went (never their answers)',
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.read' },
    params: workspaceIdParams,
    query: pageQuery.extend({
      status: z.enum(['routed', 'unrouted']).optional(),
      form_id: z.string().max(40).optional(),
      since: z.iso.datetime({ offset: true }).optional().meta({ description: 'received at or after (ISO 8601)' }),
    }),
    response: { status: 200, description: 'one page of leads', schema: pageOf(leadSummarySchema) },
    async handler({ app, workspaceId, query }) {
      const after = decodeCursor(query.cursor, cursorKey);
      const rows = await listLeadSummaries(app, workspaceId, {
        status: query.status,
        formId: query.form_id,
        since: query.since ? new Date(query.since) : undefined,
        after: after ? { receivedAt: after.r, id: after.i } : undefined,
        limit: query.limit + 1,
      });
      return pageFrom(
        rows,
        query.limit,
        (r) => r,
        (r) => ({ r: r.received_at, i: r.id }),
      );
    },
  }),
  defineOperation({
    operationId: 'getLead',
    method: 'get',
    path: '/workspaces/{workspaceId}/leads/{leadId}',
    summary: "One lead's metadata and, per delivery, every attempt with its time, outcome and reason (never its answers)",
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.read' },
    params: leadParams,
    response: { status: 200, description: 'the lead', schema: leadDetailSchema },
    async handler({ app, workspaceId, params }) {
      return describeLead(app, await getLead(app, workspaceId, params.leadId, pathName));
    },
  }),
  defineOperation({
    operationId: 'getLeadAnswers',
    method: 'get',
    path: '/workspaces/{workspaceId}/leads/{leadId}/answers',
    summary: "A lead's answers and consents (personal data; every read is in the audit log)",
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.answers' },
    params: leadParams,
    audit: 'read',
    response: {
      status: 200,
      description: 'the answers',
      schema: z.object({
        answers: z.array(z.object({ key: z.string(), values: z.array(z.string()) })),
        consents: z.array(z.object({ key: z.string(), checked: z.boolean() })),
        erased_at: z.iso.datetime().nullable().meta({ description: 'set when the retention purge erased them (the lists are then empty)' }),
      }),
    },
    async handler({ app, workspaceId, params, audit }) {
      const lead = await getLead(app, workspaceId, params.leadId, pathName);
      audit.target = { type: 'lead', id: lead.id };
      return readLeadAnswers(app, lead);
    },
  }),
  defineOperation({
    operationId: 'replayLead',
    method: 'post',
    path: '/workspaces/{workspaceId}/leads/{leadId}/replay',
    summary: 'Route a lead again and send its dead and parked deliveries again (with all: delivered ones too)',
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.replay' },
    params: leadParams,
    body: z.object({ all: z.boolean().optional().meta({ description: 'also re-send deliveries that succeeded' }) }),
    response: { status: 200, description: 'what was queued', schema: replayResultSchema },
    async handler({ app, workspaceId, params, body, audit }) {
      const lead = await getLead(app, workspaceId, params.leadId, pathName);
      const r = await replayOneLead(app, lead, body.all);
      audit.details = { all: body.all ?? false, queued: r.queued };
      return { lead_id: r.leadId, queued: r.queued, is_unrouted: r.unrouted, reason: r.reason };
    },
  }),
  defineOperation({
    operationId: 'replayUnroutedLeads',
    method: 'post',
    path: '/workspaces/{workspaceId}/leads/replay-unrouted',
    summary: 'Replay every unrouted lead (of one form): those a route now takes are delivered',
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.replay' },
    params: workspaceIdParams,
    body: z.object({ form_id: z.string().max(40).optional() }),
    response: {
      status: 200,
      description: 'what was replayed',
      schema: z.object({ replayed: z.number().int(), routed: z.number().int(), queued: z.number().int() }),
    },
    async handler({ app, workspaceId, body, audit }) {
      const r = await replayUnroutedLeads(app, workspaceId, body.form_id ?? null);
      audit.details = { form_id: body.form_id ?? null, ...r };
      return r;
    },
  }),
  defineOperation({
    operationId: 'refetchFailedLeads',
    method: 'post',
    path: '/workspaces/{workspaceId}/leads/refetch-failed',
    summary: "Fetch again the leads whose fetch from Meta gave up (of the workspace's pages, or one)",
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.replay' },
    params: workspaceIdParams,
    body: z.object({ page_id: z.string().max(40).optional() }),
    response: { status: 200, description: 'how many fetches were queued', schema: z.object({ queued: z.number().int() }) },
    async handler({ app, workspaceId, body, audit }) {
      const queued = await refetchFailedLeads(app, workspaceId, body.page_id, apiFieldNamer('body'));
      audit.details = { page_id: body.page_id ?? null, queued };
      return { queued };
    },
  }),
];

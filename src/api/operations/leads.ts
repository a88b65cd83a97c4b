// The lead log: leads and where they went (never their answers), one lead's deliveries and
// attempts, its answers as a separate, audited read, and sending leads again.
import { z } from 'zod';
import { parseSearchQuery, type SearchTerm } from '../../lead/blind-index.js';
import { apiFieldNamer } from '../../services/errors.js';
import {
  currentChangeCursor,
  describeLead,
  describeLeadTimeline,
  getLead,
  listKnownForms,
  listLeadChanges,
  listLeadSummaries,
  readLeadAnswers,
  refetchFailedLeads,
  replayDeadDeliveriesOf,
  replayOneLead,
  replayUnroutedLeads,
} from '../../services/leads.js';
import { LEAD_LOG_STATUSES } from '../../store/lead-log.js';
import type { App } from '../../app.js';
import { defineOperation } from '../operation.js';
import { decodeCursor, encodeCursor, pageFrom, pageOf, pageQuery } from '../pagination.js';
import { invalidField } from '../problem.js';
import { workspaceIdParams } from './workspaces.js';

const leadParams = workspaceIdParams.extend({ leadId: z.string().max(64).meta({ description: 'lead id (uuid)' }) });
/** The lead the path names, when it is one of the workspace's (else 404, naming path.leadId). */
const leadOfPath = ({ app, workspaceId, params }: { app: App; workspaceId: string; params: { leadId: string } }) =>
  getLead(app, workspaceId, params.leadId, (field) => (field === 'lead_id' ? 'path.leadId' : `path.${field}`));

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

const deliveryRollupSchema = z.enum(['unrouted', 'failed', 'parked', 'pending', 'delivered']).meta({
  description:
    'where the lead is as a whole: unrouted (no route took it), failed (a delivery is dead), parked (a delivery waits for re-authorisation), pending (being sent), delivered (every delivery)',
});

const leadSummarySchema = z
  .object({
    id: z.string(),
    leadgen_id: z.string(),
    received_at: z.iso.datetime(),
    page_id: z.string(),
    form_id: z.string().nullable(),
    form_name: z.string().nullable(),
    platform: z.string().nullable(),
    is_organic: z.boolean().nullable(),
    is_test: z.boolean(),
    status: z.string().meta({ description: 'routed or unrouted' }),
    status_reason: z.string().nullable(),
    delivery_status: deliveryRollupSchema,
    updated_at: z.iso.datetime().meta({ description: 'when the lead itself last changed (its deliveries change on their own)' }),
    deliveries: z.array(deliverySummarySchema),
  })
  .meta({ id: 'LeadSummary' });

const destinationRefSchema = z.object({ id: z.string(), name: z.string().nullable(), type: z.string().nullable() });

const timelineEventSchema = z
  .object({
    type: z.enum(['received', 'fetched', 'unrouted', 'routed', 'attempt', 'parked', 'erased']),
    at: z.iso.datetime(),
    reason: z.string().nullable().optional().meta({ description: 'unrouted, parked and attempt: the stable reason' }),
    delivery_id: z.string().optional(),
    route_id: z.string().nullable().optional(),
    destination: destinationRefSchema.optional(),
    started_at: z.iso.datetime().optional(),
    attempt: z.number().int().optional(),
    outcome: z.string().optional().meta({ description: 'delivered, retry, rate_limited, auth or dead' }),
    http_status: z.number().int().nullable().optional(),
    error_kind: z.string().nullable().optional(),
    message: z.string().nullable().optional().meta({ description: "the CRM's own words, without the lead's data" }),
    record_url: z.string().nullable().optional().meta({ description: 'a delivered attempt: the link to the record in the CRM' }),
    external_id: z.string().nullable().optional(),
  })
  .meta({ id: 'LeadTimelineEvent' });

const timelineSchema = z
  .object({
    lead_id: z.string(),
    status: z.string(),
    status_reason: z.string().nullable(),
    events: z.array(timelineEventSchema),
    deliveries: z.array(
      z.object({
        id: z.string(),
        destination: destinationRefSchema,
        status: z.string(),
        attempts: z.number().int(),
        external_id: z.string().nullable(),
        record_url: z.string().nullable(),
        action: z.string().nullable(),
        error: z.string().nullable(),
        message: z.string().nullable(),
        next_attempt_at: z.iso.datetime().nullable(),
        delivered_at: z.iso.datetime().nullable(),
      }),
    ),
  })
  .meta({ id: 'LeadTimeline' });

const changeCursorKey = z.object({ t: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/), i: z.uuid() });

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

const queuedSchema = z.object({ queued: z.number().int() });

const replayResultSchema = z.object({ lead_id: z.string(), queued: z.number().int(), is_unrouted: z.boolean(), reason: z.string().nullable() });

export const leadOperations = [
  defineOperation({
    operationId: 'listLeads',
    method: 'get',
    path: '/workspaces/{workspaceId}/leads',
    summary: 'Leads, newest first, and where they went (never their answers); filtered, or found by email or phone',
    description:
      '`q` finds the leads holding an email address or phone number through a keyed hash of it (the blind index), without decrypting any answers: ' +
      'an email is compared trimmed and lower-cased, a phone in E.164 (give its country code: `+1 (415) 555-0100`). ' +
      'Keep the list current by polling GET …/leads/changes from `changes_cursor`.',
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.read' },
    params: workspaceIdParams,
    query: pageQuery.extend({
      status: z.enum(LEAD_LOG_STATUSES).optional().meta({
        description:
          "routed / unrouted (the lead), or delivered / failed / pending / parked (its delivery_status; with destination_id, that destination's delivery)",
      }),
      page_id: z.string().max(40).optional(),
      form_id: z.string().max(40).optional(),
      destination_id: z.uuid().optional().meta({ description: 'leads sent (or being sent) to this destination' }),
      since: z.iso.datetime({ offset: true }).optional().meta({ description: 'received at or after (ISO 8601)' }),
      until: z.iso.datetime({ offset: true }).optional().meta({ description: 'received before (ISO 8601)' }),
      q: z.string().min(1).max(200).optional().meta({ description: 'an email address or a phone number with its country code' }),
    }),
    response: {
      status: 200,
      description: 'one page of leads',
      schema: pageOf(leadSummarySchema).extend({
        changes_cursor: z.string().meta({ description: 'pass as ?since= to GET …/leads/changes to hear of what changes from now on' }),
      }),
    },
    async handler({ app, workspaceId, query }) {
      const after = decodeCursor(query.cursor, cursorKey);
      const since = query.since ? new Date(query.since) : undefined;
      const until = query.until ? new Date(query.until) : undefined;
      if (since && until && since >= until) throw invalidField('query.until', 'must be later than since');
      let search: SearchTerm | undefined;
      if (query.q !== undefined) {
        // The message never repeats the query: it is someone's email or phone.
        search = parseSearchQuery(query.q) ?? undefined;
        if (!search) throw invalidField('query.q', 'must be an email address or a phone number with its country code (e.g. +14155550100)');
      }
      const changesCursor = encodeCursor(await currentChangeCursor(app));
      const rows = await listLeadSummaries(app, workspaceId, {
        status: query.status,
        pageId: query.page_id,
        formId: query.form_id,
        destinationId: query.destination_id,
        since,
        until,
        search,
        after: after ? { receivedAt: after.r, id: after.i } : undefined,
        limit: query.limit + 1,
      });
      const page = pageFrom(
        rows,
        query.limit,
        (r) => r,
        (r) => ({ r: r.received_at, i: r.id }),
      );
      return { ...page, changes_cursor: changesCursor };
    },
  }),
  defineOperation({
    operationId: 'listLeadChanges',
    method: 'get',
    path: '/workspaces/{workspaceId}/leads/changes',
    summary: 'The leads that changed (themselves or a delivery) since a cursor: poll it to keep the lead log live',
    description:
      'Start from `changes_cursor` of GET …/leads (or call without `since` for a cursor from now), then poll every few seconds with the `cursor` each answer gives. ' +
      'Items are whole lead summaries, oldest change first; a lead may come more than once (changes of the last seconds are sent again, so none committing late is missed): replace what you hold by id. ' +
      "With `has_more`, ask again at once. Items are not filtered: apply the list's filters to them yourself.",
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.read' },
    params: workspaceIdParams,
    query: z.object({
      since: z.string().max(200).optional().meta({ description: 'a cursor from this operation or changes_cursor of GET …/leads' }),
      limit: z.coerce.number().int().min(1).max(200).default(100).meta({ description: 'leads per answer (1-200)' }),
    }),
    response: {
      status: 200,
      description: 'the changed leads and where to ask from next',
      schema: z.object({
        items: z.array(leadSummarySchema),
        cursor: z.string().meta({ description: 'pass as ?since= next time' }),
        has_more: z.boolean().meta({ description: 'more changes wait: ask again at once' }),
      }),
    },
    async handler({ app, workspaceId, query }) {
      if (query.since === undefined) return { items: [], cursor: encodeCursor(await currentChangeCursor(app)), has_more: false };
      let since: z.infer<typeof changeCursorKey> | undefined;
      try {
        since = decodeCursor(query.since, changeCursorKey);
      } catch {
        throw invalidField('query.since', 'not a cursor this API gave');
      }
      const r = await listLeadChanges(app, workspaceId, since!, query.limit);
      return { items: r.items, cursor: encodeCursor(r.cursor), has_more: r.hasMore };
    },
  }),
  defineOperation({
    operationId: 'listKnownForms',
    method: 'get',
    path: '/workspaces/{workspaceId}/forms',
    summary: "The forms the workspace's leads came from (each form a lead was fetched of), with their page and name: what the lead log filters by",
    description: "Read from what is stored, without asking Meta (a page's forms as Facebook has them now: GET …/pages/{pageId}/forms).",
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.read' },
    params: workspaceIdParams,
    response: {
      status: 200,
      description: 'the forms, by name',
      schema: z.object({ items: z.array(z.object({ form_id: z.string(), page_id: z.string(), name: z.string().nullable() })) }),
    },
    async handler({ app, workspaceId }) {
      return { items: await listKnownForms(app, workspaceId) };
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
    async handler(ctx) {
      return describeLead(ctx.app, await leadOfPath(ctx));
    },
  }),
  defineOperation({
    operationId: 'getLeadTimeline',
    method: 'get',
    path: '/workspaces/{workspaceId}/leads/{leadId}/timeline',
    summary: "A lead's way, oldest first: received, fetched, routed or unrouted, each delivery attempt (the CRM's own words, the record link), parked, erased",
    description: "Never the lead's answers: the CRM's messages are shown without the lead's answer values and without email addresses.",
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.read' },
    params: leadParams,
    response: { status: 200, description: 'the timeline', schema: timelineSchema },
    async handler(ctx) {
      return describeLeadTimeline(ctx.app, await leadOfPath(ctx));
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
    async handler(ctx) {
      const lead = await leadOfPath(ctx);
      ctx.audit.target = { type: 'lead', id: lead.id };
      return readLeadAnswers(ctx.app, lead);
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
    async handler(ctx) {
      const r = await replayOneLead(ctx.app, await leadOfPath(ctx), ctx.body.all);
      ctx.audit.details = { all: ctx.body.all ?? false, queued: r.queued };
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
    operationId: 'replayDeadDeliveries',
    method: 'post',
    path: '/workspaces/{workspaceId}/destinations/{destinationId}/replay-dead',
    summary: 'Send again every dead-lettered delivery of a destination (after its problem is fixed)',
    description: 'Deliveries of leads the retention purge erased are left: there is nothing left to send.',
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.replay' },
    params: workspaceIdParams.extend({ destinationId: z.string().max(64).meta({ description: 'destination id (uuid)' }) }),
    response: { status: 200, description: 'how many deliveries were queued', schema: queuedSchema },
    async handler({ app, workspaceId, params, audit }) {
      const queued = await replayDeadDeliveriesOf(app, workspaceId, params.destinationId);
      audit.target = { type: 'destination', id: params.destinationId };
      audit.details = { queued };
      return { queued };
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
    response: { status: 200, description: 'how many fetches were queued', schema: queuedSchema },
    async handler({ app, workspaceId, body, audit }) {
      const queued = await refetchFailedLeads(app, workspaceId, body.page_id, apiFieldNamer('body'));
      audit.details = { page_id: body.page_id ?? null, queued };
      return { queued };
    },
  }),
];

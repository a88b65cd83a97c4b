// Data-subject requests by email or phone: find a person's leads, export them (JSON or CSV),
// correct an answer, erase them; and the receipts of past requests.
// Permissions: finding and exporting reveal a person's answers, so they need leads.answers (an
// editor, or a viewer granted answers). Correcting and erasing change personal data for good
// (erasing cannot be undone, and may delete the person in the CRM too): they are decisions of
// those who answer for the workspace's data and already set its retention, workspace.manage
// (admins and owners), not of everyone who may send leads again.
// Each request writes its own receipt and audit entry (`dataRequest.<kind>`, also when it fails),
// so these operations leave mount's audit off. Errors never repeat the email or phone.
import { z } from 'zod';
import { apiFieldNamer } from '../../services/errors.js';
import {
  correctSubject,
  describeReceipt,
  eraseSubject,
  exportSubject,
  findSubject,
  parseSubject,
  type Requester,
  subjectCsv,
} from '../../services/data-requests.js';
import { findDataRequest, listDataRequests } from '../../store/data-requests.js';
import { auditActorOf } from '../audit-actor.js';
import { sendAttachment } from '../download.js';
import { defineOperation, type OperationContext } from '../operation.js';
import { decodeCursor, pageFrom, pageOf, pageQuery } from '../pagination.js';
import { notFound } from '../problem.js';
import { workspaceIdParams } from './workspaces.js';

const subjectFields = {
  email: z.string().max(320).optional().meta({ description: "the person's email address (compared trimmed and lower-cased)" }),
  phone: z.string().max(40).optional().meta({ description: 'or their phone number, with its country code (compared in E.164)' }),
};

const receiptSchema = z
  .object({
    id: z.uuid().meta({ description: 'the receipt id' }),
    kind: z.enum(['find', 'export', 'correct', 'erase']),
    subject_kind: z.enum(['email', 'phone']).meta({ description: 'what the person was named by (never the value)' }),
    status: z.enum(['running', 'done', 'partial', 'failed']).meta({ description: 'partial: erased here, but a CRM could not erase them' }),
    requested_by: z.string().nullable(),
    counts: z.record(z.string(), z.unknown()),
    created_at: z.iso.datetime(),
    finished_at: z.iso.datetime().nullable(),
  })
  .meta({ id: 'DataRequestReceipt' });

const destinationRef = z.object({ id: z.string(), name: z.string().nullable(), type: z.string().nullable() });

const foundLeadSchema = z.object({
  id: z.string(),
  leadgen_id: z.string(),
  received_at: z.string().nullable(),
  form: z.object({ id: z.string().nullable(), name: z.string().nullable() }),
  status: z.string(),
  answers: z.enum(['stored', 'erased', 'none']),
  deliveries: z.array(z.object({ destination: destinationRef, status: z.string(), external_id: z.string().nullable(), external_url: z.string().nullable() })),
});

const exportedLeadSchema = z
  .object({
    id: z.string(),
    leadgen_id: z.string(),
    answers: z.array(z.object({ key: z.string(), label: z.string().nullable(), values: z.array(z.unknown()) })).nullable(),
    consents: z.array(z.object({ key: z.string(), checked: z.boolean() })).nullable(),
    deliveries: z
      .array(z.record(z.string(), z.unknown()))
      .meta({ description: 'each delivery: destination (name, type), status, CRM record id and link, and every attempt' }),
  })
  .passthrough()
  .meta({ id: 'DataSubjectLead' });

const requesterOf = (ctx: OperationContext<unknown, unknown, unknown>): Requester => ({ actor: auditActorOf(ctx.actor), ip: ctx.ip, userAgent: ctx.userAgent });

const receiptCursor = z.object({ c: z.string(), i: z.uuid() });

export const dataRequestOperations = [
  defineOperation({
    operationId: 'findDataSubject',
    method: 'get',
    path: '/workspaces/{workspaceId}/data-requests/find',
    summary: "A person's leads, found by email or phone, and where each was delivered (no answers); recorded with a receipt",
    description:
      'Found through the keyed hash of the email or phone (the blind index); leads not indexed yet are indexed first. ' +
      'The address travels in the query string: LeadRelay never logs query strings, but a proxy in front of it might; keep such logs off for /api/v1/workspaces/*/data-requests.',
    tag: 'Data requests',
    access: { kind: 'workspace', permission: 'leads.answers' },
    params: workspaceIdParams,
    query: z.object(subjectFields),
    audit: 'none',
    response: { status: 200, description: "the person's leads", schema: z.object({ receipt: receiptSchema, leads: z.array(foundLeadSchema) }) },
    async handler(ctx) {
      const term = parseSubject(ctx.query, apiFieldNamer('query'));
      const { receipt, result } = await findSubject(ctx.app, ctx.workspaceId, term, requesterOf(ctx));
      return { receipt: describeReceipt(receipt), leads: result };
    },
  }),
  defineOperation({
    operationId: 'exportDataSubject',
    method: 'get',
    path: '/workspaces/{workspaceId}/data-requests/export',
    summary: "Everything held of a person: each lead's answers, metadata, delivery history and where it went (JSON, or CSV with format=csv)",
    description:
      'CSV: one row per lead and delivery, one column per answer (`answer:<key>`) and consent; cells that a spreadsheet would run as a formula start with a quote. ' +
      'The receipt id comes in the X-LeadRelay-Receipt header (and in the JSON body).',
    tag: 'Data requests',
    access: { kind: 'workspace', permission: 'leads.answers' },
    params: workspaceIdParams,
    query: z.object({ ...subjectFields, format: z.enum(['json', 'csv']).default('json') }),
    audit: 'none',
    response: {
      status: 200,
      description: 'the export (application/json, or text/csv as an attachment)',
      schema: z.object({
        receipt: receiptSchema,
        subject: z.object({ kind: z.enum(['email', 'phone']) }),
        generated_at: z.iso.datetime(),
        leads: z.array(exportedLeadSchema),
      }),
    },
    async handler(ctx) {
      const term = parseSubject(ctx.query, apiFieldNamer('query'));
      const { receipt, result } = await exportSubject(ctx.app, ctx.workspaceId, term, ctx.query.format, requesterOf(ctx));
      ctx.res.setHeader('x-leadrelay-receipt', receipt.id);
      const day = new Date().toISOString().slice(0, 10);
      if (ctx.query.format === 'csv')
        return sendAttachment(ctx.res, { contentType: 'text/csv; charset=utf-8', fileName: `leadrelay-data-subject-${day}.csv`, body: subjectCsv(result) });
      ctx.res.setHeader('cache-control', 'no-store');
      return { receipt: describeReceipt(receipt), subject: { kind: term.kind }, generated_at: new Date().toISOString(), leads: result };
    },
  }),
  defineOperation({
    operationId: 'correctDataSubject',
    method: 'post',
    path: '/workspaces/{workspaceId}/data-requests/correct',
    summary: "Correct answers of a person's leads (re-encrypted and re-indexed); with redeliver, send those leads again",
    description:
      'Every lead of the person holding an answer to a named question gets the new values (with lead_id, that lead only). ' +
      'The old values are also taken out of what CRMs said back. redeliver routes the leads again and re-sends every delivery of theirs through the replay path.',
    tag: 'Data requests',
    access: { kind: 'workspace', permission: 'workspace.manage' },
    params: workspaceIdParams,
    body: z
      .object({
        ...subjectFields,
        lead_id: z.uuid().optional().meta({ description: 'only this lead of the person' }),
        answers: z
          .array(
            z.object({
              key: z.string().min(1).max(200).meta({ description: "the question's key, as in the lead's answers" }),
              values: z.array(z.string().max(2000)).max(50),
            }),
          )
          .min(1)
          .max(50),
        redeliver: z.boolean().default(false),
      })
      .strict(),
    audit: 'none',
    errors: [409],
    response: {
      status: 200,
      description: 'what was corrected',
      schema: z.object({ receipt: receiptSchema, leads: z.array(z.string()), redeliveries: z.number().int() }),
    },
    async handler(ctx) {
      const name = apiFieldNamer('body');
      const term = parseSubject(ctx.body, name);
      const { receipt, result } = await correctSubject(
        ctx.app,
        ctx.workspaceId,
        term,
        { leadId: ctx.body.lead_id, answers: ctx.body.answers, redeliver: ctx.body.redeliver },
        requesterOf(ctx),
        name,
      );
      return { receipt: describeReceipt(receipt), leads: result.leads, redeliveries: result.queued };
    },
  }),
  defineOperation({
    operationId: 'eraseDataSubject',
    method: 'post',
    path: '/workspaces/{workspaceId}/data-requests/erase',
    summary: "Erase a person: their leads' answers, search entries and every copy in deliveries and attempts; with in_crm, in the CRMs that can too",
    description:
      "The leads stay as tombstones without personal data (ids, times, form, status, destinations), so counts stay honest. in_crm asks each destination's CRM to erase the person " +
      "where its connector can (a GDPR delete, where the CRM offers one); the receipt lists each destination's outcome, and `unsupported` ones must be erased there by hand (their record ids stay in the deliveries). Cannot be undone.",
    tag: 'Data requests',
    access: { kind: 'workspace', permission: 'workspace.manage' },
    params: workspaceIdParams,
    body: z.object({ ...subjectFields, in_crm: z.boolean().default(false).meta({ description: 'also erase the person in the CRMs that can' }) }).strict(),
    audit: 'none',
    response: { status: 200, description: 'the receipt, with what was erased', schema: z.object({ receipt: receiptSchema }) },
    async handler(ctx) {
      const term = parseSubject(ctx.body, apiFieldNamer('body'));
      const { receipt } = await eraseSubject(ctx.app, ctx.workspaceId, term, { inCrm: ctx.body.in_crm }, requesterOf(ctx));
      return { receipt: describeReceipt(receipt) };
    },
  }),
  defineOperation({
    operationId: 'listDataRequests',
    method: 'get',
    path: '/workspaces/{workspaceId}/data-requests',
    summary: 'The receipts of data-subject requests, newest first (who asked, what was done; never the person)',
    tag: 'Data requests',
    access: { kind: 'workspace', permission: 'audit.read' },
    params: workspaceIdParams,
    query: pageQuery,
    response: { status: 200, description: 'one page of receipts', schema: pageOf(receiptSchema) },
    async handler({ app, workspaceId, query }) {
      const after = decodeCursor(query.cursor, receiptCursor);
      const rows = await listDataRequests(app.db, workspaceId, { after: after ? { createdAt: after.c, id: after.i } : undefined, limit: query.limit + 1 });
      return pageFrom(rows, query.limit, describeReceipt, (r) => ({ c: new Date(r.created_at).toISOString(), i: r.id }));
    },
  }),
  defineOperation({
    operationId: 'getDataRequest',
    method: 'get',
    path: '/workspaces/{workspaceId}/data-requests/{requestId}',
    summary: 'One receipt of a data-subject request',
    tag: 'Data requests',
    access: { kind: 'workspace', permission: 'audit.read' },
    params: workspaceIdParams.extend({ requestId: z.string().max(64).meta({ description: 'the receipt id (uuid)' }) }),
    response: { status: 200, description: 'the receipt', schema: receiptSchema },
    async handler({ app, workspaceId, params }) {
      const r = await findDataRequest(app.db, workspaceId, params.requestId);
      if (!r) throw notFound(`data request "${params.requestId}"`);
      return describeReceipt(r);
    },
  }),
];

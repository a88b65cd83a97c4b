// Reconciliation: comparing Meta's list of each routed form's leads with what LeadRelay recorded,
// recording the leads whose webhook never came (POST), and per form and day "Meta says N, LeadRelay
// recorded N, delivered N" with each form's checkpoint (GET).
import { z } from 'zod';
import { apiFieldNamer } from '../../services/errors.js';
import { describeReconciliation, runReconciliation } from '../../services/reconciliation.js';
import { defineOperation } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

const formRunSchema = z
  .object({
    page_id: z.string(),
    form_id: z.string(),
    outcome: z.enum(['done', 'throttled', 'failed', 'skipped']).meta({
      description:
        'done: every lead of the window compared; throttled: Meta limited the calls (the rest waits for retry_after, the checkpoint stays); ' +
        'failed: Meta answered with an error (reason); skipped: not asked (e.g. page_needs_reauth, or an earlier form of the page was throttled)',
    }),
    reason: z.string().nullable().meta({ description: 'the stable reason the form stopped or was skipped, e.g. graph_code_80005' }),
    after: z.iso.datetime().nullable().meta({ description: 'leads created after this time were compared … (null: Meta was not asked)' }),
    before: z.iso.datetime().nullable().meta({ description: '… up to this time (younger leads are left to their webhook until the next run)' }),
    meta_count: z.number().int().meta({ description: 'leads Meta listed in the window' }),
    already_recorded: z.number().int().meta({ description: 'of those, leads LeadRelay had recorded already' }),
    recovered: z.number().int().meta({ description: 'leads recorded now, as if their webhook had come, and queued for delivery' }),
    checkpoint: z.iso.datetime().nullable().meta({ description: 'every lead created up to this time is recorded' }),
    retry_after: z.iso.datetime().nullable().meta({ description: 'throttled: when Meta may be asked again' }),
  })
  .meta({ id: 'FormReconciliationRun' });

const daySchema = z.object({
  day: z.string().meta({ description: 'UTC day, YYYY-MM-DD' }),
  meta_count: z.number().int().nullable().meta({ description: 'leads Meta listed as created that day (null: not compared yet)' }),
  is_complete: z.boolean().meta({ description: 'false: only part of the day was compared so far, so meta_count covers that part' }),
  recorded: z.number().int().meta({ description: 'leads of that day LeadRelay recorded (by webhook or by reconciliation)' }),
  recovered: z.number().int().meta({ description: 'of those, leads reconciliation recorded because their webhook never came' }),
  delivered: z.number().int().meta({ description: 'leads of that day every delivery of which succeeded' }),
});

const formReconciliationSchema = z
  .object({
    page_id: z.string(),
    form_id: z.string(),
    form_name: z.string().nullable(),
    checkpoint: z.iso.datetime().nullable().meta({ description: 'every lead created up to this time is recorded' }),
    covered_from: z.iso.datetime().nullable().meta({ description: 'compared without a gap from this time to the checkpoint' }),
    last_run_at: z.iso.datetime().nullable(),
    last_error: z.string().nullable().meta({ description: 'why the last run stopped (null: it completed)' }),
    retry_after: z.iso.datetime().nullable(),
    days: z.array(daySchema).meta({ description: 'newest first' }),
  })
  .meta({ id: 'FormReconciliation' });

export const reconciliationOperations = [
  defineOperation({
    operationId: 'runReconciliation',
    method: 'post',
    path: '/workspaces/{workspaceId}/reconciliation',
    summary: "Compare now the workspace's routed forms (or one) with Meta's list of their leads, and record the leads whose webhook never came",
    description:
      'Each missing lead is recorded as if its webhook had come (a webhook that comes later is a no-op) and then fetched, routed and delivered as usual. ' +
      'Without since, each form is compared from its checkpoint (a new form: the last RECONCILE_LOOKBACK_HOURS); since (Unix seconds or ISO 8601, at most ~90 days back, ' +
      'as long as Meta keeps leads) compares from then. It also runs every RECONCILE_INTERVAL_MS. Needs leads.replay: like a replay, it makes leads go to the destinations.',
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.replay' },
    params: workspaceIdParams,
    body: z.object({
      form_id: z.string().max(64).optional().meta({ description: 'only this lead form (of a page registered to the workspace)' }),
      since: z.string().max(40).optional().meta({ description: 'compare leads created after this time: Unix seconds or ISO 8601, e.g. 2026-03-01T00:00:00Z' }),
    }),
    response: {
      status: 200,
      description: 'what each form compared and recovered',
      schema: z.object({
        forms: z.array(formRunSchema),
        totals: z.object({ meta_count: z.number().int(), already_recorded: z.number().int(), recovered: z.number().int() }),
      }),
    },
    async handler({ app, workspaceId, body, audit }) {
      const r = await runReconciliation(app, { workspaceId, formId: body.form_id, since: body.since }, apiFieldNamer('body'));
      audit.details = { form_id: body.form_id ?? null, since: body.since ?? null, forms: r.forms.length, ...r.totals };
      return { forms: r.forms.map(({ workspace_id: _ws, ...f }) => f), totals: r.totals };
    },
  }),
  defineOperation({
    operationId: 'getReconciliation',
    method: 'get',
    path: '/workspaces/{workspaceId}/reconciliation',
    summary: 'Per reconciled form and UTC day: Meta says N leads, LeadRelay recorded N, delivered N; and each form’s checkpoint',
    tag: 'Leads',
    access: { kind: 'workspace', permission: 'leads.read' },
    params: workspaceIdParams,
    query: z.object({
      form_id: z.string().max(64).optional().meta({ description: 'only this lead form' }),
      days: z.coerce.number().int().min(1).max(90).default(14).meta({ description: 'how many UTC days, today included (1-90)' }),
    }),
    response: {
      status: 200,
      description: 'the forms reconciliation compared, newest day first',
      schema: z.object({ forms: z.array(formReconciliationSchema) }),
    },
    async handler({ app, workspaceId, query }) {
      return describeReconciliation(app, workspaceId, { formId: query.form_id, days: query.days });
    },
  }),
];

// Reconciliation on demand and its numbers, for the CLI (`leads reconcile`) and the API
// (POST/GET /workspaces/{id}/reconciliation). The comparison itself is src/pipeline/reconcile.ts.
import type { App } from '../app.js';
import { META_LEAD_RETENTION_MS, reconcileLeads, type FormReconcileResult } from '../pipeline/reconcile.js';
import { countFormDays, listCheckpoints } from '../store/reconciliation.js';
import { InvalidInputError, NotFoundError, type FieldNamer } from './errors.js';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const FORM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const DAY_MS = 86_400_000;

export interface FormReconcileReport {
  workspace_id: string;
  page_id: string;
  form_id: string;
  outcome: FormReconcileResult['outcome'];
  reason: string | null;
  /** Leads created after this time and before `before` were compared (null: Meta was not asked). */
  after: string | null;
  before: string | null;
  meta_count: number;
  already_recorded: number;
  recovered: number;
  checkpoint: string | null;
  retry_after: string | null;
}

const toReport = (r: FormReconcileResult): FormReconcileReport => ({
  workspace_id: r.workspaceId,
  page_id: r.pageId,
  form_id: r.formId,
  outcome: r.outcome,
  reason: r.reason,
  after: iso(r.after),
  before: iso(r.before),
  meta_count: r.metaCount,
  already_recorded: r.alreadyRecorded,
  recovered: r.recovered,
  checkpoint: iso(r.checkpoint),
  retry_after: iso(r.retryAfter),
});

/**
 * `since` as a person gives it: Unix seconds, or an ISO 8601 date or time. Meta's filter takes only
 * Unix seconds (an ISO value is silently ignored there), so it is turned into those here.
 */
function parseSince(value: string, name: FieldNamer, now: Date): Date {
  const text = value.trim();
  let date: Date | null = null;
  if (/^\d{1,12}$/.test(text)) date = new Date(Number(text) * 1000);
  else if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    // A time without a zone is UTC, as a date alone is: not the server's local time.
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text) || text.length === 10;
    date = new Date(hasZone ? text : `${text.replace(' ', 'T')}Z`);
  }
  if (!date || Number.isNaN(date.getTime())) {
    throw new InvalidInputError({
      field: name('since'),
      message: `${name('since')} must be Unix seconds or an ISO 8601 time, e.g. 2026-03-01T00:00:00Z`,
    });
  }
  if (date > now) throw new InvalidInputError({ field: name('since'), message: `${name('since')} is in the future` });
  return date;
}

export interface RunReconciliationInput {
  /** Null: every workspace (the CLI without --workspace). */
  workspaceId: string | null;
  formId?: string;
  since?: string;
}

/**
 * Compares now, with Meta, the routed forms of a workspace (or one form) and records the leads
 * whose webhook never came. `since` overrides the checkpoints (capped at the ~90 days Meta keeps
 * leads, and at a page's lead floor: a purged workspace's leads are not recorded again); a throttled form is asked anyway (a person asked), and reports Meta's wait if it still is.
 */
export async function runReconciliation(
  app: App,
  input: RunReconciliationInput,
  name: FieldNamer,
  now = new Date(),
): Promise<{ forms: FormReconcileReport[]; totals: { meta_count: number; already_recorded: number; recovered: number } }> {
  if (input.formId !== undefined && !FORM_ID_PATTERN.test(input.formId)) {
    throw new InvalidInputError({ field: name('form_id'), message: `${name('form_id')} must be a Meta lead form id (digits)` });
  }
  const since = input.since === undefined ? undefined : parseSince(input.since, name, now);
  const results = await reconcileLeads(app, {
    workspaceId: input.workspaceId ?? undefined,
    formId: input.formId,
    since: since && since.getTime() < now.getTime() - META_LEAD_RETENTION_MS ? new Date(now.getTime() - META_LEAD_RETENTION_MS) : since,
    now: () => now,
  });
  if (input.formId !== undefined && results.length === 0) {
    throw new NotFoundError(`form "${input.formId}"`, 'it is not a lead form of a page registered here: leadrelay pages list');
  }
  const forms = results.map(toReport);
  const total = (f: (r: FormReconcileReport) => number) => forms.reduce((n, r) => n + f(r), 0);
  return {
    forms,
    totals: { meta_count: total((r) => r.meta_count), already_recorded: total((r) => r.already_recorded), recovered: total((r) => r.recovered) },
  };
}

interface ReconciliationDay {
  day: string;
  /** What Meta listed as created that day; null: no run asked Meta about it. */
  meta_count: number | null;
  /** True when runs compared the whole day (else `meta_count` covers only part of it). */
  is_complete: boolean;
  recorded: number;
  recovered: number;
  delivered: number;
}

export interface FormReconciliation {
  page_id: string;
  form_id: string;
  form_name: string | null;
  checkpoint: string | null;
  covered_from: string | null;
  last_run_at: string | null;
  last_error: string | null;
  retry_after: string | null;
  days: ReconciliationDay[];
}

/** Per reconciled form of the workspace (or one): its checkpoint and, for the last `days` UTC days, newest first, the numbers. */
export async function describeReconciliation(
  app: App,
  workspaceId: string,
  opts: { formId?: string; days: number },
  now = new Date(),
): Promise<{ forms: FormReconciliation[] }> {
  const checkpoints = await listCheckpoints(app.db, workspaceId, opts.formId);
  const toDay = now.toISOString().slice(0, 10);
  const fromDay = new Date(now.getTime() - (opts.days - 1) * DAY_MS).toISOString().slice(0, 10);
  const counts = await countFormDays(
    app.db,
    workspaceId,
    checkpoints.map((c) => ({ pageId: c.page_id, formId: c.form_id })),
    fromDay,
    toDay,
  );
  return {
    forms: checkpoints.map((c) => {
      const coveredFrom = c.covered_from ? new Date(c.covered_from).getTime() : null;
      const coveredTo = c.last_time_created ? new Date(c.last_time_created).getTime() : null;
      return {
        page_id: c.page_id,
        form_id: c.form_id,
        form_name: c.form_name,
        checkpoint: iso(c.last_time_created),
        covered_from: iso(c.covered_from),
        last_run_at: iso(c.last_run_at),
        last_error: c.last_error,
        retry_after: iso(c.retry_after),
        days: counts
          .filter((d) => d.form_id === c.form_id)
          .map((d) => {
            const start = Date.parse(`${d.day}T00:00:00Z`);
            // Covered: every second of the day is after covered_from and at or before the checkpoint.
            const isComplete = coveredFrom !== null && coveredTo !== null && coveredFrom < start && coveredTo >= start + DAY_MS - 1000;
            return {
              day: d.day,
              meta_count: d.meta_count,
              is_complete: isComplete,
              recorded: d.recorded,
              recovered: d.recovered,
              delivered: d.delivered,
            };
          }),
      };
    }),
  };
}

// Form drift: a marketer may edit a lead form after its mapping was set (Meta lets questions be
// added, removed, relabelled or given new options; reference: meta-lead-ads.md edge case 7).
// A periodic check re-reads the questions of every routed form and compares them with the
// baseline stored on the route when its mapping was set. A difference flags the route (and,
// through it, the lead log) instead of letting the mapping silently put answers in the wrong
// place. The flag is cleared by `mappings set` (new baseline) or when the form changes back.
import { z } from 'zod';
import type { App } from '../app.js';
import { errorSummary } from '../util/error-summary.js';
import { diffQuestions, findRulesAffectedByDrift, isDriftEmpty, type QuestionDrift } from '../mapping/drift.js';
import { formQuestionSchema, parseMapping, type FormQuestion, type MappingRule } from '../mapping/schema.js';
import { GraphError } from '../meta/graph-errors.js';
import type { GraphForm } from '../meta/graph-types.js';
import * as repo from '../store/repos.js';
import { tryTakeLease } from '../store/leases.js';
import { processHolderId } from '../util/process-id.js';
import type { Route } from '../store/schema.js';
import { pageTokenAad } from './lead-record.js';
import { runPeriodically } from './periodic.js';

/** How often the work role re-reads routed forms, unless configured (FORM_DRIFT_INTERVAL_MS). */
const DEFAULT_FORM_DRIFT_INTERVAL_MS = 6 * 60 * 60_000;
/** The first check after start-up waits this long (at most one interval), so boot stays quick. */
const DEFAULT_FORM_DRIFT_INITIAL_DELAY_MS = 60_000;

const affectedRuleSchema = z.object({
  /** 1-based, as people count rules and as validation messages name them. */
  rule: z.number().int().positive(),
  target: z.string(),
  /** What the rule reads, e.g. `answer "budget"`. */
  source: z.string(),
});
type AffectedRule = z.infer<typeof affectedRuleSchema>;

/** What is stored in `routes.drift`: the question diff, the rules it touches, when it was first seen. */
const routeDriftSchema = z.object({
  added: z.array(formQuestionSchema),
  removed: z.array(formQuestionSchema),
  changed: z.array(z.object({ key: z.string(), what: z.array(z.enum(['label', 'type', 'options'])) })),
  affected_rules: z.array(affectedRuleSchema),
  /** ISO time the difference was first detected (kept while the drift lasts). */
  detected_at: z.string(),
});
export type RouteDrift = z.infer<typeof routeDriftSchema>;

/** The stored drift of a route, or null when there is none (or it is unreadable). */
export function parseRouteDrift(raw: unknown): RouteDrift | null {
  if (raw === null || raw === undefined) return null;
  const parsed = routeDriftSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** A form's questions as the mapping engine reads them. */
export function toFormQuestions(form: Pick<GraphForm, 'questions'>): FormQuestion[] {
  return form.questions.map((q) => ({ key: q.key, label: q.label, type: q.type, ...(q.options?.length ? { options: q.options } : {}) }));
}

function describeSource(rule: MappingRule): string {
  const s = rule.source;
  switch (s.type) {
    case 'answer':
      return `answer "${s.key}"`;
    case 'consent':
      return `consent "${s.key}"`;
    case 'meta':
      return `meta ${s.field}`;
    case 'template':
      return `template "${s.template}"`;
    case 'constant':
      return 'constant';
  }
}

/** One line for people: which questions changed and which rules that touches. */
export function describeRouteDrift(drift: RouteDrift): string {
  const parts: string[] = [];
  if (drift.added.length) parts.push(`added ${drift.added.map((q) => `"${q.key}"${q.label && q.label !== q.key ? ` (${q.label})` : ''}`).join(', ')}`);
  if (drift.removed.length) parts.push(`removed ${drift.removed.map((q) => `"${q.key}"`).join(', ')}`);
  if (drift.changed.length) parts.push(`changed ${drift.changed.map((c) => `"${c.key}" (${c.what.join(', ')})`).join(', ')}`);
  const rules = drift.affected_rules.length
    ? `affects ${drift.affected_rules.map((r) => `rule ${r.rule} → ${r.target} (${r.source})`).join(', ')}`
    : 'no mapping rule reads a removed or changed question (new answers go to the unmapped note)';
  return `${parts.join('; ')}; ${rules}`;
}

export interface FormDriftOptions {
  /** Only this workspace's routes. */
  workspaceId?: string;
  /** Only this route (e.g. right after `routes add --form-id`, to store its baseline at once). */
  routeId?: string;
  /** Clock for `detected_at`. */
  now?: () => Date;
}

interface DriftedRoute {
  routeId: string;
  formId: string;
  drift: RouteDrift;
  /** False when the route was already flagged with this same difference. */
  isNew: boolean;
}

export interface FormDriftResult {
  /** Routes whose form was read and compared (or baselined). */
  checked: number;
  /** Every route whose form differs from its baseline now. */
  drifted: DriftedRoute[];
  /** Routes that had no baseline: the current questions were stored as one. */
  baselined: string[];
  /** Routes whose earlier flag was cleared because the form matches its baseline again. */
  cleared: string[];
  /** Routes whose form could not be read; they were left as they were. */
  failed: { routeId: string; formId: string; reason: string }[];
}

type FormRead = { ok: true; questions: FormQuestion[] } | { ok: false; reason: string };

async function readForm(app: App, route: Route & { form_id: string }): Promise<FormRead> {
  const page = await repo.findPageByPageId(app.db, route.page_id);
  if (!page || page.workspace_id !== route.workspace_id) return { ok: false, reason: 'page_not_registered' };
  // A dead token would only earn another error from Meta; the page's leads are parked anyway.
  if (page.status !== 'active') return { ok: false, reason: `page_${page.status}` };
  try {
    const token = app.keyRing.decrypt(page.token_envelope, pageTokenAad(page.page_id));
    return { ok: true, questions: toFormQuestions(await app.graph.getForm(route.form_id, token)) };
  } catch (err) {
    return { ok: false, reason: err instanceof GraphError ? err.info.reason : 'form_read_failed' };
  }
}

function parseBaseline(raw: unknown): FormQuestion[] | null {
  if (raw === null || raw === undefined) return null;
  const parsed = z.array(formQuestionSchema).safeParse(raw);
  return parsed.success ? parsed.data : null;
}

function findAffectedRules(route: Route, drift: QuestionDrift): AffectedRule[] {
  if (route.mapping === null) return [];
  const parsed = parseMapping(route.mapping);
  if (!parsed.ok) return [];
  return findRulesAffectedByDrift(parsed.mapping, drift).map((i) => ({
    rule: i + 1,
    target: parsed.mapping.rules[i].target,
    source: describeSource(parsed.mapping.rules[i]),
  }));
}

const isSameContent = (a: RouteDrift, b: Omit<RouteDrift, 'detected_at'>) =>
  JSON.stringify([a.added, a.removed, a.changed, a.affected_rules]) === JSON.stringify([b.added, b.removed, b.changed, b.affected_rules]);

/**
 * Re-reads the questions of every enabled route that names a form and compares them with the
 * route's baseline. A route without a baseline gets the current questions as its baseline; a
 * difference is stored as the route's drift (kept until the mapping is set again or the form
 * changes back); a form that cannot be read leaves its routes untouched. Each form is read once.
 */
export async function checkFormDrift(app: App, opts: FormDriftOptions = {}): Promise<FormDriftResult> {
  const now = opts.now ?? (() => new Date());
  // Writes go through updateRouteIfUnchanged: a `mappings set` that ran meanwhile (new baseline,
  // drift cleared) is not undone by a verdict about the route as read here.
  const routes = await repo.listEnabledFormRoutes(app.db, { workspaceId: opts.workspaceId, routeId: opts.routeId });

  const reads = new Map<string, Promise<FormRead>>();
  const result: FormDriftResult = { checked: 0, drifted: [], baselined: [], cleared: [], failed: [] };
  for (const route of routes) {
    const readKey = `${route.workspace_id}:${route.page_id}:${route.form_id}`;
    let read = reads.get(readKey);
    if (!read) reads.set(readKey, (read = readForm(app, route)));
    const form = await read;
    if (!form.ok) {
      result.failed.push({ routeId: route.id, formId: route.form_id, reason: form.reason });
      continue;
    }
    result.checked++;

    const baseline = parseBaseline(route.form_questions);
    if (!baseline) {
      if (await repo.updateRouteIfUnchanged(app.db, route, { formQuestions: form.questions, drift: null })) result.baselined.push(route.id);
      continue;
    }

    const diff = diffQuestions(baseline, form.questions);
    const previous = parseRouteDrift(route.drift);
    if (isDriftEmpty(diff)) {
      if (route.drift !== null && (await repo.updateRouteIfUnchanged(app.db, route, { drift: null }))) result.cleared.push(route.id);
      continue;
    }
    const content = { added: diff.added, removed: diff.removed, changed: diff.changed, affected_rules: findAffectedRules(route, diff) };
    if (previous && isSameContent(previous, content)) {
      result.drifted.push({ routeId: route.id, formId: route.form_id, drift: previous, isNew: false });
      continue;
    }
    // The first detection time is kept while the form stays changed: leads since then are suspect.
    const drift: RouteDrift = { ...content, detected_at: previous?.detected_at ?? now().toISOString() };
    if (await repo.updateRouteIfUnchanged(app.db, route, { drift })) {
      result.drifted.push({ routeId: route.id, formId: route.form_id, drift, isNew: true });
      app.logger.warn(
        {
          routeId: route.id,
          formId: route.form_id,
          added: diff.added.length,
          removed: diff.removed.length,
          changed: diff.changed.length,
          affectedRules: drift.affected_rules.map((r) => r.rule),
        },
        "a routed form's questions changed since its mapping was set; the route is flagged",
      );
    }
  }
  return result;
}

export const FORM_DRIFT_LEASE = 'form-drift';

/**
 * Runs one check unless another process ran one within the interval: the PostgreSQL lease is held
 * for the whole interval (not released after the check), so a fleet of workers checks each form
 * once per interval. Null when another process holds the lease.
 */
export async function runLockedFormDriftCheck(app: App, intervalMs: number): Promise<FormDriftResult | null> {
  // A per-run holder id: the same process must not re-take its own lease before it expires.
  if (!(await tryTakeLease(app.db, FORM_DRIFT_LEASE, `${processHolderId}:${Date.now()}`, Math.max(1000, intervalMs - 1000)))) return null;
  return checkFormDrift(app);
}

export interface FormDriftScheduleOptions {
  /** Default DEFAULT_FORM_DRIFT_INTERVAL_MS (6 h); 0 turns the periodic check off. */
  intervalMs?: number;
  /** Delay of the first check after start; default min(interval, 60 s). */
  initialDelayMs?: number;
}

/**
 * The work role's periodic drift check. A timer (not a Redis-scheduled job, so it survives Redis
 * losing everything), one run at a time per process and one per interval across processes. The
 * first run comes soon after start so a fleet that restarts more often than the interval still
 * checks.
 */
export function startFormDriftChecks(app: App, opts: FormDriftScheduleOptions = {}): { stop(): Promise<void> } {
  if (opts.intervalMs === 0) return { stop: async () => {} };
  const intervalMs = Math.max(1000, opts.intervalMs ?? DEFAULT_FORM_DRIFT_INTERVAL_MS);
  const initialDelayMs = Math.max(0, opts.initialDelayMs ?? Math.min(intervalMs, DEFAULT_FORM_DRIFT_INITIAL_DELAY_MS));
  return runPeriodically(
    async () => {
      try {
        const r = await runLockedFormDriftCheck(app, intervalMs);
        if (r && (r.drifted.length || r.baselined.length || r.cleared.length || r.failed.length)) {
          app.logger.info(
            {
              checked: r.checked,
              drifted: r.drifted.length,
              newlyDrifted: r.drifted.filter((d) => d.isNew).length,
              baselined: r.baselined.length,
              cleared: r.cleared.length,
              unreadable: r.failed.length,
            },
            'form drift check done',
          );
        }
      } catch (err) {
        app.logger.warn({ err: errorSummary(err) }, 'form drift check failed');
      }
    },
    { intervalMs, initialDelayMs },
  );
}

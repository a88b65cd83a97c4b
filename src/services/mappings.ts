// Field mappings of routes: propose one from the form's questions and the destination's fields,
// validate and store one, show the exact record a route would send, and re-read routed forms for
// changes. What `leadrelay mappings …` and the API's mapping operations both do. A route may take
// one form or every form of its page: suggest and preview then work per form (a form id picks
// one; without it every known form of the page is handled, grouped per form).
import { z } from 'zod';
import { getManifest, loadConnector } from '../../connectors/index.js';
import { ConnectorError, type FieldDescriptor } from '../../connectors/types.js';
import type { App } from '../app.js';
import { CANONICAL_SCHEMA_VERSION, type CanonicalLead } from '../lead/canonical.js';
import { applyMapping } from '../mapping/apply.js';
import { sampleLeadFromQuestions } from '../mapping/sample-lead.js';
import { type FormQuestion, formQuestionSchema, type Mapping, parseMapping } from '../mapping/schema.js';
import { type MappingSuggestion, proposeMapping } from '../mapping/suggest.js';
import { type MappingIssue, validateMapping } from '../mapping/validate.js';
import { GraphError } from '../meta/graph-errors.js';
import type { GraphLead } from '../meta/graph-types.js';
import { buildConnectorContext } from '../pipeline/connector-context.js';
import { checkFormDrift, type FormDriftResult, toFormQuestions } from '../pipeline/form-drift.js';
import { decryptLeadAnswers, toCanonicalLead } from '../pipeline/lead-record.js';
import { buildDeliveryRecord, hasOpenTargets, mappingFieldsFor, mappingForRoute, needsFieldList, presetFor, questionsFor } from '../pipeline/mapping-step.js';
import * as repo from '../store/repos.js';
import type { Destination, Page, Route } from '../store/schema.js';
import { type FieldNamer, InvalidInputError } from './errors.js';
import { pageTokenOf } from './pages.js';
import { getRoute } from './routes.js';

/** Who calls: the workspace they act in (null: the operator, any workspace), how they name fields, where notes go. */
export interface MappingCall {
  workspaceId: string | null;
  name: FieldNamer;
  /** A line for a person (a warning, a validation issue); the CLI prints it on stderr, the API returns it. */
  say(line: string): void;
}

/** The route a call is about; with a destination id, it must be the route's. */
async function loadRoute(app: App, call: MappingCall, routeId: string, destinationId?: string): Promise<Route> {
  const route = await getRoute(app, call.workspaceId, routeId, 'list them with: leadrelay routes list');
  if (destinationId && destinationId !== route.destination_id)
    throw new InvalidInputError({
      field: call.name('destination_id'),
      message: `route ${routeId} sends to destination ${route.destination_id}, not ${destinationId}`,
    });
  return route;
}

async function routePage(app: App, route: Route): Promise<Page | undefined> {
  const page = await repo.findPageByPageId(app.db, route.page_id);
  return page && page.workspace_id === route.workspace_id ? page : undefined;
}

const pageToken = (app: App, page: Page) => pageTokenOf(app, page);

/** The route's form from Graph (with the page's token); null when the route takes every form or its page is not registered. */
async function fetchRouteForm(app: App, route: Route): Promise<{ name: string | null; questions: FormQuestion[] } | null> {
  if (!route.form_id) return null;
  const page = await routePage(app, route);
  if (!page) return null;
  const form = await app.graph.getForm(route.form_id, pageToken(app, page));
  return { name: form.name, questions: toFormQuestions(form) };
}

/** The form's questions from Graph (with the page's token); null when the route takes every form. */
async function fetchRouteQuestions(app: App, route: Route): Promise<FormQuestion[] | null> {
  return (await fetchRouteForm(app, route))?.questions ?? null;
}

const storedQuestionsSchema = z.array(formQuestionSchema);
const parseQuestions = (raw: unknown): FormQuestion[] | null => {
  const parsed = storedQuestionsSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
};

/** One form a command works on: its questions as Meta has them now, and as LeadRelay kept them. */
interface RouteForm {
  id: string;
  name: string | null;
  /** Read from Meta just now; null when the page is not registered or the read failed. */
  live: FormQuestion[] | null;
  /** The route's baseline (a one-form route), else the questions kept from the form's last fetched lead. */
  stored: FormQuestion[] | null;
  /** Why reading the form from Meta failed, when it did. */
  readError?: unknown;
}

/** The forms a suggest or preview works on, and whether the output is grouped per form. */
interface RouteForms {
  page: Page | undefined;
  forms: RouteForm[];
  /** True for a page-wide route without --form-id: every known form, grouped. */
  isGrouped: boolean;
}

const FORM_ID_PATTERN = /^\d{1,40}$/;

/** Lead form ids are numeric, and numbers past 2^53 must stay text: compare by length, then digits. */
const compareIds = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/**
 * The forms of a route: `--form-id F` (any route; a one-form route only its own), else the
 * route's form, else — a page-wide route — every known form of the page: those LeadRelay kept
 * questions of (a lead of the form was fetched) and the page's active forms on Meta, when the
 * page token can list them.
 */
async function loadRouteForms(app: App, call: MappingCall, route: Route, formId: string | undefined): Promise<RouteForms> {
  const { name } = call;
  if (formId !== undefined) {
    if (!FORM_ID_PATTERN.test(formId))
      throw new InvalidInputError({ field: name('form_id'), message: `${name('form_id')} must be a numeric lead form id, got "${formId.slice(0, 40)}"` });
    if (route.form_id && route.form_id !== formId)
      throw new InvalidInputError({ field: name('form_id'), message: `route ${route.id} takes only form ${route.form_id}, not ${formId}` });
  }
  const page = await routePage(app, route);
  const kept = new Map((await repo.listPageForms(app.db, route.workspace_id, route.page_id)).map((r) => [r.form_id, r]));
  // A disconnected page has no token: the forms LeadRelay kept are all there is.
  const token = page?.token_envelope ? pageToken(app, page) : null;

  const readForm = async (id: string): Promise<RouteForm> => {
    const row = kept.get(id);
    const stored = (route.form_id === id ? parseQuestions(route.form_questions) : null) ?? parseQuestions(row?.questions);
    const form: RouteForm = { id, name: row?.name ?? null, live: null, stored };
    if (!token) return form;
    try {
      const graphForm = await app.graph.getForm(id, token);
      form.live = toFormQuestions(graphForm);
      form.name = graphForm.name ?? form.name;
    } catch (err) {
      form.readError = err;
    }
    return form;
  };

  const single = formId ?? route.form_id;
  if (single) return { page, forms: [await readForm(single)], isGrouped: false };

  const ids = new Set(kept.keys());
  if (token) {
    try {
      for await (const f of app.graph.listPageForms(route.page_id, token)) if (!f.status || f.status.toUpperCase() === 'ACTIVE') ids.add(f.id);
    } catch (err) {
      call.say(`warning: could not list the forms of page ${route.page_id} on Meta (${readFailure(err)}); using the forms LeadRelay has received leads from`);
    }
  }
  if (ids.size === 0) {
    throw new InvalidInputError({
      field: name('form_id'),
      message:
        `page ${route.page_id} has no known form yet: send a test lead to one of its forms (Meta's Lead Ads Testing Tool) so LeadRelay keeps its questions, or give ${name('form_id')} F` +
        (page ? '' : ' (the page is not registered either: add it first)'),
    });
  }
  const forms: RouteForm[] = [];
  for (const id of [...ids].sort(compareIds)) forms.push(await readForm(id));
  return { page, forms, isGrouped: true };
}

const formLabel = (f: { id: string | null; name: string | null }) => `form ${f.id ?? '?'}${f.name ? ` (${f.name})` : ''}`;

/** Where per-form messages go: with a `form F (name): ` prefix when the output is grouped. */
const formPrinter = (call: MappingCall, isGrouped: boolean, form: RouteForm) => (line: string) => call.say(isGrouped ? `${formLabel(form)}: ${line}` : line);

/** Why a Graph read failed, without anything secret (GraphError messages never carry the token). */
function readFailure(err: unknown): string {
  return err instanceof GraphError ? err.info.reason : err instanceof Error ? err.name : 'error';
}

async function loadDestination(app: App, route: Route): Promise<Destination> {
  const dest = await repo.findDestination(app.db, route.destination_id);
  if (!dest) throw new Error(`destination ${route.destination_id} of the route no longer exists`);
  return dest;
}

/** The fields mapping targets are checked against (what the destination's connector declares). */
async function describeTargets(app: App, dest: Destination): Promise<FieldDescriptor[]> {
  return mappingFieldsFor(await loadConnector(dest.type), buildConnectorContext(app, dest, null));
}

/**
 * Meta's test lead (Graph shape) as the canonical record, without storing it: the same
 * conversion src/pipeline/lead-record.ts makes for a fetched lead.
 */
function canonicalFromGraphLead(g: GraphLead, ctx: { workspaceId: string; page: Page; formId: string; formName: string | null }): CanonicalLead {
  return {
    schema: CANONICAL_SCHEMA_VERSION,
    id: `test-lead-${g.id}`,
    leadgen_id: g.id,
    workspace_id: ctx.workspaceId,
    page: { id: ctx.page.page_id, name: ctx.page.name },
    form: { id: g.formId ?? ctx.formId, name: ctx.formName },
    created_time: g.createdTime.toISOString(),
    platform: g.platform,
    is_organic: g.isOrganic,
    attribution: { ad_id: g.adId, ad_name: g.adName, adset_id: g.adsetId, adset_name: g.adsetName, campaign_id: g.campaignId, campaign_name: g.campaignName },
    answers: g.fieldData.map((f) => ({ key: f.name, values: f.values })),
    consents: g.consents.map((c) => ({ key: c.key, checked: c.checked })),
    is_test: true,
    received_at: new Date().toISOString(),
  };
}

const formatIssue = (i: MappingIssue) => `${i.severity}: ${i.message}`;
const formatPlaceholder = (p: MappingSuggestion['placeholders'][number]) =>
  `note: rule ${p.rule + 1} → ${p.field.key}: required field "${p.field.label}" matches no question, so it gets a placeholder; review it before mappings set`;

type FormRef = { id: string; name: string | null };
type FormSuggestion = { form: FormRef; mapping: Mapping; issues: MappingIssue[] } | { form: FormRef; skipped: string };

export interface SuggestResult {
  route: Route;
  destination: Destination;
  /** True for a page-wide route without a form id: one proposal per known form. */
  isGrouped: boolean;
  isPageRegistered: boolean;
  forms: FormSuggestion[];
}

/** Proposes a complete mapping per form from its questions and the destination's fields (nothing is stored). */
export async function suggestMappings(app: App, call: MappingCall, input: { routeId: string; formId?: string }): Promise<SuggestResult> {
  const route = await loadRoute(app, call, input.routeId);
  const { page, forms, isGrouped } = await loadRouteForms(app, call, route, input.formId);
  const dest = await loadDestination(app, route);
  const manifest = getManifest(dest.type);
  const openTargets = hasOpenTargets(manifest);
  const fields = await describeTargets(app, dest);
  const preset = presetFor(manifest);

  const results: FormSuggestion[] = [];
  for (const form of forms) {
    const say = formPrinter(call, isGrouped, form);
    if (form.readError) {
      if (!form.stored) {
        if (!isGrouped && !route.form_id) {
          throw new InvalidInputError({
            field: call.name('form_id'),
            message: `form ${form.id} cannot be read with page ${route.page_id}'s token (${readFailure(form.readError)}), and no lead of it was received: is it a form of this page?`,
          });
        }
        if (!isGrouped) throw form.readError;
        say(`warning: could not read the form from Meta (${readFailure(form.readError)}), and no lead of it was received yet; skipped`);
        results.push({ form: { id: form.id, name: form.name }, skipped: `could not read the form from Meta (${readFailure(form.readError)})` });
        continue;
      }
      say(`warning: could not read form ${form.id} from Meta (${readFailure(form.readError)}); using the questions LeadRelay kept`);
    }
    const questions = form.live ?? form.stored;
    if (!questions)
      throw new InvalidInputError({
        field: call.name('route_id'),
        message: `page ${route.page_id} is not registered, so form ${form.id} cannot be read: add the page first`,
      });
    const { mapping, placeholders } = proposeMapping(dest.type, questions, fields, preset, { openTargets });
    const issues = validateMapping(mapping, fields, questions, { openTargets });
    for (const i of issues) say(formatIssue(i));
    for (const p of placeholders) say(formatPlaceholder(p));
    results.push({ form: { id: form.id, name: form.name }, mapping, issues });
  }
  if (isGrouped && !results.some((r) => 'mapping' in r))
    throw new InvalidInputError({
      field: call.name('form_id'),
      message: `no form of page ${route.page_id} could be read: give ${call.name('form_id')} F, or try again later`,
    });
  return { route, destination: dest, isGrouped, isPageRegistered: page !== undefined, forms: results };
}

export interface SetMappingResult {
  route: Route;
  rules: number;
  issues: MappingIssue[];
}

/**
 * Validates a mapping against the destination's fields and the form's questions and stores it on
 * the route; errors refuse it unless `force`. The questions read from Meta now become the route's
 * baseline for form-change checks (and clear its flag).
 */
export async function setMapping(
  app: App,
  call: MappingCall,
  input: { routeId: string; destinationId?: string; mapping: unknown; force?: boolean },
): Promise<SetMappingResult> {
  const route = await loadRoute(app, call, input.routeId, input.destinationId);
  const parsed = parseMapping(input.mapping);
  if (!parsed.ok)
    throw new InvalidInputError(
      parsed.errors.map((e) => ({ field: call.name('mapping'), message: e })),
      `${call.name('mapping')} is not valid: ${parsed.errors.join('; ')}`,
    );
  // Only questions read from Meta now may replace the baseline (and clear a drift flag).
  let fresh: FormQuestion[] | null = null;
  try {
    fresh = await fetchRouteQuestions(app, route);
  } catch (err) {
    call.say(
      `warning: could not read form ${route.form_id} from Meta (${readFailure(err)}); validated against the questions stored on the route, and its form-change flag is kept`,
    );
  }
  const questions = fresh ?? (route.form_questions as FormQuestion[] | null) ?? undefined;
  const dest = await loadDestination(app, route);
  const fields = await describeTargets(app, dest);
  const issues = validateMapping(parsed.mapping, fields, questions, { openTargets: hasOpenTargets(getManifest(dest.type)) });
  for (const i of issues) call.say(formatIssue(i));
  const errors = issues.filter((i) => i.severity === 'error');
  if (errors.length && !input.force)
    throw new InvalidInputError(
      errors.map((i) => ({ field: i.rule === null ? call.name('mapping') : `${call.name('mapping')}.rules.${i.rule}`, message: i.message })),
      `mapping not saved: ${errors.length} error(s) (see above; ${call.name('force')} saves anyway)`,
    );
  await repo.updateRoute(app.db, route.id, { mapping: parsed.mapping, ...(fresh ? { formQuestions: fresh, drift: null } : {}) });
  return { route, rules: parsed.mapping.rules.length, issues };
}

export type PreviewSource = { kind: 'lead'; leadId: string } | { kind: 'test_lead' } | { kind: 'sample' };

export interface PreviewResult {
  route: string;
  destination: { id: string; type: string };
  /** One form's preview (not grouped), or one per form (grouped). */
  preview?: Record<string, unknown>;
  forms?: Record<string, unknown>[];
}

/**
 * The exact record the route would send, for a stored lead, Meta's test lead of the form, or a
 * sample made from the form's questions: the same steps as the delivery worker
 * (src/pipeline/deliver-lead.ts), so what is shown is what would be sent.
 */
export async function previewMapping(
  app: App,
  call: MappingCall,
  input: { routeId: string; destinationId?: string; source: PreviewSource; formId?: string },
): Promise<PreviewResult> {
  const { name } = call;
  const route = await loadRoute(app, call, input.routeId, input.destinationId);
  const dest = await loadDestination(app, route);
  const connector = await loadConnector(dest.type);
  const openTargets = hasOpenTargets(connector);
  let fields: FieldDescriptor[] = [];
  let fieldsError: string | null = null;
  try {
    fields = await describeTargets(app, dest);
  } catch (err) {
    if (needsFieldList(connector, route)) throw err;
    fieldsError = err instanceof ConnectorError ? err.reason : 'error';
  }

  /** One lead through the route, as the delivery worker would send it. */
  const previewLead = async (lead: CanonicalLead, source: 'stored' | 'test_lead' | 'sample', form: RouteForm | null, say: (line: string) => void) => {
    const formQuestions = route.form_questions
      ? null
      : (((await repo.findFormQuestions(app.db, route.workspace_id, lead.form.id)) as FormQuestion[] | null) ?? form?.live ?? null);
    const record = buildDeliveryRecord(connector, route, lead, 'preview', fields, formQuestions);
    const mapping = mappingForRoute(connector, route, lead, fields, formQuestions);
    const storedQuestions = questionsFor(route, formQuestions);
    const out = mapping ? applyMapping(mapping, lead, { questions: storedQuestions }) : null;
    // Validate against the form as it is now when it is known (a changed form shows here).
    const issues = mapping && !fieldsError ? validateMapping(mapping, fields, form?.live ?? storedQuestions, { openTargets }) : [];
    const hasOwnMapping = route.mapping !== null && parseMapping(route.mapping).ok;
    for (const i of issues) say(formatIssue(i));
    return {
      form: { id: lead.form.id, name: lead.form.name },
      lead: { source, id: lead.id, leadgen_id: lead.leadgen_id },
      mapping: hasOwnMapping ? 'route' : mapping ? 'preset' : 'none',
      fields: record.fields,
      unmappedNote: record.unmappedNote ?? null,
      warnings: out?.warnings ?? [],
      issues,
      ...(fieldsError ? { validationSkipped: `could not read the CRM's fields: ${fieldsError}` } : {}),
      ...(route.drift ? { formChanged: true } : {}),
      ...(connector.renderBody ? { body: connector.renderBody(record) } : {}),
    };
  };
  const header = { route: route.id, destination: { id: dest.id, type: dest.type } };

  if (input.source.kind === 'lead') {
    const leadId = input.source.leadId;
    const row = repo.isUuid(leadId) ? await repo.findLead(app.db, leadId) : undefined;
    if (!row || row.workspace_id !== route.workspace_id)
      throw new InvalidInputError({ field: name('lead_id'), message: `lead "${leadId.slice(0, 64)}" not found in the route's workspace` });
    if (row.erased_at) throw new InvalidInputError({ field: name('lead_id'), message: `lead ${leadId} was erased by the retention purge` });
    if (input.formId && row.form_id !== input.formId)
      throw new InvalidInputError({ field: name('form_id'), message: `lead ${leadId} came from form ${row.form_id ?? '(unknown)'}, not ${input.formId}` });
    const lead = toCanonicalLead(row, decryptLeadAnswers(app.keyRing, row));
    return { ...header, preview: await previewLead(lead, 'stored', null, call.say) };
  }

  const isTestLead = input.source.kind === 'test_lead';
  const { page, forms, isGrouped } = await loadRouteForms(app, call, route, input.formId);
  if (isTestLead && !page) throw new InvalidInputError({ field: name('test_lead'), message: `page ${route.page_id} is not registered: add it first` });
  const results: Record<string, unknown>[] = [];
  for (const form of forms) {
    const say = formPrinter(call, isGrouped, form);
    const skip = (reason: string) => {
      say(`skipped: ${reason}`);
      results.push({ form: { id: form.id, name: form.name }, skipped: reason });
    };
    if (form.readError) say(`warning: could not read form ${form.id} from Meta (${readFailure(form.readError)})`);
    const base = { workspace_id: route.workspace_id, page: { id: route.page_id, name: page?.name ?? null }, form: { id: form.id, name: form.name } };
    if (isTestLead) {
      let testLeads: GraphLead[];
      try {
        testLeads = await app.graph.listTestLeads(form.id, pageToken(app, page!));
      } catch (err) {
        if (!isGrouped) throw err;
        skip(`could not read its test leads from Meta (${readFailure(err)})`);
        continue;
      }
      const newest = [...testLeads].sort((a, b) => b.createdTime.getTime() - a.createdTime.getTime())[0];
      if (!newest) {
        if (!isGrouped)
          throw new InvalidInputError({
            field: name('test_lead'),
            message: `form ${form.id} has no test lead on Meta: create one with Meta's Lead Ads Testing Tool, or give ${name('lead_id')}`,
          });
        skip("no test lead on Meta (create one with Meta's Lead Ads Testing Tool)");
        continue;
      }
      const lead = canonicalFromGraphLead(newest, { workspaceId: route.workspace_id, page: page!, formId: form.id, formName: form.name });
      results.push(await previewLead(lead, 'test_lead', form, say));
    } else {
      const questions = form.stored ?? form.live;
      if (!questions) {
        if (!isGrouped)
          throw new InvalidInputError({
            field: name('lead_id'),
            message: `no questions known for form ${form.id} (it cannot be read from Meta, and no lead of it was received yet): give ${name('lead_id')} LEAD_ID`,
          });
        skip('no questions known (it cannot be read from Meta, and no lead of it was received yet)');
        continue;
      }
      results.push(await previewLead(sampleLeadFromQuestions(questions, base), 'sample', form, say));
    }
  }

  if (!isGrouped) return { ...header, preview: results[0] };
  if (results.every((r) => 'skipped' in r)) {
    throw new InvalidInputError({
      field: name(isTestLead ? 'test_lead' : 'lead_id'),
      message: isTestLead
        ? `no form of page ${route.page_id} has a test lead on Meta: create one with Meta's Lead Ads Testing Tool, or give ${name('lead_id')}`
        : `no questions known for any form of page ${route.page_id}: give ${name('lead_id')} LEAD_ID`,
    });
  }
  return { ...header, forms: results };
}

/** Re-reads every routed form (of a workspace, or one route) now and flags routes whose form changed since their mapping was set. */
export async function checkMappingDrift(app: App, call: MappingCall, input: { routeId?: string }): Promise<FormDriftResult> {
  if (input.routeId) await loadRoute(app, call, input.routeId);
  return checkFormDrift(app, { workspaceId: call.workspaceId ?? undefined, routeId: input.routeId });
}

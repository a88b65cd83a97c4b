// `leadrelay mappings suggest|set|preview|check-drift`: propose, validate and store a route's
// field mapping, show the exact record that would be sent, and re-read routed forms for changes.
// A route may take one form or every form of its page: suggest and preview then work per form
// (`--form-id F` picks one; without it every known form of the page is handled, grouped per form).
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { z } from 'zod';
import type { App } from '../app.js';
import { getManifest, loadConnector } from '../../connectors/index.js';
import { ConnectorError, type FieldDescriptor } from '../../connectors/types.js';
import { CANONICAL_SCHEMA_VERSION, type CanonicalLead } from '../lead/canonical.js';
import { applyMapping } from '../mapping/apply.js';
import { formQuestionSchema, parseMapping, type FormQuestion } from '../mapping/schema.js';
import { sampleLeadFromQuestions } from '../mapping/sample-lead.js';
import { proposeMapping, type MappingSuggestion } from '../mapping/suggest.js';
import { validateMapping, type MappingIssue } from '../mapping/validate.js';
import { GraphError } from '../meta/graph-errors.js';
import type { GraphLead } from '../meta/graph-types.js';
import { buildConnectorContext } from '../pipeline/connector-context.js';
import { checkFormDrift, describeRouteDrift, toFormQuestions } from '../pipeline/form-drift.js';
import { decryptLeadAnswers, pageTokenAad, toCanonicalLead } from '../pipeline/lead-record.js';
import { buildDeliveryRecord, hasOpenTargets, mappingFieldsFor, mappingForRoute, needsFieldList, presetFor, questionsFor } from '../pipeline/mapping-step.js';
import * as repo from '../store/repos.js';
import type { Destination, Page, Route } from '../store/schema.js';

type WithApp = <T>(opts: { queues?: boolean }, fn: (app: App) => Promise<T>) => Promise<T>;
type UsageErrorCtor = new (message: string) => Error;
const print = (s: string) => process.stdout.write(`${s}\n`);
const printErr = (s: string) => process.stderr.write(`${s}\n`);

async function loadRoute(app: App, routeId: string, destinationId: string | undefined, UsageError: UsageErrorCtor): Promise<Route> {
  const route = await repo.findRoute(app.db, routeId);
  if (!route) throw new UsageError(`route "${routeId}" not found (list them with: leadrelay routes list)`);
  if (destinationId && destinationId !== route.destination_id)
    throw new UsageError(`route ${routeId} sends to destination ${route.destination_id}, not ${destinationId}`);
  return route;
}

async function routePage(app: App, route: Route): Promise<Page | undefined> {
  const page = await repo.findPageByPageId(app.db, route.page_id);
  return page && page.workspace_id === route.workspace_id ? page : undefined;
}

const pageToken = (app: App, page: Page) => app.keyRing.decrypt(page.token_envelope, pageTokenAad(page.page_id));

/** The route's form from Graph (with the page's token); null when the route takes every form or its page is not registered. */
async function fetchRouteForm(app: App, route: Route): Promise<{ name: string | null; questions: FormQuestion[] } | null> {
  if (!route.form_id) return null;
  const page = await routePage(app, route);
  if (!page) return null;
  const form = await app.graph.getForm(route.form_id, pageToken(app, page));
  return { name: form.name, questions: toFormQuestions(form) };
}

/** The form's questions from Graph (with the page's token); null when the route takes every form. */
export async function fetchRouteQuestions(app: App, route: Route): Promise<FormQuestion[] | null> {
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
async function loadRouteForms(app: App, route: Route, formId: string | undefined, UsageError: UsageErrorCtor): Promise<RouteForms> {
  if (formId !== undefined) {
    if (!FORM_ID_PATTERN.test(formId)) throw new UsageError(`--form-id must be a numeric lead form id, got "${formId.slice(0, 40)}"`);
    if (route.form_id && route.form_id !== formId) throw new UsageError(`route ${route.id} takes only form ${route.form_id}, not ${formId}`);
  }
  const page = await routePage(app, route);
  const kept = new Map((await repo.listPageForms(app.db, route.workspace_id, route.page_id)).map((r) => [r.form_id, r]));
  const token = page ? pageToken(app, page) : null;

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
      printErr(`warning: could not list the forms of page ${route.page_id} on Meta (${readFailure(err)}); using the forms LeadRelay has received leads from`);
    }
  }
  if (ids.size === 0) {
    throw new UsageError(
      `page ${route.page_id} has no known form yet: send a test lead to one of its forms (Meta's Lead Ads Testing Tool) so LeadRelay keeps its questions, or give --form-id F` +
        (page ? '' : ` (the page is not registered either: leadrelay pages add)`),
    );
  }
  const forms: RouteForm[] = [];
  for (const id of [...ids].sort(compareIds)) forms.push(await readForm(id));
  return { page, forms, isGrouped: true };
}

const formLabel = (f: { id: string | null; name: string | null }) => `form ${f.id ?? '?'}${f.name ? ` (${f.name})` : ''}`;

/** Where per-form messages go: with a `form F (name): ` prefix when the output is grouped. */
const formPrinter = (isGrouped: boolean, form: RouteForm) => (line: string) => printErr(isGrouped ? `${formLabel(form)}: ${line}` : line);

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

export function registerMappingCommands(program: Command, withApp: WithApp, UsageError: UsageErrorCtor): void {
  const m = program.command('mappings').description("a route's field mapping: form questions → CRM fields");
  const formIdOption = () =>
    new Option(
      '--form-id <id>',
      'one lead form of the page (a route that takes every form of its page: without it, every known form is handled, grouped per form)',
    );

  m.command('suggest')
    .description("propose a complete mapping from the form's questions and the CRM's fields (prints JSON; edit it, then mappings set)")
    .requiredOption('--route <id>', 'route id')
    .addOption(formIdOption())
    .action((o: { route: string; formId?: string }) =>
      withApp({ queues: false }, async (app) => {
        const route = await loadRoute(app, o.route, undefined, UsageError);
        const { page, forms, isGrouped } = await loadRouteForms(app, route, o.formId, UsageError);
        const dest = await loadDestination(app, route);
        const manifest = getManifest(dest.type);
        const openTargets = hasOpenTargets(manifest);
        const fields = await describeTargets(app, dest);
        const preset = presetFor(manifest);

        const results: (
          | { form: { id: string; name: string | null }; mapping: unknown; issues: MappingIssue[] }
          | { form: { id: string; name: string | null }; skipped: string }
        )[] = [];
        for (const form of forms) {
          const say = formPrinter(isGrouped, form);
          if (form.readError) {
            if (!form.stored) {
              if (!isGrouped && !route.form_id) {
                throw new UsageError(
                  `form ${form.id} cannot be read with page ${route.page_id}'s token (${readFailure(form.readError)}), and no lead of it was received: is it a form of this page?`,
                );
              }
              if (!isGrouped) throw form.readError;
              say(`warning: could not read the form from Meta (${readFailure(form.readError)}), and no lead of it was received yet; skipped`);
              results.push({ form: { id: form.id, name: form.name }, skipped: `could not read the form from Meta (${readFailure(form.readError)})` });
              continue;
            }
            say(`warning: could not read form ${form.id} from Meta (${readFailure(form.readError)}); using the questions LeadRelay kept`);
          }
          const questions = form.live ?? form.stored;
          if (!questions) throw new UsageError(`page ${route.page_id} is not registered, so form ${form.id} cannot be read: add it with leadrelay pages add`);
          const { mapping, placeholders } = proposeMapping(dest.type, questions, fields, preset, { openTargets });
          const issues = validateMapping(mapping, fields, questions, { openTargets });
          for (const i of issues) say(formatIssue(i));
          for (const p of placeholders) say(formatPlaceholder(p));
          results.push({ form: { id: form.id, name: form.name }, mapping, issues });
        }

        if (!isGrouped) {
          print(JSON.stringify((results[0] as { mapping: unknown }).mapping, null, 2));
          return;
        }
        if (!results.some((r) => 'mapping' in r)) throw new UsageError(`no form of page ${route.page_id} could be read: give --form-id F, or try again later`);
        printErr(
          `route ${route.id} takes every form of page ${route.page_id}${page ? '' : ' (not registered)'} with one mapping: save one of the ${results.length} proposals above, or a merge of them, ` +
            `with leadrelay mappings set --route ${route.id} --destination ${dest.id} --file mapping.json (one form alone: mappings suggest --route ${route.id} --form-id F)`,
        );
        print(JSON.stringify({ route: route.id, page: route.page_id, forms: results }, null, 2));
      }),
    );

  m.command('set')
    .description("validate a mapping against the CRM's fields and the form's questions, and save it on the route")
    .requiredOption('--route <id>', 'route id')
    .requiredOption('--destination <id>', "the route's destination id")
    .requiredOption('--file <path>', 'mapping JSON file')
    .option('--force', 'save even when the validation finds errors')
    .action((o: { route: string; destination: string; file: string; force?: boolean }) =>
      withApp({ queues: false }, async (app) => {
        const route = await loadRoute(app, o.route, o.destination, UsageError);
        let raw: unknown;
        try {
          raw = JSON.parse(readFileSync(o.file, 'utf8'));
        } catch (err) {
          throw new UsageError(`cannot read mapping from ${o.file}: ${(err as Error).message.split('\n')[0]}`);
        }
        const parsed = parseMapping(raw);
        if (!parsed.ok) throw new UsageError(`mapping in ${o.file} is not valid: ${parsed.errors.join('; ')}`);
        // The questions the mapping is checked against become the route's baseline for drift
        // checks; only questions read from Meta now may replace it (and clear a drift flag).
        let fresh: FormQuestion[] | null = null;
        try {
          fresh = await fetchRouteQuestions(app, route);
        } catch (err) {
          printErr(
            `warning: could not read form ${route.form_id} from Meta (${readFailure(err)}); validated against the questions stored on the route, and its form-change flag is kept`,
          );
        }
        const questions = fresh ?? (route.form_questions as FormQuestion[] | null) ?? undefined;
        const dest = await loadDestination(app, route);
        const fields = await describeTargets(app, dest);
        const issues = validateMapping(parsed.mapping, fields, questions, { openTargets: hasOpenTargets(getManifest(dest.type)) });
        for (const i of issues) printErr(formatIssue(i));
        const errors = issues.filter((i) => i.severity === 'error');
        if (errors.length && !o.force) throw new UsageError(`mapping not saved: ${errors.length} error(s) (see above; --force saves anyway)`);
        await repo.updateRoute(app.db, route.id, { mapping: parsed.mapping, ...(fresh ? { formQuestions: fresh, drift: null } : {}) });
        print(`mapping saved on route ${route.id} (${parsed.mapping.rules.length} rules, ${issues.length - errors.length} warning(s))`);
      }),
    );

  m.command('preview')
    .description("show the exact record the route would send: for a stored lead, Meta's test lead of the form, or a sample made from the form's questions")
    .requiredOption('--route <id>', 'route id')
    .requiredOption('--destination <id>', "the route's destination id")
    .option('--lead <id>', 'a stored lead (an id from leads list)')
    .option('--test-lead', "the form's test lead on Meta (create one in Meta's Lead Ads Testing Tool)")
    .addOption(formIdOption())
    .action((o: { route: string; destination: string; lead?: string; testLead?: boolean; formId?: string }) =>
      withApp({ queues: false }, async (app) => {
        if (o.lead && o.testLead) throw new UsageError('give either --lead or --test-lead, not both');
        const route = await loadRoute(app, o.route, o.destination, UsageError);
        const dest = await loadDestination(app, route);

        // The same steps as the delivery worker (src/pipeline/deliver-lead.ts), so what is shown
        // is what would be sent.
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
          // People read stderr; scripts read the JSON on stdout (which carries the same issues).
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

        if (o.lead) {
          const row = await repo.findLead(app.db, o.lead);
          if (!row || row.workspace_id !== route.workspace_id) throw new UsageError(`lead "${o.lead}" not found in the route's workspace`);
          if (row.erased_at) throw new UsageError(`lead ${o.lead} was erased by the retention purge`);
          if (o.formId && row.form_id !== o.formId) throw new UsageError(`lead ${o.lead} came from form ${row.form_id ?? '(unknown)'}, not ${o.formId}`);
          const lead = toCanonicalLead(row, decryptLeadAnswers(app.keyRing, row));
          print(JSON.stringify({ ...header, ...(await previewLead(lead, 'stored', null, printErr)) }, null, 2));
          return;
        }

        const { page, forms, isGrouped } = await loadRouteForms(app, route, o.formId, UsageError);
        if (o.testLead && !page) throw new UsageError(`page ${route.page_id} is not registered: add it with leadrelay pages add`);
        const results: Record<string, unknown>[] = [];
        for (const form of forms) {
          const say = formPrinter(isGrouped, form);
          const skip = (reason: string) => {
            say(`skipped: ${reason}`);
            results.push({ form: { id: form.id, name: form.name }, skipped: reason });
          };
          if (form.readError) say(`warning: could not read form ${form.id} from Meta (${readFailure(form.readError)})`);
          const base = { workspace_id: route.workspace_id, page: { id: route.page_id, name: page?.name ?? null }, form: { id: form.id, name: form.name } };
          if (o.testLead) {
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
              if (!isGrouped) throw new UsageError(`form ${form.id} has no test lead on Meta: create one with Meta's Lead Ads Testing Tool, or give --lead`);
              skip("no test lead on Meta (create one with Meta's Lead Ads Testing Tool)");
              continue;
            }
            const lead = canonicalFromGraphLead(newest, { workspaceId: route.workspace_id, page: page!, formId: form.id, formName: form.name });
            results.push(await previewLead(lead, 'test_lead', form, say));
          } else {
            const questions = form.stored ?? form.live;
            if (!questions) {
              if (!isGrouped)
                throw new UsageError(
                  `no questions known for form ${form.id} (it cannot be read from Meta, and no lead of it was received yet): give --lead LEAD_ID`,
                );
              skip('no questions known (it cannot be read from Meta, and no lead of it was received yet)');
              continue;
            }
            results.push(await previewLead(sampleLeadFromQuestions(questions, base), 'sample', form, say));
          }
        }

        if (!isGrouped) {
          print(JSON.stringify({ ...header, ...results[0] }, null, 2));
          return;
        }
        if (results.every((r) => 'skipped' in r)) {
          throw new UsageError(
            o.testLead
              ? `no form of page ${route.page_id} has a test lead on Meta: create one with Meta's Lead Ads Testing Tool, or give --lead`
              : `no questions known for any form of page ${route.page_id}: give --lead LEAD_ID`,
          );
        }
        print(JSON.stringify({ ...header, forms: results }, null, 2));
      }),
    );

  m.command('check-drift')
    .description("re-read every routed form's questions now and flag routes whose form changed since their mapping was set")
    .option('--workspace <id>', 'only this workspace')
    .option('--route <id>', 'only this route')
    .option('--json', 'print the result as JSON')
    .action((o: { workspace?: string; route?: string; json?: boolean }) =>
      withApp({ queues: false }, async (app) => {
        if (o.workspace && !(await repo.findWorkspace(app.db, o.workspace)))
          throw new UsageError(`workspace "${o.workspace}" not found (list them with: leadrelay workspaces list)`);
        if (o.route) await loadRoute(app, o.route, undefined, UsageError);
        const r = await checkFormDrift(app, { workspaceId: o.workspace, routeId: o.route });
        if (o.json) {
          print(JSON.stringify(r, null, 2));
          return;
        }
        for (const f of r.failed) printErr(`warning: route ${f.routeId} form ${f.formId}: could not read the form (${f.reason}); left as it was`);
        for (const id of r.baselined) print(`route ${id}: form questions recorded as the baseline`);
        for (const id of r.cleared) print(`route ${id}: form matches its mapping again; flag cleared`);
        for (const d of r.drifted) {
          print(`route ${d.routeId} form ${d.formId}: FORM CHANGED${d.isNew ? '' : ` (since ${d.drift.detected_at})`}: ${describeRouteDrift(d.drift)}`);
        }
        if (r.drifted.length) print(`review with: leadrelay mappings suggest --route R, then leadrelay mappings set (which clears the flag)`);
        print(
          `checked ${r.checked} route(s): ${r.drifted.length} with a changed form, ${r.baselined.length} baselined, ${r.cleared.length} cleared, ${r.failed.length} unreadable`,
        );
      }),
    );
}

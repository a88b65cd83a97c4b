// `leadrelay mappings suggest|set|preview|check-drift`: propose, validate and store a route's
// field mapping, show the exact record that would be sent, and re-read routed forms for changes.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { App } from '../app.js';
import { getConnector } from '../../connectors/index.js';
import { ConnectorError, type FieldDescriptor } from '../../connectors/types.js';
import { CANONICAL_SCHEMA_VERSION, type CanonicalLead } from '../lead/canonical.js';
import { applyMapping } from '../mapping/apply.js';
import { parseMapping, type FormQuestion } from '../mapping/schema.js';
import { sampleLeadFromQuestions } from '../mapping/sample-lead.js';
import { loadPreset, proposeMapping, type MappingSuggestion } from '../mapping/suggest.js';
import { validateMapping, type MappingIssue } from '../mapping/validate.js';
import { GraphError } from '../meta/graph-errors.js';
import type { GraphLead } from '../meta/graph-types.js';
import { buildConnectorContext } from '../pipeline/connector-context.js';
import { checkFormDrift, describeRouteDrift, toFormQuestions } from '../pipeline/form-drift.js';
import { decryptLeadAnswers, pageTokenAad, toCanonicalLead } from '../pipeline/lead-record.js';
import { buildDeliveryRecord, hasOpenTargets, mappingFieldsFor, mappingForRoute, needsFieldList, questionsFor } from '../pipeline/mapping-step.js';
import * as repo from '../store/repos.js';
import type { Destination, Page, Route } from '../store/schema.js';

type WithApp = <T>(opts: { queues?: boolean }, fn: (app: App) => Promise<T>) => Promise<T>;
type UsageErrorCtor = new (message: string) => Error;
const print = (s: string) => process.stdout.write(s + '\n');
const printErr = (s: string) => process.stderr.write(s + '\n');

async function loadRoute(app: App, routeId: string, destinationId: string | undefined, UsageError: UsageErrorCtor): Promise<Route> {
  const route = await repo.findRoute(app.db, routeId);
  if (!route) throw new UsageError(`route "${routeId}" not found (list them with: leadrelay routes list)`);
  if (destinationId && destinationId !== route.destination_id) throw new UsageError(`route ${routeId} sends to destination ${route.destination_id}, not ${destinationId}`);
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
  return mappingFieldsFor(getConnector(dest.type), buildConnectorContext(app, dest, null));
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

  m.command('suggest')
    .description("propose a complete mapping from the form's questions and the CRM's fields (prints JSON; edit it, then mappings set)")
    .requiredOption('--route <id>', 'route id')
    .action((o: { route: string }) =>
      withApp({ queues: false }, async (app) => {
        const route = await loadRoute(app, o.route, undefined, UsageError);
        if (!route.form_id) throw new UsageError(`route ${route.id} takes every form of page ${route.page_id}; suggest needs a route with --form-id`);
        let questions: FormQuestion[] | null;
        try {
          questions = await fetchRouteQuestions(app, route);
        } catch (err) {
          if (!route.form_questions) throw err;
          printErr(`warning: could not read form ${route.form_id} from Meta (${readFailure(err)}); using the questions stored on the route`);
          questions = null;
        }
        questions ??= route.form_questions as FormQuestion[] | null;
        if (!questions) throw new UsageError(`page ${route.page_id} is not registered, so form ${route.form_id} cannot be read: add it with leadrelay pages add`);
        const dest = await loadDestination(app, route);
        const openTargets = hasOpenTargets(getConnector(dest.type));
        const fields = await describeTargets(app, dest);
        const { mapping, placeholders } = proposeMapping(dest.type, questions, fields, loadPreset(dest.type), { openTargets });
        for (const i of validateMapping(mapping, fields, questions, { openTargets })) printErr(formatIssue(i));
        for (const p of placeholders) printErr(formatPlaceholder(p));
        print(JSON.stringify(mapping, null, 2));
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
          printErr(`warning: could not read form ${route.form_id} from Meta (${readFailure(err)}); validated against the questions stored on the route, and its form-change flag is kept`);
        }
        const questions = fresh ?? (route.form_questions as FormQuestion[] | null) ?? undefined;
        const dest = await loadDestination(app, route);
        const fields = await describeTargets(app, dest);
        const issues = validateMapping(parsed.mapping, fields, questions, { openTargets: hasOpenTargets(getConnector(dest.type)) });
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
    .action((o: { route: string; destination: string; lead?: string; testLead?: boolean }) =>
      withApp({ queues: false }, async (app) => {
        if (o.lead && o.testLead) throw new UsageError('give either --lead or --test-lead, not both');
        const route = await loadRoute(app, o.route, o.destination, UsageError);
        const dest = await loadDestination(app, route);

        let lead: CanonicalLead;
        let source: 'stored' | 'test_lead' | 'sample';
        let liveForm: { name: string | null; questions: FormQuestion[] } | null = null;
        const readLiveForm = async () => {
          try {
            return await fetchRouteForm(app, route);
          } catch (err) {
            printErr(`warning: could not read form ${route.form_id} from Meta (${readFailure(err)})`);
            return null;
          }
        };
        if (o.lead) {
          const row = await repo.findLead(app.db, o.lead);
          if (!row || row.workspace_id !== route.workspace_id) throw new UsageError(`lead "${o.lead}" not found in the route's workspace`);
          if (row.erased_at) throw new UsageError(`lead ${o.lead} was erased by the retention purge`);
          lead = toCanonicalLead(row, decryptLeadAnswers(app.keyRing, row));
          source = 'stored';
        } else if (o.testLead) {
          if (!route.form_id) throw new UsageError(`route ${route.id} takes every form of page ${route.page_id}; --test-lead needs a route with --form-id`);
          const page = await routePage(app, route);
          if (!page) throw new UsageError(`page ${route.page_id} is not registered: add it with leadrelay pages add`);
          const testLeads = await app.graph.listTestLeads(route.form_id, pageToken(app, page));
          const newest = [...testLeads].sort((a, b) => b.createdTime.getTime() - a.createdTime.getTime())[0];
          if (!newest) throw new UsageError(`form ${route.form_id} has no test lead on Meta: create one with Meta's Lead Ads Testing Tool, or give --lead`);
          liveForm = await readLiveForm();
          lead = canonicalFromGraphLead(newest, { workspaceId: route.workspace_id, page, formId: route.form_id, formName: liveForm?.name ?? null });
          source = 'test_lead';
        } else {
          liveForm = await readLiveForm();
          const questions = (route.form_questions as FormQuestion[] | null) ?? liveForm?.questions;
          if (!questions) throw new UsageError(`no questions known for route ${route.id} (it takes every form, or its form cannot be read): give --lead LEAD_ID`);
          const page = await routePage(app, route);
          lead = sampleLeadFromQuestions(questions, {
            workspace_id: route.workspace_id,
            page: { id: route.page_id, name: page?.name ?? null },
            ...(route.form_id ? { form: { id: route.form_id, name: liveForm?.name ?? null } } : {}),
          });
          source = 'sample';
        }

        // The same steps as the delivery worker (src/pipeline/deliver-lead.ts), so what is shown
        // is what would be sent.
        const connector = getConnector(dest.type);
        let fields: FieldDescriptor[] = [];
        let fieldsError: string | null = null;
        try {
          fields = await describeTargets(app, dest);
        } catch (err) {
          if (needsFieldList(connector, route)) throw err;
          fieldsError = err instanceof ConnectorError ? err.reason : 'error';
        }
        const formQuestions = route.form_questions ? null : ((await repo.findFormQuestions(app.db, route.workspace_id, lead.form.id)) as FormQuestion[] | null) ?? liveForm?.questions ?? null;
        const record = buildDeliveryRecord(connector, route, lead, 'preview', fields, formQuestions);
        const mapping = mappingForRoute(connector, route, lead, fields, formQuestions);
        const storedQuestions = questionsFor(route, formQuestions);
        const out = mapping ? applyMapping(mapping, lead, { questions: storedQuestions }) : null;
        // Validate against the form as it is now when it is known (a changed form shows here).
        const issues = mapping && !fieldsError ? validateMapping(mapping, fields, liveForm?.questions ?? storedQuestions, { openTargets: hasOpenTargets(connector) }) : [];
        const hasOwnMapping = route.mapping !== null && parseMapping(route.mapping).ok;
        // People read stderr; scripts read the JSON on stdout (which carries the same issues).
        for (const i of issues) printErr(formatIssue(i));
        print(
          JSON.stringify(
            {
              route: route.id,
              destination: { id: dest.id, type: dest.type },
              lead: { source, id: lead.id, leadgen_id: lead.leadgen_id },
              mapping: hasOwnMapping ? 'route' : mapping ? 'preset' : 'none',
              fields: record.fields,
              unmappedNote: record.unmappedNote ?? null,
              warnings: out?.warnings ?? [],
              issues,
              ...(fieldsError ? { validationSkipped: `could not read the CRM's fields: ${fieldsError}` } : {}),
              ...(route.drift ? { formChanged: true } : {}),
              ...(connector.renderBody ? { body: connector.renderBody(record) } : {}),
            },
            null,
            2,
          ),
        );
      }),
    );

  m.command('check-drift')
    .description("re-read every routed form's questions now and flag routes whose form changed since their mapping was set")
    .option('--workspace <id>', 'only this workspace')
    .option('--route <id>', 'only this route')
    .option('--json', 'print the result as JSON')
    .action((o: { workspace?: string; route?: string; json?: boolean }) =>
      withApp({ queues: false }, async (app) => {
        if (o.workspace && !(await repo.findWorkspace(app.db, o.workspace))) throw new UsageError(`workspace "${o.workspace}" not found (list them with: leadrelay workspaces list)`);
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
        print(`checked ${r.checked} route(s): ${r.drifted.length} with a changed form, ${r.baselined.length} baselined, ${r.cleared.length} cleared, ${r.failed.length} unreadable`);
      }),
    );
}

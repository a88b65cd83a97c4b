// `leadrelay mappings suggest|set|preview`: propose, validate and store a route's field mapping,
// and show the exact record that would be sent.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { App } from '../app.js';
import { getConnector } from '../../connectors/index.js';
import type { FieldDescriptor } from '../../connectors/types.js';
import { applyMapping } from '../mapping/apply.js';
import { parseMapping, type FormQuestion } from '../mapping/schema.js';
import { sampleLeadFromQuestions } from '../mapping/sample-lead.js';
import { loadPreset, suggestMapping } from '../mapping/suggest.js';
import { validateMapping } from '../mapping/validate.js';
import { buildConnectorContext } from '../pipeline/connector-context.js';
import { decryptLeadAnswers, pageTokenAad, toCanonicalLead } from '../pipeline/lead-record.js';
import { mappingForRoute } from '../pipeline/mapping-step.js';
import * as repo from '../store/repos.js';
import type { Route } from '../store/schema.js';

type WithApp = <T>(opts: { queues?: boolean }, fn: (app: App) => Promise<T>) => Promise<T>;
type UsageErrorCtor = new (message: string) => Error;
const print = (s: string) => process.stdout.write(s + '\n');

async function loadRoute(app: App, routeId: string, destinationId: string | undefined, UsageError: UsageErrorCtor): Promise<Route> {
  const route = await repo.findRoute(app.db, routeId);
  if (!route) throw new UsageError(`route "${routeId}" not found`);
  if (destinationId && destinationId !== route.destination_id) throw new UsageError(`route ${routeId} sends to destination ${route.destination_id}, not ${destinationId}`);
  return route;
}

/** The form's questions from Graph (with the page's token); null when the route takes every form. */
export async function fetchRouteQuestions(app: App, route: Route): Promise<FormQuestion[] | null> {
  if (!route.form_id) return null;
  const page = await repo.findPageByPageId(app.db, route.page_id);
  if (!page) return null;
  const form = await app.graph.getForm(route.form_id, app.keyRing.decrypt(page.token_envelope, pageTokenAad(page.page_id)));
  return form.questions.map((q) => ({ key: q.key, label: q.label, type: q.type, ...(q.options?.length ? { options: q.options } : {}) }));
}

async function describe(app: App, route: Route): Promise<{ type: string; fields: FieldDescriptor[] }> {
  const dest = await repo.findDestination(app.db, route.destination_id);
  if (!dest) throw new Error(`destination ${route.destination_id} of the route no longer exists`);
  const connector = getConnector(dest.type);
  return { type: dest.type, fields: await connector.describeFields(buildConnectorContext(app, dest, null)) };
}

export function registerMappingCommands(program: Command, withApp: WithApp, UsageError: UsageErrorCtor): void {
  const m = program.command('mappings').description("a route's field mapping: form questions → CRM fields");
  m.command('suggest')
    .description("propose a complete mapping from the form's questions and the CRM's fields (prints JSON)")
    .requiredOption('--route <id>', 'route id')
    .action((o: { route: string }) =>
      withApp({ queues: false }, async (app) => {
        const route = await loadRoute(app, o.route, undefined, UsageError);
        const questions = (await fetchRouteQuestions(app, route)) ?? (route.form_questions as FormQuestion[] | null);
        if (!questions) throw new UsageError(`route ${route.id} takes every form of page ${route.page_id}; suggest needs a route with --form-id`);
        const { type, fields } = await describe(app, route);
        print(JSON.stringify(suggestMapping(type, questions, fields, loadPreset(type)), null, 2));
      }),
    );
  m.command('set')
    .description("validate a mapping against the CRM's fields and save it on the route")
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
        const questions = (await fetchRouteQuestions(app, route).catch(() => null)) ?? (route.form_questions as FormQuestion[] | null) ?? undefined;
        const { fields } = await describe(app, route);
        const issues = validateMapping(parsed.mapping, fields, questions);
        for (const i of issues) process.stderr.write(`${i.severity}: ${i.message}\n`);
        const errors = issues.filter((i: { severity: string }) => i.severity === 'error');
        if (errors.length && !o.force) throw new UsageError(`mapping not saved: ${errors.length} error(s) (see above; --force saves anyway)`);
        await repo.updateRoute(app.db, route.id, { mapping: parsed.mapping, ...(questions ? { formQuestions: questions, drift: null } : {}) });
        print(`mapping saved on route ${route.id} (${parsed.mapping.rules.length} rules, ${issues.length - errors.length} warning(s))`);
      }),
    );
  m.command('preview')
    .description('show the exact record the route would send for a stored lead, or a sample one')
    .requiredOption('--route <id>', 'route id')
    .requiredOption('--destination <id>', "the route's destination id")
    .option('--lead <id>', 'a stored lead (default: a sample generated from the form\'s questions)')
    .action((o: { route: string; destination: string; lead?: string }) =>
      withApp({ queues: false }, async (app) => {
        const route = await loadRoute(app, o.route, o.destination, UsageError);
        const dest = await repo.findDestination(app.db, route.destination_id);
        if (!dest) throw new UsageError(`destination ${route.destination_id} no longer exists`);
        let lead;
        if (o.lead) {
          const row = await repo.findLead(app.db, o.lead);
          if (!row || row.workspace_id !== route.workspace_id) throw new UsageError(`lead "${o.lead}" not found in the route's workspace`);
          lead = toCanonicalLead(row, decryptLeadAnswers(app.keyRing, row));
        } else {
          const questions = (route.form_questions as FormQuestion[] | null) ?? (await fetchRouteQuestions(app, route).catch(() => null));
          if (!questions) throw new UsageError('no stored questions for this route: give --lead LEAD_ID');
          lead = sampleLeadFromQuestions(questions, { page: { id: route.page_id, name: null }, workspace_id: route.workspace_id });
        }
        const mapping = mappingForRoute(dest.type, route, lead);
        const questions = (route.form_questions as FormQuestion[] | null) ?? undefined;
        const out = mapping ? applyMapping(mapping, lead, { questions }) : null;
        print(
          JSON.stringify(
            { destination: { id: dest.id, type: dest.type }, fields: out?.fields ?? {}, unmappedNote: out?.unmappedNote ?? null, warnings: out?.warnings ?? [], ...(dest.type === 'webhook' ? { body: lead } : {}) },
            null,
            2,
          ),
        );
      }),
    );
}

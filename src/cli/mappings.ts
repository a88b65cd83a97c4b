// `leadrelay mappings suggest|set|preview|check-drift`: propose, validate and store a route's
// field mapping, show the exact record that would be sent, and re-read routed forms for changes.
// The work is src/services/mappings.ts (the API's mapping operations do the same); this file
// turns flags into its input and its results into lines and JSON.
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import type { App } from '../app.js';
import { describeRouteDrift } from '../pipeline/form-drift.js';
import { cliFieldNamer } from '../services/errors.js';
import { checkMappingDrift, type MappingCall, previewMapping, setMapping, suggestMappings } from '../services/mappings.js';
import * as repo from '../store/repos.js';

type WithApp = <T>(opts: { queues?: boolean }, fn: (app: App) => Promise<T>) => Promise<T>;
type UsageErrorCtor = new (message: string) => Error;
const print = (s: string) => process.stdout.write(`${s}\n`);
const printErr = (s: string) => process.stderr.write(`${s}\n`);

/** The CLI as a mapping caller: the operator (any workspace), flags, notes on stderr. */
const cliCall = (workspaceId: string | null = null): MappingCall => ({
  workspaceId,
  name: cliFieldNamer({ route_id: '--route', destination_id: '--destination', lead_id: '--lead', mapping: 'the mapping', test_lead: '--test-lead' }),
  say: printErr,
});

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
        const r = await suggestMappings(app, cliCall(), { routeId: o.route, formId: o.formId });
        if (!r.isGrouped) {
          print(JSON.stringify((r.forms[0] as { mapping: unknown }).mapping, null, 2));
          return;
        }
        const { route, destination: dest } = r;
        printErr(
          `route ${route.id} takes every form of page ${route.page_id}${r.isPageRegistered ? '' : ' (not registered)'} with one mapping: save one of the ${r.forms.length} proposals above, or a merge of them, ` +
            `with leadrelay mappings set --route ${route.id} --destination ${dest.id} --file mapping.json (one form alone: mappings suggest --route ${route.id} --form-id F)`,
        );
        print(JSON.stringify({ route: route.id, page: route.page_id, forms: r.forms }, null, 2));
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
        let raw: unknown;
        try {
          raw = JSON.parse(readFileSync(o.file, 'utf8'));
        } catch (err) {
          throw new UsageError(`cannot read mapping from ${o.file}: ${(err as Error).message.split('\n')[0]}`);
        }
        const call = { ...cliCall(), name: cliFieldNamer({ destination_id: '--destination', mapping: `mapping in ${o.file}`, force: '--force' }) };
        const r = await setMapping(app, call, { routeId: o.route, destinationId: o.destination, mapping: raw, force: o.force });
        const errors = r.issues.filter((i) => i.severity === 'error').length;
        print(`mapping saved on route ${r.route.id} (${r.rules} rules, ${r.issues.length - errors} warning(s))`);
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
        const source = o.lead ? ({ kind: 'lead', leadId: o.lead } as const) : o.testLead ? ({ kind: 'test_lead' } as const) : ({ kind: 'sample' } as const);
        const r = await previewMapping(app, cliCall(), { routeId: o.route, destinationId: o.destination, source, formId: o.formId });
        // People read stderr; scripts read the JSON on stdout (which carries the same issues).
        print(
          JSON.stringify(
            r.forms ? { route: r.route, destination: r.destination, forms: r.forms } : { route: r.route, destination: r.destination, ...r.preview },
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
        if (o.workspace && !(await repo.findWorkspace(app.db, o.workspace)))
          throw new UsageError(`workspace "${o.workspace}" not found (list them with: leadrelay workspaces list)`);
        const r = await checkMappingDrift(app, cliCall(o.workspace ?? null), { routeId: o.route });
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

#!/usr/bin/env node
// `leadrelay`: the one binary. Roles (start, serve, work, migrate) and operator commands.
// Every command has --help; bad input exits non-zero with a one-line reason.
import { Command, CommanderError, Option } from 'commander';
import type { App } from '../app.js';
import { ConfigError, loadConfig, readExtraConnectorModules } from '../config/env.js';
import { getManifest, listManifests, loadConnector, registerExtraConnectorModules } from '../../connectors/index.js';
import type { ConnectorManifest } from '../../connectors/types.js';
import { EnvelopeError } from '../crypto/key-ring.js';
import { EmbeddedPostgresError } from '../store/embedded-postgres.js';
import { createLogger } from '../util/logger.js';
import { LEADRELAY_VERSION } from '../util/version.js';
import {
  checkOutboundUrl,
  describeIssues,
  destinationInputFromFlags,
  flagValuesOf,
  InputError,
  outboundUrlsOf,
  reauthInputFromFlags,
} from './destination-input.js';

/** An operator mistake: printed as one line, exit code 2. */
class UsageError extends Error {}

// The program, its connectors and their SDKs load only when a command runs, so `--help` and
// argument errors answer at once (the connector manifests, which the flags come from, are light).
let repo: typeof import('../store/repos.js');
let replay: typeof import('../pipeline/replay.js');
let connectorContext: typeof import('../pipeline/connector-context.js');
let leadRecord: typeof import('../pipeline/lead-record.js');
let pageAccess: typeof import('../meta/page-access.js');
let migrations: typeof import('../store/migrate.js');
let keyCommands: typeof import('./keys.js');

async function loadCommandModules(): Promise<typeof import('../app.js')> {
  const loaded = await Promise.all([
    import('../app.js'),
    import('../store/repos.js'),
    import('../pipeline/replay.js'),
    import('../pipeline/connector-context.js'),
    import('../pipeline/lead-record.js'),
    import('../meta/page-access.js'),
    import('../store/migrate.js'),
    import('./keys.js'),
  ]);
  [, repo, replay, connectorContext, leadRecord, pageAccess, migrations, keyCommands] = loaded;
  return loaded[0];
}

/**
 * Runs a command with the program's parts. Commands that change things apply pending migrations
 * first; `readOnly` ones never migrate (several may run beside a starting server) and say so when
 * the database is not set up yet.
 */
async function withApp<T>(opts: { queues?: boolean; migrate?: boolean; readOnly?: boolean }, fn: (app: App) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Operator commands print ids and tables on stdout for scripts; their logs go to stderr.
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { destination: process.stderr });
  const { createApp } = await loadCommandModules();
  const app = await createApp(config, {
    withQueues: opts.readOnly ? false : (opts.queues ?? true),
    migrate: opts.readOnly ? false : (opts.migrate ?? true),
    logger,
  });
  try {
    if (opts.readOnly) {
      const pending = await migrations.findPendingMigrations(app.db);
      if (pending.length)
        throw new UsageError(`the database is not set up yet (${pending.length} migration(s) pending): start LeadRelay once, or run leadrelay migrate`);
    }
    return await fn(app);
  } finally {
    await app.close();
  }
}

/**
 * Puts every URL of a destination config that delivery will call through the outbound guard,
 * under the operator's policy; throws (one line) what delivery would refuse, returns warnings.
 */
async function checkDestinationUrls(
  app: App,
  manifest: ConnectorManifest,
  config: Record<string, unknown>,
  label?: (flag: string) => string,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const { flag, url } of outboundUrlsOf(manifest, config)) {
    const r = await checkOutboundUrl(label ? label(flag) : flag, url, {
      allowPrivateDestinations: app.config.allowPrivateDestinations,
      timeoutMs: app.config.delivery.timeoutMs,
    });
    if (r.warning) warnings.push(r.warning);
  }
  return warnings;
}

async function requireWorkspace(app: App, id: string) {
  const ws = await repo.findWorkspace(app.db, id);
  if (!ws) throw new UsageError(`workspace "${id}" not found (list them with: leadrelay workspaces list)`);
  return ws;
}

const print = (s: string) => process.stdout.write(`${s}\n`);
const warn = (s: string) => process.stderr.write(`warning: ${s}\n`);
const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));
const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** Which command groups need their (heavier) modules to build: the ones named on the command line. */
export interface ProgramParts {
  mappings?: typeof import('./mappings.js');
  connect?: typeof import('./connect.js');
}

export async function loadProgramParts(argv: string[]): Promise<ProgramParts> {
  const group = argv[2];
  return {
    mappings: group === 'mappings' ? await import('./mappings.js') : undefined,
    connect: group === 'destinations' ? await import('./connect.js') : undefined,
  };
}

export function buildProgram(parts: ProgramParts = {}): Command {
  const program = new Command();
  // Set before any subcommand exists: commander copies it into each, so their errors come back
  // here (one line, exit 2) instead of exiting the process themselves.
  program.exitOverride();
  program
    .name('leadrelay')
    .description('Facebook and Instagram Lead Ads to your CRM, within a second, never lost.')
    .showHelpAfterError('(add --help for usage)');
  program.version(LEADRELAY_VERSION, '-V, --version', 'print the version');

  const runRoles = async (roles: { http: boolean; work: boolean }) => (await import('./run-roles.js')).runRoles(roles);
  program
    .command('start', { isDefault: true })
    .description('run the HTTP server and the workers (the default)')
    .action(() => runRoles({ http: true, work: true }));
  program
    .command('serve')
    .description('run only the HTTP server (webhooks, health, metrics)')
    .action(() => runRoles({ http: true, work: false }));
  program
    .command('work')
    .description('run only the queue workers and maintenance')
    .action(() => runRoles({ http: false, work: true }));
  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(() =>
      withApp({ queues: false, migrate: false }, async (app) => {
        const applied = await migrations.migrateToLatest(app.db);
        print(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      }),
    );

  const keys = program.command('keys').description('encryption key ring');
  keys
    .command('rotate')
    .description('re-encrypt every secret and lead under the first key of LEADRELAY_ENCRYPTION_KEYS')
    .action(() =>
      withApp({ queues: false }, async (app) => {
        const r = await keyCommands.rotateKeys(app, (done, total) => process.stderr.write(`\rleads: ${done}/${total}`));
        if (r.leads || r.alreadyCurrent) process.stderr.write('\n');
        print(
          `re-encrypted under "${app.keyRing.primaryKid}": ${r.pages} page tokens, ${r.destinations} destination credentials, ${r.leads} leads (${r.alreadyCurrent} already current)`,
        );
      }),
    );

  const ws = program.command('workspaces').description('workspaces (every page, destination, route and lead belongs to one)');
  ws.command('create')
    .description('create a workspace and print its id')
    .requiredOption('--name <name>', 'workspace name')
    .option('--retention-days <days>', 'days to keep lead answers', (v) => positiveInt(v, '--retention-days'))
    .action((o: { name: string; retentionDays?: number }) =>
      withApp({ queues: false }, async (app) => {
        if (!o.name.trim()) throw new UsageError('--name must not be empty');
        print((await repo.createWorkspace(app.db, o.name.trim(), o.retentionDays ?? app.config.retention.leadRetentionDays)).id);
      }),
    );
  ws.command('list')
    .description('list workspaces')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      withApp({ readOnly: true }, async (app) => {
        const list = await repo.listWorkspaces(app.db);
        if (o.json) {
          printJson(list.map((w) => ({ id: w.id, name: w.name, lead_retention_days: w.lead_retention_days, created_at: iso(w.created_at) })));
          return;
        }
        for (const w of list) print(`${w.id}  ${w.name}`);
      }),
    );

  const pages = program.command('pages').description('Facebook pages whose leads LeadRelay receives');
  pages
    .command('add')
    .description(
      'register a page and its page access token (re-adding replaces the token and resumes parked leads); ' +
        'the token is first checked with Meta (needs META_APP_ID and META_APP_SECRET): an invalid token, one of another page, or one without the lead permissions is refused',
    )
    .requiredOption('--workspace <id>', 'workspace id')
    .requiredOption('--page-id <id>', 'Facebook page id')
    .requiredOption('--token <token>', 'page access token')
    .option('--name <name>', "page name (default: the page's name on Facebook)")
    .option('--skip-check', 'store the token without asking Meta about it (e.g. when Graph cannot be reached)')
    .action((o: { workspace: string; pageId: string; token: string; name?: string; skipCheck?: boolean }) =>
      withApp({}, async (app) => {
        await requireWorkspace(app, o.workspace);
        if (!/^\d+$/.test(o.pageId)) throw new UsageError(`--page-id must be a numeric Facebook page id, got "${o.pageId.slice(0, 40)}"`);
        if (!o.token.trim()) throw new UsageError('--token must not be empty');
        if (o.name !== undefined && !o.name.trim()) throw new UsageError('--name must not be empty');
        const existing = await repo.findPageByPageId(app.db, o.pageId);
        if (existing && existing.workspace_id !== o.workspace) throw new UsageError(`page ${o.pageId} is already registered to another workspace`);
        let name = o.name?.trim() ?? null;
        const { appId, appSecret, graphVersion } = app.config.meta;
        if (o.skipCheck) {
          warn(`--skip-check: the token of page ${o.pageId} was not checked with Meta; a wrong token shows up only when a lead arrives`);
        } else if (!appId || !appSecret) {
          warn(
            `the token of page ${o.pageId} cannot be checked with Meta because ${[!appId && 'META_APP_ID', !appSecret && 'META_APP_SECRET'].filter(Boolean).join(' and ')} ${!appId && !appSecret ? 'are' : 'is'} not set; ` +
              'it is stored unchecked (set them and run pages add again to check it)',
          );
        } else {
          const check = await pageAccess.checkPageAccess(app.graph, { appId, pageId: o.pageId, pageToken: o.token, graphVersion });
          if (check.outcome === 'refused') throw new UsageError(check.problem);
          if (check.outcome === 'unavailable')
            throw new Error(`${check.problem}; nothing was stored (try again, or add --skip-check to store the token unchecked)`);
          check.warnings.forEach(warn);
          name ??= check.pageName;
        }
        const page = await repo.upsertPage(app.db, {
          workspaceId: o.workspace,
          pageId: o.pageId,
          name,
          tokenEnvelope: app.keyRing.encrypt(o.token, leadRecord.pageTokenAad(o.pageId)),
        });
        const resumed = await replay.resumePage(app, o.pageId);
        print(page.id);
        if (resumed) process.stderr.write(`resumed ${resumed} waiting lead(s) of page ${o.pageId}\n`);
      }),
    );
  pages
    .command('list')
    .description('list pages (never their tokens)')
    .option('--workspace <id>', 'workspace id')
    .option('--json', 'print JSON')
    .action((o: { workspace?: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app) => {
        const list = await repo.listPages(app.db, o.workspace);
        if (o.json) {
          printJson(
            list.map((p) => ({
              id: p.id,
              workspace_id: p.workspace_id,
              page_id: p.page_id,
              name: p.name,
              status: p.status,
              status_reason: p.status_reason,
              created_at: iso(p.created_at),
              updated_at: iso(p.updated_at),
            })),
          );
          return;
        }
        for (const p of list) print(`${p.page_id}  ${p.status}${p.status_reason ? ` (${p.status_reason})` : ''}  ${p.name ?? ''}`);
      }),
    );

  const dests = program.command('destinations').description(
    `where leads go: ${listManifests()
      .map((m) => m.id)
      .join(', ')}`,
  );
  // Every connector's flags (its manifest's cli.inputs); one flag serves each connector that names it.
  const destinationOptions = (c: Command) => {
    c.option('--name <name>', 'display name');
    const helpByFlag = new Map<string, string[]>();
    for (const m of listManifests())
      for (const input of m.cli.inputs) helpByFlag.set(input.flag, [...(helpByFlag.get(input.flag) ?? []), `${m.id}: ${input.description}`]);
    for (const [flag, help] of helpByFlag) c.option(`--${flag} <${flag.split('-').pop()}>`, help.join('; '));
    return c;
  };
  destinationOptions(
    dests
      .command('add')
      .description('add a destination and print its id')
      .requiredOption('--workspace <id>', 'workspace id')
      .addOption(new Option('--type <type>', 'destination type').choices(listManifests().map((m) => m.id)).makeOptionMandatory()),
  ).action((o: { workspace: string; type: string; name?: string } & Record<string, unknown>) =>
    withApp({ queues: false }, async (app) => {
      await requireWorkspace(app, o.workspace);
      const manifest = getManifest(o.type);
      const input = destinationInputFromFlags(manifest, flagValuesOf(manifest, o), o.name);
      // The delivery rules first: they also name a malformed --url.
      const warnings = await checkDestinationUrls(app, manifest, input.config);
      const config = manifest.configSchema.safeParse(input.config);
      if (!config.success) throw new UsageError(`invalid ${o.type} settings: ${describeIssues(manifest, 'config', config.error.issues)}`);
      const creds = manifest.credentialsSchema.safeParse(input.credentials);
      if (!creds.success) throw new UsageError(`invalid ${o.type} credentials: ${describeIssues(manifest, 'credentials', creds.error.issues)}`);
      const dest = await repo.createDestination(app.db, {
        workspaceId: o.workspace,
        type: o.type,
        name: input.name,
        config: config.data as Record<string, unknown>,
        credentialsEnvelope: null,
      });
      await repo.updateDestinationCredentials(app.db, dest.id, connectorContext.encryptCredentials(app, dest.id, creds.data as Record<string, unknown>), false);
      print(dest.id);
      warnings.forEach(warn);
    }),
  );
  destinationOptions(
    dests
      .command('reauth <destinationId>')
      .description(
        "replace a destination's credentials and resume its parked deliveries, in order: config flags given (e.g. --url) replace their stored values, " +
          'optional credentials left out (e.g. --secret) are kept, and URLs are checked as on add',
      ),
  ).action((id: string, o: Record<string, unknown>) =>
    withApp({}, async (app) => {
      const dest = await repo.findDestination(app.db, id);
      if (!dest) throw new UsageError(`destination "${id}" not found`);
      const manifest = getManifest(dest.type);
      const values = flagValuesOf(manifest, o);
      const input = reauthInputFromFlags(manifest, values, (dest.config ?? {}) as Record<string, unknown>);
      // Today's rules apply to the URLs the resumed deliveries will use, new or stored.
      const isGiven = (flag: string) => values[flag.replace(/^--/, '')] !== undefined;
      const warnings = await checkDestinationUrls(app, manifest, input.config, (flag) =>
        isGiven(flag) ? flag : `the stored ${flag} (give a new one with ${flag})`,
      );
      const config = manifest.configSchema.safeParse(input.config);
      if (!config.success) throw new UsageError(`invalid ${dest.type} settings: ${describeIssues(manifest, 'config', config.error.issues)}`);
      let creds: Record<string, unknown> | null = null;
      if (input.credentials) {
        const parsed = manifest.credentialsSchema.safeParse(input.credentials);
        if (!parsed.success) throw new UsageError(`invalid ${dest.type} credentials: ${describeIssues(manifest, 'credentials', parsed.error.issues)}`);
        creds = parsed.data as Record<string, unknown>;
      }
      if (input.configInputs.length > 0) await repo.updateDestinationConfig(app.db, dest.id, config.data as Record<string, unknown>);
      if (creds) await repo.updateDestinationCredentials(app.db, dest.id, connectorContext.encryptCredentials(app, dest.id, creds), true);
      else await repo.setDestinationStatus(app.db, dest.id, 'active', null);
      await repo.setDestinationRateLimit(app.db, dest.id, null);
      const replaced = [...input.configInputs.map((i) => i.label ?? `--${i.flag}`), ...(creds ? [manifest.cli.credentialsLabel ?? 'credentials'] : [])];
      print(`${replaced.join(' and ')} replaced; resumed ${await replay.resumeDestination(app, dest.id)} parked deliveries`);
      warnings.forEach(warn);
    }),
  );
  dests
    .command('check <destinationId>')
    .description("verify a destination's credentials and print the CRM's fields")
    .option('--json', 'print the fields as JSON')
    .action((id: string, o: { json?: boolean }) =>
      withApp({ queues: false }, async (app) => {
        const dest = await repo.findDestination(app.db, id);
        if (!dest) throw new UsageError(`destination "${id}" not found`);
        const connector = await loadConnector(dest.type);
        const ctx = connectorContext.buildConnectorContext(app, dest, null);
        await connector.verify(ctx);
        const fields = await connector.describeFields(ctx);
        if (o.json) {
          print(JSON.stringify(fields, null, 2));
          return;
        }
        print(`${dest.type} destination ${dest.id}: credentials OK, ${fields.length} writable fields`);
        for (const f of fields)
          print(
            `  ${f.key}${f.required ? ' *' : ''}  ${f.type}${f.length ? `(${f.length})` : ''}  ${f.label}${
              f.options?.length
                ? `  [${f.options
                    .slice(0, 6)
                    .map((x) => x.value)
                    .join(', ')}${f.options.length > 6 ? ', …' : ''}]`
                : ''
            }`,
          );
      }),
    );
  dests
    .command('list')
    .description('list destinations (never their credentials)')
    .option('--workspace <id>', 'workspace id')
    .option('--json', 'print JSON')
    .action((o: { workspace?: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app) => {
        const list = await repo.listDestinations(app.db, o.workspace);
        if (o.json) {
          printJson(
            list.map((d) => ({
              id: d.id,
              workspace_id: d.workspace_id,
              type: d.type,
              name: d.name,
              // Not the config: a webhook URL's path or query can itself be a credential.
              status: d.status,
              status_reason: d.status_reason,
              rate_limited_until: iso(d.rate_limited_until),
              created_at: iso(d.created_at),
              updated_at: iso(d.updated_at),
            })),
          );
          return;
        }
        for (const d of list) print(`${d.id}  ${d.type}  ${d.status}${d.status_reason ? ` (${d.status_reason})` : ''}  ${d.name}`);
      }),
    );

  const routes = program.command('routes').description('which page (and form) goes to which destination');
  routes
    .command('add')
    .description('route a page (optionally one form) to a destination and print the route id')
    .requiredOption('--workspace <id>', 'workspace id')
    .requiredOption('--page-id <id>', 'Facebook page id')
    .option('--form-id <id>', 'only this lead form (default: every form of the page)')
    .requiredOption('--destination <id>', 'destination id')
    .option('--filter <json>', 'route filter as JSON (see README: Routing)')
    .action((o: { workspace: string; pageId: string; formId?: string; destination: string; filter?: string }) =>
      withApp({ queues: false }, async (app) => {
        await requireWorkspace(app, o.workspace);
        const dest = await repo.findDestination(app.db, o.destination);
        if (!dest || dest.workspace_id !== o.workspace) throw new UsageError(`destination "${o.destination}" not found in workspace ${o.workspace}`);
        const page = await repo.findPageByPageId(app.db, o.pageId);
        if (page && page.workspace_id !== o.workspace) throw new UsageError(`page ${o.pageId} belongs to another workspace`);
        let filter: unknown;
        if (o.filter) {
          try {
            filter = JSON.parse(o.filter);
          } catch {
            throw new UsageError('--filter is not valid JSON');
          }
          const { routeFilterSchema } = await import('../mapping/route-filter.js');
          const parsed = routeFilterSchema.safeParse(filter);
          if (!parsed.success)
            throw new UsageError(
              `invalid --filter: ${parsed.error.issues.map((i: { path: PropertyKey[]; message: string }) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
            );
          filter = parsed.data;
        }
        const route = await repo.createRoute(app.db, { workspaceId: o.workspace, pageId: o.pageId, formId: o.formId ?? null, destinationId: dest.id, filter });
        print(route.id);
        const waiting = await repo.listUnroutedLeads(app.db, o.workspace, o.formId ?? null);
        if (waiting.length)
          process.stderr.write(
            `${waiting.length} unrouted lead(s) wait; deliver them with: leadrelay leads replay --unrouted${o.formId ? ` --form ${o.formId}` : ''} --workspace ${o.workspace}\n`,
          );
        if (!page) process.stderr.write(`note: page ${o.pageId} is not registered yet; add it with: leadrelay pages add\n`);
      }),
    );
  routes
    .command('list')
    .description('list routes (a route whose form changed since its mapping was set is flagged, with the rules it affects)')
    .option('--workspace <id>', 'workspace id')
    .option('--json', 'print JSON')
    .action((o: { workspace?: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app) => {
        const { describeRouteDrift, parseRouteDrift } = await import('../pipeline/form-drift.js');
        const list = await repo.listRoutes(app.db, o.workspace);
        if (o.json) {
          const rows = list.map((r) => ({
            id: r.id,
            workspace_id: r.workspace_id,
            page_id: r.page_id,
            form_id: r.form_id,
            destination_id: r.destination_id,
            is_enabled: r.is_enabled,
            mapping: r.mapping,
            filter: r.filter,
            drift: parseRouteDrift(r.drift),
          }));
          print(JSON.stringify(rows, null, 2));
          return;
        }
        for (const r of list) {
          const drift = parseRouteDrift(r.drift);
          const flag = drift
            ? `  (FORM CHANGED since ${drift.detected_at}: ${describeRouteDrift(drift)}; check the mapping)`
            : r.drift
              ? '  (FORM CHANGED: check the mapping)'
              : '';
          print(
            `${r.id}  page ${r.page_id}  form ${r.form_id ?? '*'}  → ${r.destination_id}${r.is_enabled ? '' : '  (disabled)'}${r.mapping ? '  (mapped)' : ''}${r.filter ? '  (filtered)' : ''}${flag}`,
          );
        }
      }),
    );

  const leads = program.command('leads').description('the lead log');
  leads
    .command('list')
    .description('recent leads and where they went (no answers: they are personal data)')
    .requiredOption('--workspace <id>', 'workspace id')
    .option('--limit <n>', 'how many', (v) => positiveInt(v, '--limit'), 50)
    .option('--json', 'print JSON')
    .action((o: { workspace: string; limit: number; json?: boolean }) =>
      withApp({ readOnly: true }, async (app) => {
        await requireWorkspace(app, o.workspace);
        const rows = await repo.listLeads(app.db, o.workspace, o.limit);
        // A delivery through a route whose form changed since its mapping was set may have put
        // answers in the wrong place (or only in the note): flag it.
        const driftedRoutes = new Set((await repo.listRoutes(app.db, o.workspace)).filter((r) => r.drift !== null).map((r) => r.id));
        const out = [];
        for (const l of rows) {
          const deliveries = await repo.listDeliveriesOfLead(app.db, l.id);
          out.push({
            id: l.id,
            leadgen_id: l.leadgen_id,
            received_at: new Date(l.received_at).toISOString(),
            page_id: l.page_id,
            form_id: l.form_id,
            platform: l.platform,
            is_organic: l.is_organic,
            status: l.status,
            status_reason: l.status_reason,
            deliveries: deliveries.map((d) => ({
              id: d.id,
              destination_id: d.destination_id,
              route_id: d.route_id,
              status: d.status,
              attempts: d.attempts,
              external_id: d.external_id,
              action: d.action,
              error: d.last_error_reason,
              message: d.last_error_message,
              mapping_drift: d.route_id !== null && driftedRoutes.has(d.route_id),
            })),
          });
        }
        if (o.json) {
          print(JSON.stringify(out, null, 2));
          return;
        }
        if (out.length === 0) {
          print('no leads yet');
          return;
        }
        for (const l of out) {
          const ds = l.deliveries.map((d) => `${d.status}${d.error ? `:${d.error}` : ''}${d.mapping_drift ? ' (form changed)' : ''}`).join(',') || l.status;
          const why = l.status === 'unrouted' && l.status_reason ? `  (${l.status_reason})` : '';
          print(`${l.id}  ${l.received_at}  page ${l.page_id}  form ${l.form_id ?? '-'}  ${l.platform ?? '-'}  ${ds}${why}`);
        }
      }),
    );
  leads
    .command('show <leadId>')
    .description("one lead's metadata and, per delivery, every attempt with its time, outcome and reason (no answers: they are personal data)")
    .option('--json', 'print JSON')
    .action((leadId: string, o: { json?: boolean }) =>
      withApp({ readOnly: true }, async (app) => {
        if (!repo.isUuid(leadId)) throw new UsageError(`"${leadId.slice(0, 40)}" is not a lead id (a uuid from leads list)`);
        const l = await repo.findLead(app.db, leadId);
        if (!l) throw new UsageError(`lead "${leadId}" not found (list them with: leadrelay leads list --workspace W)`);
        const deliveries = await repo.listDeliveriesOfLead(app.db, l.id);
        const attempts = await repo.listAttemptsOfLead(app.db, l.id);
        const destinations = new Map((await repo.listDestinations(app.db, l.workspace_id)).map((d) => [d.id, d]));
        const driftedRoutes = new Set((await repo.listRoutes(app.db, l.workspace_id)).filter((r) => r.drift !== null).map((r) => r.id));
        const out = {
          id: l.id,
          workspace_id: l.workspace_id,
          leadgen_id: l.leadgen_id,
          page: { id: l.page_id, name: l.page_name },
          form: { id: l.form_id, name: l.form_name },
          created_time: iso(l.created_time),
          received_at: iso(l.received_at),
          fetched_at: iso(l.fetched_at),
          platform: l.platform,
          is_organic: l.is_organic,
          is_test: l.is_test,
          attribution: {
            ad_id: l.ad_id,
            ad_name: l.ad_name,
            adset_id: l.adset_id,
            adset_name: l.adset_name,
            campaign_id: l.campaign_id,
            campaign_name: l.campaign_name,
          },
          status: l.status,
          status_reason: l.status_reason,
          // Whether answers are held (encrypted), never what they are.
          answers: l.answers_envelope !== null ? 'stored' : l.erased_at !== null ? 'erased' : 'none',
          answers_erased_at: iso(l.erased_at),
          deliveries: deliveries.map((d) => ({
            id: d.id,
            destination: {
              id: d.destination_id,
              type: destinations.get(d.destination_id)?.type ?? null,
              name: destinations.get(d.destination_id)?.name ?? null,
            },
            route_id: d.route_id,
            status: d.status,
            attempts_count: d.attempts,
            external_id: d.external_id,
            external_url: d.external_url,
            action: d.action,
            error_kind: d.last_error_kind,
            error: d.last_error_reason,
            message: d.last_error_message,
            next_attempt_at: iso(d.next_attempt_at),
            delivered_at: iso(d.delivered_at),
            mapping_drift: d.route_id !== null && driftedRoutes.has(d.route_id),
            attempts: attempts
              .filter((a) => a.delivery_id === d.id)
              .map((a) => ({
                attempt: a.attempt,
                started_at: iso(a.started_at),
                finished_at: iso(a.finished_at),
                outcome: a.outcome,
                http_status: a.http_status,
                error_kind: a.error_kind,
                reason: a.reason,
                message: a.message,
              })),
          })),
        };
        if (o.json) {
          printJson(out);
          return;
        }
        print(`lead ${out.id}  (Meta leadgen id ${out.leadgen_id}, workspace ${out.workspace_id})`);
        print(`  page      ${out.page.id}${out.page.name ? `  ${out.page.name}` : ''}`);
        print(`  form      ${out.form.id ?? '-'}${out.form.name ? `  ${out.form.name}` : ''}`);
        print(`  created   ${out.created_time}   received ${out.received_at}`);
        print(`  source    ${out.platform ?? '-'}${out.is_organic ? '  organic' : ''}${out.is_test ? '  test lead' : ''}`);
        const a = out.attribution;
        if (a.ad_id || a.campaign_id)
          print(`  ad        ${a.campaign_name ?? a.campaign_id ?? '-'} / ${a.adset_name ?? a.adset_id ?? '-'} / ${a.ad_name ?? a.ad_id ?? '-'}`);
        print(`  status    ${out.status}${out.status_reason ? ` (${out.status_reason})` : ''}`);
        print(
          `  answers   ${out.answers === 'stored' ? 'stored, encrypted (not shown)' : out.answers === 'erased' ? `erased ${out.answers_erased_at}` : 'none'}`,
        );
        if (out.deliveries.length === 0) print('no deliveries');
        for (const d of out.deliveries) {
          const dest = d.destination.type ? `${d.destination.type} "${d.destination.name}"` : 'destination';
          print(
            `delivery ${d.id} → ${dest} ${d.destination.id}: ${d.status}${d.external_id ? `, ${d.action ?? 'sent'} as ${d.external_id}` : ''}${d.mapping_drift ? ' (form changed since its mapping was set)' : ''}${d.status === 'pending' && d.next_attempt_at ? `, next attempt ${d.next_attempt_at}` : ''}`,
          );
          if (d.attempts.length === 0) print('  no attempts yet');
          for (const t of d.attempts) {
            const why = [t.error_kind, t.reason].filter(Boolean).join('/');
            print(
              `  #${t.attempt}  ${t.started_at}  ${t.outcome}${t.http_status !== null ? `  HTTP ${t.http_status}` : ''}${why ? `  ${why}` : ''}${t.message ? `: ${t.message.replace(/\s+/g, ' ')}` : ''}`,
            );
          }
        }
      }),
    );
  leads
    .command('replay [leadId]')
    .description('send a lead again (its dead and parked deliveries), or with --unrouted every unrouted lead (of a form)')
    .option('--unrouted', 'replay unrouted leads (they are delivered if a route now takes them)')
    .option('--form <formId>', 'with --unrouted: only this form')
    .option('--workspace <id>', 'with --unrouted: only this workspace')
    .option('--all', 'also re-send deliveries that succeeded')
    .option('--dead', 'replay every dead-lettered delivery of --destination D')
    .option('--destination <id>', 'with --dead: the destination')
    .action((leadId: string | undefined, o: { unrouted?: boolean; form?: string; workspace?: string; all?: boolean; dead?: boolean; destination?: string }) =>
      withApp({}, async (app) => {
        if (o.dead) {
          if (!o.destination) throw new UsageError('--dead needs --destination D');
          if (!(await repo.findDestination(app.db, o.destination))) throw new UsageError(`destination "${o.destination}" not found`);
          print(`${await replay.replayDeadDeliveries(app, o.destination)} dead deliveries queued again`);
          return;
        }
        if (o.unrouted) {
          if (leadId) throw new UsageError('give either a lead id or --unrouted, not both');
          const results = await replay.replayUnrouted(app, o.workspace ?? null, o.form ?? null);
          const routed = results.filter((r) => !r.unrouted);
          print(`${results.length} unrouted lead(s) replayed: ${routed.length} now routed, ${routed.reduce((n, r) => n + r.queued, 0)} deliveries queued`);
          return;
        }
        if (!leadId) throw new UsageError('give a lead id, or --unrouted');
        if (!repo.isUuid(leadId)) throw new UsageError(`"${leadId.slice(0, 40)}" is not a lead id (a uuid from leads list)`);
        const r = await replay.replayLead(app, leadId, o.all ? ['dead', 'parked', 'delivered'] : ['dead', 'parked']);
        print(r.unrouted ? `lead ${leadId} is still unrouted: ${r.reason}` : `lead ${leadId}: ${r.queued} deliveries queued`);
      }),
    );

  leads
    .command('refetch')
    .description('fetch again the leads whose fetch from Meta gave up (status failed)')
    .requiredOption('--failed', 'the leads whose fetch failed (required, for clarity)')
    .option('--page-id <id>', 'only this page')
    .action((o: { pageId?: string }) =>
      withApp({}, async (app) => {
        print(`${await replay.refetchFailed(app, o.pageId ?? null)} lead fetch(es) queued again`);
      }),
    );

  // Groups not named on the command line are listed (for --help) without loading their modules.
  if (parts.mappings) parts.mappings.registerMappingCommands(program, withApp, UsageError);
  else program.command('mappings').description("a route's field mapping: form questions → CRM fields");
  parts.connect?.registerConnectCommands(program, withApp, UsageError, (app) => app.keyRing.deriveKey('oauth-state'));
  return program;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, got "${v}"`);
  return n;
}

export async function main(argv: string[]): Promise<void> {
  // Tests may add connectors from outside connectors/ (refused in production): before anything
  // reads the registry, since their flags and settings are part of the program's.
  try {
    const extra = readExtraConnectorModules();
    if (extra.length > 0) await registerExtraConnectorModules(extra);
  } catch (err) {
    process.exitCode = reportError(err instanceof ConfigError ? err : new UsageError((err as Error).message));
    return;
  }
  const program = buildProgram(await loadProgramParts(argv));
  // `start` is the default command, so commander would read an unknown command as its argument.
  const first = argv[2];
  if (first && !first.startsWith('-') && !program.commands.some((c) => c.name() === first || c.aliases().includes(first))) {
    process.stderr.write(`error: unknown command "${first}" (see leadrelay --help)\n`);
    process.exitCode = 2;
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed help or its one-line error.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  if (err instanceof UsageError || err instanceof InputError) {
    process.stderr.write(`error: ${err.message}\n`);
    return 2;
  }
  if (err instanceof EmbeddedPostgresError) {
    process.stderr.write(`error: ${err.message}\n`);
    return 2;
  }
  if (err instanceof EnvelopeError) {
    process.stderr.write(`error: ${err.message}\n`);
    return 3;
  }
  const e = err as { code?: string; message?: string; name?: string };
  if (e?.code === 'ECONNREFUSED') {
    process.stderr.write(`error: cannot connect (${e.message ?? 'connection refused'}); is PostgreSQL/Redis running?\n`);
    return 1;
  }
  process.stderr.write(`error: ${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e?.message ?? String(err)}\n`);
  return 1;
}

const invokedDirectly = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly || process.argv[1]?.endsWith('/cli/main.js')) void main(process.argv);

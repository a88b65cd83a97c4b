#!/usr/bin/env -S node --max-semi-space-size=8 --max-old-space-size=384
// `leadrelay`: the one binary. Roles (start, serve, work, migrate) and operator commands.
// Every command has --help; bad input exits non-zero with a one-line reason.
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig, readExtraConnectorModules } from '../config/env.js';
import { registerExtraConnectorModules } from '../../connectors/index.js';
import { EnvelopeError } from '../crypto/key-ring.js';
import { isUsageLikeError, UpstreamError } from '../services/errors.js';
import { EmbeddedPostgresError } from '../store/embedded-postgres.js';
import { createLogger } from '../util/logger.js';
import { LEADRELAY_VERSION } from '../util/version.js';
import { type CommandDeps, type CommandModules, operatorActor, UsageError, type WithApp } from './command-kit.js';
import { registerAlertCommands } from './commands/alerts.js';
import { registerApiCommand } from './commands/api.js';
import { registerApiKeyCommands } from './commands/api-keys.js';
import { registerDestinationCommands } from './commands/destinations.js';
import { registerKeyCommands } from './commands/keys.js';
import { registerLeadCommands } from './commands/leads.js';
import { registerPageCommands } from './commands/pages.js';
import { registerRoleCommands } from './commands/roles.js';
import { registerRouteCommands } from './commands/routes.js';
import { registerUserCommands } from './commands/users.js';
import { registerWorkspaceCommands } from './commands/workspaces.js';
import { InputError } from './destination-input.js';

// The program, its connectors and their SDKs load only when a command runs, so `--help` and
// argument errors answer at once (the connector manifests, which the flags come from, are light).
// The command groups (./commands/*) are built for every run, --help included, so their files
// import only types, commander and light helpers at the top level; they get these modules from
// `withApp`.
async function loadCommandModules(): Promise<{ app: typeof import('../app.js'); modules: CommandModules }> {
  const loaded = await Promise.all([import('../app.js'), import('../store/repos.js'), import('../pipeline/replay.js'), import('../store/migrate.js')]);
  // Named from `loaded`, not from the await: knip cannot follow their use through CommandModules,
  // and this way it counts these modules' exports as used (as it always has).
  const [app, repo, replay, migrations] = loaded;
  return { app, modules: { repo, replay, migrations } };
}

/**
 * Runs a command with the program's parts. Commands that change things apply pending migrations
 * first; `readOnly` ones never migrate (several may run beside a starting server) and say so when
 * the database is not set up yet.
 */
const withApp: WithApp = async (opts, fn) => {
  const config = loadConfig();
  // Operator commands print ids and tables on stdout for scripts; their logs go to stderr.
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { destination: process.stderr });
  const {
    app: { createApp },
    modules,
  } = await loadCommandModules();
  // A command loads a connector (and its SDKs) only when it uses it, and opens the queues only
  // when it queues something: most commands do neither, and start in half the time.
  const app = await createApp(config, {
    withQueues: opts.readOnly ? false : (opts.queues ?? true),
    queuesOnFirstUse: true,
    migrate: opts.readOnly ? false : (opts.migrate ?? true),
    loadConnectors: false,
    logger,
  });
  try {
    if (opts.readOnly) {
      const pending = await modules.migrations.findPendingMigrations(app.db);
      if (pending.length)
        throw new UsageError(`the database is not set up yet (${pending.length} migration(s) pending): start LeadRelay once, or run leadrelay migrate`);
    }
    const result = await fn(app, modules);
    if (!opts.readOnly && runningCommand && !SELF_AUDITED.has(runningCommand.group) && !SELF_AUDITED.has(`${runningCommand.group} ${runningCommand.name}`))
      await auditOperatorCommand(app, runningCommand);
    return result;
  } finally {
    await app.close();
  }
};

/** The command being run, as the preAction hook saw it: for the audit entry of a change. */
interface RunningCommand {
  group: string;
  name: string;
  /** The names of the options given (never their values: some are secrets). */
  options: string[];
  workspaceId: string | null;
  /** The first positional argument (an id: destination, lead), if any. */
  target: string | null;
}
let runningCommand: RunningCommand | null = null;

/** Groups (or `group command`s) whose commands write their own, richer audit entries. */
const SELF_AUDITED = new Set(['users', 'api-keys', 'leads find', 'leads export', 'leads erase']);

/** Every operator command that changes something is in the audit log: who ran it, which, with which options. */
async function auditOperatorCommand(app: import('../app.js').App, c: RunningCommand): Promise<void> {
  const { writeAudit } = await import('../accounts/audit.js');
  await writeAudit(app.db, {
    workspaceId: c.workspaceId,
    actor: operatorActor(),
    action: `cli.${c.group}.${c.name}`.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase()),
    target: c.target ? { type: c.group.replace(/s$/, ''), id: c.target } : undefined,
    details: { options: c.options },
  });
}

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
  program.hook('preAction', (_program, action) => {
    const parent = action.parent && action.parent !== program ? action.parent.name() : action.name();
    const given = Object.entries(action.opts()).filter(([, v]) => v !== undefined && v !== false);
    const workspace = action.opts().workspace;
    const [first] = action.args;
    runningCommand = {
      group: parent,
      name: action.name(),
      options: given.map(([k]) => k),
      workspaceId: typeof workspace === 'string' && /^[0-9a-f-]{36}$/i.test(workspace) ? workspace : null,
      target: typeof first === 'string' && /^[\w-]{1,64}$/.test(first) ? first : null,
    };
  });

  // In this order in --help.
  const deps: CommandDeps = { withApp };
  registerRoleCommands(program, deps);
  registerKeyCommands(program, deps);
  registerWorkspaceCommands(program, deps);
  registerUserCommands(program, deps);
  registerPageCommands(program, deps);
  registerDestinationCommands(program, deps);
  registerRouteCommands(program, deps);
  registerLeadCommands(program, deps);
  registerApiKeyCommands(program, deps);
  registerAlertCommands(program, deps);
  registerApiCommand(program);

  // Groups not named on the command line are listed (for --help) without loading their modules.
  if (parts.mappings) parts.mappings.registerMappingCommands(program, withApp, UsageError);
  else program.command('mappings').description("a route's field mapping: form questions → CRM fields");
  parts.connect?.registerConnectCommands(program, withApp);
  return program;
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
  if (err instanceof UsageError || err instanceof InputError || isUsageLikeError(err)) {
    process.stderr.write(`error: ${err.message}\n`);
    return 2;
  }
  if (err instanceof UpstreamError) {
    process.stderr.write(`error: ${err.message}\n`);
    return 1;
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

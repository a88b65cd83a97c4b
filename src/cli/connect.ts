// `leadrelay destinations connect`: prints a signed connect link (our /oauth/<type>/start) for
// whoever holds the CRM login to open. Opening it leads through the CRM's consent screen and
// back to LeadRelay, which then creates the destination, or with --destination gives an
// existing one new credentials and resumes its parked deliveries.
import { Option, type Command } from 'commander';
import type { App } from '../app.js';
import {
  buildConnectLink,
  findConnectTargetProblem,
  findMissingOAuthSettings,
  findOAuthConnector,
  listLoginUrlTypes,
  listOAuthConnectors,
  listOAuthTypes,
  MAX_NAME_CHARS,
  settingsOf,
} from '../http/oauth-providers.js';
import { CONNECT_LINK_TTL_MS, createOAuthStateSigner, type OAuthConnectRequest } from '../http/oauth-state.js';
import * as repo from '../store/repos.js';

type WithApp = <T>(opts: { queues?: boolean; migrate?: boolean }, fn: (app: App) => Promise<T>) => Promise<T>;
type UsageErrorCtor = new (message: string) => Error;
/** The HMAC key the HTTP server signs states with: `app.keyRing.deriveKey(OAUTH_STATE_KEY_PURPOSE)`. */
export type StateSecretOf = (app: App) => Buffer;

interface ConnectFlags {
  workspace?: string;
  type?: string;
  destination?: string;
  name?: string;
  loginUrl?: string;
}

const print = (s: string) => process.stdout.write(`${s}\n`);

export function registerConnectCommands(program: Command, withApp: WithApp, UsageError: UsageErrorCtor, stateSecretOf: StateSecretOf): void {
  const dests = program.commands.find((c) => c.name() === 'destinations') ?? program.command('destinations').description('where leads go');
  const connect = dests
    .command('connect')
    .description(
      'print a link that connects a CRM by OAuth (opens its consent screen); with --destination, re-authorises that destination and resumes its parked deliveries',
    )
    .option('--workspace <id>', 'workspace id (required for a new destination)')
    .addOption(new Option('--type <type>', 'CRM (required for a new destination)').choices(listOAuthTypes()))
    .option('--destination <id>', 're-authorise this existing destination instead of creating one')
    .option('--name <name>', 'display name of the new destination');
  // The CRMs that sign in at a host of the account's (their manifests' oauth.loginUrl).
  const loginUrlHelp = listOAuthConnectors().flatMap((c) => (c.oauth.loginUrl ? [`${c.id}: ${c.oauth.loginUrl.description}`] : []));
  if (loginUrlHelp.length > 0) connect.option('--login-url <url>', loginUrlHelp.join('; '));
  connect.action((o: ConnectFlags) =>
    // Read-only: no migration run (the workspace it names exists only in a migrated database).
    withApp({ queues: false, migrate: false }, async (app) => {
      const request = await resolveRequest(app, o, UsageError);
      const link = buildConnectLink(app.config.publicUrl, createOAuthStateSigner(stateSecretOf(app)), request, Date.now());
      print(link);
      const label = findOAuthConnector(request.type)?.label ?? request.type;
      process.stderr.write(
        `Open this link in a browser signed in to ${label} (it works for ${Math.round(CONNECT_LINK_TTL_MS / 3_600_000)} hours; anyone holding it can connect this workspace, so send it privately).\n` +
          (request.destinationId ? `It gives destination ${request.destinationId} new credentials and resumes its parked deliveries.\n` : ''),
      );
    }),
  );
}

async function resolveRequest(app: App, o: ConnectFlags, UsageError: UsageErrorCtor): Promise<OAuthConnectRequest> {
  let workspaceId = o.workspace;
  let type = o.type;
  let storedConfig: Record<string, unknown> | undefined;
  if (o.destination !== undefined) {
    const dest = await repo.findDestination(app.db, o.destination);
    if (!dest) throw new UsageError(`destination "${o.destination.slice(0, 64)}" not found (list them with: leadrelay destinations list)`);
    if (o.name !== undefined) throw new UsageError('--name is for a new destination; leave it out with --destination');
    workspaceId ??= dest.workspace_id;
    type ??= dest.type;
    storedConfig = (dest.config ?? {}) as Record<string, unknown>;
  }
  if (!workspaceId) throw new UsageError('--workspace is required (or --destination to re-authorise one)');
  if (!type) throw new UsageError(`--type is required: one of ${listOAuthTypes().join(', ')}`);
  const connector = findOAuthConnector(type);
  if (!connector) throw new UsageError(`${type} destinations do not connect by OAuth; OAuth types: ${listOAuthTypes().join(', ')}`);
  const missing = findMissingOAuthSettings(app.config, connector);
  if (missing) throw new UsageError(missing);
  if (o.name !== undefined && o.name.trim() === '') throw new UsageError('--name must not be empty');
  if (o.name !== undefined && o.name.length > MAX_NAME_CHARS) throw new UsageError(`--name may have at most ${MAX_NAME_CHARS} characters`);

  // A destination connected through a login host of its own (a sandbox, a My Domain) signs in again there.
  const loginOption = connector.oauth.loginUrl;
  const stored = loginOption ? storedConfig?.[loginOption.configKey] : undefined;
  let loginUrl: string | undefined = typeof stored === 'string' ? stored : undefined;
  if (o.loginUrl !== undefined) {
    if (!loginOption) throw new UsageError(`--login-url applies only to --type ${listLoginUrlTypes().join(', ')}`);
    const login = loginOption.parse(o.loginUrl, settingsOf(app.config, connector));
    if (!login.ok) throw new UsageError(`--login-url: ${login.message}`);
    loginUrl = login.loginUrl;
  }

  const request: OAuthConnectRequest = {
    workspaceId,
    type,
    ...(o.destination !== undefined ? { destinationId: o.destination } : {}),
    ...(o.name !== undefined ? { name: o.name.trim() } : {}),
    ...(loginUrl !== undefined ? { loginUrl } : {}),
  };
  const problem = await findConnectTargetProblem(app.db, request);
  if (problem) throw new UsageError(problem);
  return request;
}

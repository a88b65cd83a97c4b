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
  isOAuthType,
  isOAuthTypeAvailable,
  OAUTH_TYPES,
  getOAuthLabel,
  parseSalesforceLoginUrl,
} from '../http/oauth-routes.js';
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

const print = (s: string) => process.stdout.write(s + '\n');

export function registerConnectCommands(program: Command, withApp: WithApp, UsageError: UsageErrorCtor, stateSecretOf: StateSecretOf): void {
  const dests = program.commands.find((c) => c.name() === 'destinations') ?? program.command('destinations').description('where leads go');
  dests
    .command('connect')
    .description('print a link that connects a CRM by OAuth (opens its consent screen); with --destination, re-authorises that destination and resumes its parked deliveries')
    .option('--workspace <id>', 'workspace id (required for a new destination)')
    .addOption(new Option('--type <type>', 'CRM (required for a new destination)').choices([...OAUTH_TYPES]))
    .option('--destination <id>', 're-authorise this existing destination instead of creating one')
    .option('--name <name>', 'display name of the new destination')
    .option('--login-url <url>', 'salesforce: login host, e.g. https://test.salesforce.com for a sandbox, or your My Domain ("sandbox" and "production" also work)')
    .action((o: ConnectFlags) =>
      // Read-only: no migration run (the workspace it names exists only in a migrated database).
      withApp({ queues: false, migrate: false }, async (app) => {
        const request = await resolveRequest(app, o, UsageError);
        const link = buildConnectLink(app.config.publicUrl, createOAuthStateSigner(stateSecretOf(app)), request, Date.now());
        print(link);
        const label = getOAuthLabel(request.type as (typeof OAUTH_TYPES)[number]);
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
  let destinationLoginUrl: string | undefined;
  if (o.destination !== undefined) {
    const dest = await repo.findDestination(app.db, o.destination);
    if (!dest) throw new UsageError(`destination "${o.destination.slice(0, 64)}" not found (list them with: leadrelay destinations list)`);
    if (o.name !== undefined) throw new UsageError('--name is for a new destination; leave it out with --destination');
    workspaceId ??= dest.workspace_id;
    type ??= dest.type;
    // A sandbox or My Domain destination signs in again where it was connected.
    const configured = (dest.config as { loginUrl?: unknown } | null)?.loginUrl;
    if (typeof configured === 'string') destinationLoginUrl = configured;
  }
  if (!workspaceId) throw new UsageError('--workspace is required (or --destination to re-authorise one)');
  if (!type) throw new UsageError(`--type is required: one of ${OAUTH_TYPES.join(', ')}`);
  if (!isOAuthType(type)) throw new UsageError(`${type} destinations do not connect by OAuth; OAuth types: ${OAUTH_TYPES.join(', ')}`);
  const missing = findMissingOAuthSettings(app.config, type);
  if (missing) throw new UsageError(missing);
  if (!isOAuthTypeAvailable(type)) throw new UsageError(`this build has no ${type} connector yet`);
  if (o.name !== undefined && o.name.trim() === '') throw new UsageError('--name must not be empty');
  if (o.name !== undefined && o.name.length > 200) throw new UsageError('--name may have at most 200 characters');

  let loginUrl: string | undefined = type === 'salesforce' ? destinationLoginUrl : undefined;
  if (o.loginUrl !== undefined) {
    if (type !== 'salesforce') throw new UsageError('--login-url applies only to --type salesforce');
    const login = parseSalesforceLoginUrl(o.loginUrl, app.config.salesforce.loginUrl);
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

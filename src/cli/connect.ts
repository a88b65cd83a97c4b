// `leadrelay destinations connect`: prints a signed connect link (our /oauth/<type>/start) for
// whoever holds the CRM login to open. Opening it leads through the CRM's consent screen and
// back to LeadRelay, which then creates the destination, or with --destination gives an
// existing one new credentials and resumes its parked deliveries.
import { Option, type Command } from 'commander';
import type { App } from '../app.js';
import { findOAuthConnector, listOAuthConnectors, listOAuthTypes } from '../http/oauth-providers.js';
import { CONNECT_LINK_TTL_MS } from '../http/oauth-state.js';
import { createConnectLink, resolveConnectRequest } from '../services/destinations.js';
import { cliFieldNamer } from '../services/errors.js';

type WithApp = <T>(opts: { queues?: boolean; migrate?: boolean }, fn: (app: App) => Promise<T>) => Promise<T>;

interface ConnectFlags {
  workspace?: string;
  type?: string;
  destination?: string;
  name?: string;
  loginUrl?: string;
}

const print = (s: string) => process.stdout.write(`${s}\n`);

export function registerConnectCommands(program: Command, withApp: WithApp): void {
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
      const request = await resolveConnectRequest(
        app,
        { workspaceId: o.workspace, type: o.type, destinationId: o.destination, name: o.name, loginUrl: o.loginUrl },
        cliFieldNamer(),
      );
      print(createConnectLink(app, request).url);
      const label = findOAuthConnector(request.type)?.label ?? request.type;
      process.stderr.write(
        `Open this link in a browser signed in to ${label} (it works for ${Math.round(CONNECT_LINK_TTL_MS / 3_600_000)} hours; anyone holding it can connect this workspace, so send it privately).\n` +
          (request.destinationId ? `It gives destination ${request.destinationId} new credentials and resumes its parked deliveries.\n` : ''),
      );
    }),
  );
}

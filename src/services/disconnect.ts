// Disconnecting and deleting what a workspace connected: what `leadrelay pages disconnect`,
// `destinations disconnect`, `routes delete` and the API's matching operations do.
// - A page: the app is uninstalled from it at Meta (`DELETE /{page-id}/subscribed_apps` with its
//   token), then the token is deleted at once. The page row stays, marked disconnected, with its
//   routes, forms and lead history: connecting it again (Connect Facebook, `pages add`) picks up
//   where it stopped, and webhooks that still come for it are kept, parked, never dropped.
// - A destination: its credentials are revoked at the CRM where the connector can (its manifest's
//   `revoke`), then deleted at once, whatever the CRM said; its deliveries waiting to be sent
//   are parked as `destination_disconnected` until it is connected again.
// - A route: deleted; its deliveries not yet sent are stopped.
// Nothing here names a CRM, and no token or credential appears in what is returned.
import { loadConnector } from '../../connectors/index.js';
import { isConnectorError } from '../../connectors/types.js';
import type { App } from '../app.js';
import { isGraphError } from '../meta/graph-errors.js';
import { buildConnectorContext } from '../pipeline/connector-context.js';
import { deleteRouteAndStopItsDeliveries, markDestinationDisconnected, markPageDisconnected, PAGE_DISCONNECTED } from '../store/disconnects.js';
import type { Destination, Page } from '../store/schema.js';
import { errorSummary } from '../util/error-summary.js';
import { getDestination } from './destinations.js';
import { getPage, pageTokenOf } from './pages.js';
import { getRoute } from './routes.js';

/** What became of the app on the page at Meta. */
type PageUninstall =
  | { status: 'uninstalled' }
  /** The page had no token any more (disconnected before): nothing to call Meta with. */
  | { status: 'no_token' }
  | { status: 'failed'; reason: string; message: string };

/**
 * Uninstalls the app from a page with its token (best effort: a dead token or an outage must not
 * keep a token LeadRelay was asked to delete).
 */
async function uninstallFromPage(app: App, page: Page): Promise<PageUninstall> {
  if (page.token_envelope === null) return { status: 'no_token' };
  try {
    await app.graph.unsubscribePageFromApp(page.page_id, pageTokenOf(app, page));
    return { status: 'uninstalled' };
  } catch (err) {
    const reason = isGraphError(err) ? err.info.reason : 'error';
    app.logger.warn({ pageId: page.page_id, reason }, 'could not uninstall the app from the page at Meta');
    return {
      status: 'failed',
      reason,
      message:
        `Facebook did not confirm that LeadRelay was removed from page ${page.page_id} (${reason}); the token was deleted anyway. ` +
        "Remove LeadRelay in the Page's settings (Business integrations) to stop Facebook sending its leads.",
    };
  }
}

export interface DisconnectedPage {
  page: Page;
  uninstall: PageUninstall;
}

/** Disconnects a page of the workspace (404 when it has none by that id). Again on a disconnected page: nothing more to do. */
export async function disconnectPage(app: App, workspaceId: string, pageId: string): Promise<DisconnectedPage> {
  const page = await getPage(app, workspaceId, pageId);
  const uninstall = await uninstallFromPage(app, page);
  const disconnected = page.status === 'disconnected' ? page : await markPageDisconnected(app.db, page.id, PAGE_DISCONNECTED);
  return { page: disconnected, uninstall };
}

/** What became of a destination's credentials at the CRM. */
export type CredentialRevocation =
  | { status: 'revoked' }
  /** The CRM has no revocation for these credentials (or the type has none): where a person revokes them, if anywhere. */
  | { status: 'not_revocable'; message: string }
  /** The destination held no credentials (disconnected before). */
  | { status: 'no_credentials' }
  | { status: 'failed'; reason: string; message: string };

/** Asks the CRM to revoke the destination's credentials (its connector's `revoke`); never throws. */
export async function revokeDestinationCredentials(app: App, dest: Destination): Promise<CredentialRevocation> {
  if (dest.credentials_envelope === null) return { status: 'no_credentials' };
  let connector: Awaited<ReturnType<typeof loadConnector>>;
  try {
    connector = await loadConnector(dest.type);
  } catch (err) {
    app.logger.warn(
      { destinationId: dest.id, type: dest.type, err: errorSummary(err) },
      'destination type not loadable; its credentials are deleted unrevoked',
    );
    return { status: 'failed', reason: 'connector_unavailable', message: `the ${dest.type} connector could not be loaded, so nothing was revoked` };
  }
  if (!connector.revoke)
    return { status: 'not_revocable', message: `a ${connector.label} destination has nothing to revoke at the other end; its credentials are deleted` };
  try {
    const outcome = await connector.revoke(buildConnectorContext(app, dest, null));
    return outcome.status === 'revoked' ? outcome : { status: 'not_revocable', message: outcome.message };
  } catch (err) {
    if (isConnectorError(err)) {
      app.logger.warn({ destinationId: dest.id, type: dest.type, kind: err.kind, reason: err.reason }, 'the CRM did not revoke the credentials');
      return {
        status: 'failed',
        reason: err.reason,
        message:
          `${connector.label} did not confirm the revocation (${err.reason}${err.crmMessage ? `: ${err.crmMessage}` : ''}); the credentials were deleted anyway. ` +
          `Remove LeadRelay's access in ${connector.label} to be sure.`,
      };
    }
    // Credentials that no longer parse, or a bug: the deletion still goes ahead.
    app.logger.warn({ destinationId: dest.id, type: dest.type, err: errorSummary(err) }, 'could not revoke the credentials');
    return { status: 'failed', reason: 'revoke_failed', message: 'the credentials could not be revoked; they were deleted anyway' };
  }
}

export interface DisconnectedDestination {
  destination: Destination;
  revocation: CredentialRevocation;
  /** Deliveries that were waiting to be sent, now parked until the destination is connected again. */
  parkedDeliveries: number;
}

/** Disconnects a destination of the workspace (404 otherwise): revoke at the CRM where it can, delete the credentials, park its deliveries. */
export async function disconnectDestination(app: App, workspaceId: string | null, destinationId: string): Promise<DisconnectedDestination> {
  const dest = await getDestination(app, workspaceId, destinationId);
  const revocation = await revokeDestinationCredentials(app, dest);
  const { destination, parked } = await app.db.transaction().execute((trx) => markDestinationDisconnected(trx, dest.id));
  app.connectorMemories.forget(dest.type, dest.id);
  return { destination, revocation, parkedDeliveries: parked };
}

/** Deletes a route of the workspace (404 otherwise); returns how many of its unsent deliveries were stopped. */
export async function deleteRoute(app: App, workspaceId: string | null, routeId: string, cliHint?: string): Promise<{ stoppedDeliveries: number }> {
  const route = await getRoute(app, workspaceId, routeId, cliHint);
  const stoppedDeliveries = await app.db.transaction().execute((trx) => deleteRouteAndStopItsDeliveries(trx, route));
  return { stoppedDeliveries };
}

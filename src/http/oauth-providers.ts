// What the OAuth connect flow knows of a CRM, read from its connector's manifest (`oauth`):
// which destination types connect by OAuth, which settings their OAuth app needs, the redirect
// URI, and the connect link. Used by the connect routes (oauth-routes.ts) and
// `leadrelay destinations connect`. No CRM is named here.
import type { AppConfig } from '../config/env.js';
import { findManifest, listManifests } from '../../connectors/index.js';
import type { ConnectorManifest, ConnectorOAuth } from '../../connectors/types.js';
import * as repo from '../store/repos.js';
import type { Db } from '../store/db.js';
import type { OAuthConnectRequest, OAuthStateSigner } from './oauth-state.js';

export const MAX_NAME_CHARS = 200;

/** A connector that connects by OAuth: its manifest, with its `oauth` declaration. */
export type OAuthConnector = ConnectorManifest & { oauth: ConnectorOAuth };

/** The registered connectors that connect by OAuth, in registry order. */
export function listOAuthConnectors(): OAuthConnector[] {
  return listManifests().filter((m): m is OAuthConnector => m.oauth !== undefined);
}

/** The ids of the destination types that connect by OAuth. */
export function listOAuthTypes(): string[] {
  return listOAuthConnectors().map((m) => m.id);
}

/** The connector of an OAuth destination type, or undefined when the type does not connect by OAuth. */
export function findOAuthConnector(type: string): OAuthConnector | undefined {
  const manifest = findManifest(type);
  return manifest?.oauth ? (manifest as OAuthConnector) : undefined;
}

/** The connector's own settings from the configuration. */
export function settingsOf(config: AppConfig, connector: ConnectorManifest): Record<string, string> {
  return config.connectors[connector.id] ?? {};
}

/** "<CLIENT ID VARIABLE> is not set" (or both names), or undefined when the CRM's OAuth app is configured. */
export function findMissingOAuthSettings(config: AppConfig, connector: OAuthConnector): string | undefined {
  const values = settingsOf(config, connector);
  const missing = connector.oauth.requiredSettings.filter((key) => (values[key] ?? '') === '').map((key) => connector.settings?.[key]?.env ?? key);
  if (missing.length === 0) return undefined;
  return `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set: set ${missing.length === 1 ? 'it' : 'them'} to your ${connector.label} app's OAuth client credentials and restart LeadRelay`;
}

/** The types that take a login URL (`--login-url`, `login_url`), for messages. */
export function listLoginUrlTypes(): string[] {
  return listOAuthConnectors()
    .filter((c) => c.oauth.loginUrl !== undefined)
    .map((c) => c.id);
}

export function buildRedirectUri(publicUrl: string, type: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/oauth/${type}/callback`;
}

/**
 * Why the workspace/destination of a connect request cannot be used, or undefined when they
 * can: the workspace exists; a destination to re-authorise exists, belongs to that workspace
 * and is of the same CRM.
 */
export async function findConnectTargetProblem(db: Db, request: OAuthConnectRequest): Promise<string | undefined> {
  if (!(await repo.findWorkspace(db, request.workspaceId))) return `workspace "${request.workspaceId.slice(0, 64)}" not found`;
  if (request.destinationId === undefined) return undefined;
  const dest = await repo.findDestination(db, request.destinationId);
  if (!dest || dest.workspace_id !== request.workspaceId)
    return `destination "${request.destinationId.slice(0, 64)}" not found in workspace ${request.workspaceId}`;
  if (dest.type !== request.type) return `destination ${dest.id} is a ${dest.type} destination, not ${request.type}`;
  return undefined;
}

/** The link an operator hands to whoever holds the CRM login: our start route, signed. */
export function buildConnectLink(publicUrl: string, signer: OAuthStateSigner, request: OAuthConnectRequest, nowMs: number): string {
  const url = new URL(`${publicUrl.replace(/\/+$/, '')}/oauth/${encodeURIComponent(request.type)}/start`);
  url.searchParams.set('workspace', request.workspaceId);
  if (request.destinationId !== undefined) url.searchParams.set('destination', request.destinationId);
  if (request.name !== undefined) url.searchParams.set('name', request.name);
  if (request.loginUrl !== undefined) url.searchParams.set('login_url', request.loginUrl);
  const signature = signer.signConnectLink(request, nowMs);
  url.searchParams.set('expires', String(signature.expires));
  url.searchParams.set('sig', signature.sig);
  return url.toString();
}

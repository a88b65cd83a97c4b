// Facebook connections (a person's stored Facebook login): listing, loading, forgetting, and the permissions granted on each.
import type { App } from '../../app.js';
import { describePermissionPurpose, facebookConnectionAad, findMissingPermissions } from '../../meta/facebook-login.js';
import type { GraphPermission } from '../../meta/graph-types.js';
import * as connections from '../../store/facebook-connections.js';
import type { FacebookConnection } from '../../store/schema.js';
import { isUuid } from '../../store/values.js';
import { NotFoundError } from '../errors.js';
import { explainUserTokenFailure } from './graph-failures.js';
import type { FacebookCaller } from './login.js';

export interface ConnectionView {
  id: string;
  name: string | null;
  facebook_user_id: string;
  granted_permissions: string[];
  declined_permissions: string[];
  expires_at: string | null;
  created_at: string;
}

export const connectionView = (c: FacebookConnection): ConnectionView => ({
  id: c.id,
  name: c.name,
  facebook_user_id: c.fb_user_id,
  granted_permissions: c.granted_permissions,
  declined_permissions: c.declined_permissions,
  expires_at: c.expires_at ? new Date(c.expires_at).toISOString() : null,
  created_at: new Date(c.created_at).toISOString(),
});

export async function listConnections(app: App, caller: FacebookCaller): Promise<FacebookConnection[]> {
  return connections.listFacebookConnections(app.db, caller);
}

export async function loadConnection(app: App, caller: FacebookCaller, connectionId: string): Promise<{ connection: FacebookConnection; token: string }> {
  const connection = isUuid(connectionId) ? await connections.findFacebookConnection(app.db, { id: connectionId, ...caller }) : undefined;
  if (!connection) throw new NotFoundError(`Facebook connection "${connectionId.slice(0, 40)}"`);
  return { connection, token: app.keyRing.decrypt(connection.token_envelope, facebookConnectionAad(connection.id)) };
}

export async function forgetConnection(app: App, caller: FacebookCaller, connectionId: string): Promise<void> {
  const gone = isUuid(connectionId) && (await connections.deleteFacebookConnection(app.db, { id: connectionId, ...caller }));
  if (!gone) throw new NotFoundError(`Facebook connection "${connectionId.slice(0, 40)}"`);
}

// ---- permissions ----------------------------------------------------------------------------------

export interface DeclinedPermission {
  permission: string;
  /** What LeadRelay cannot do without it. */
  explanation: string;
}

export const describeDeclinedPermissions = (missing: string[]): DeclinedPermission[] =>
  missing.map((permission) => ({ permission, explanation: `Without "${permission}" LeadRelay cannot ${describePermissionPurpose(permission)}.` }));

/** Reads what the person granted now (it can change on Facebook at any time) and records it on the connection. */
export async function refreshPermissions(app: App, connection: FacebookConnection, token: string): Promise<string[]> {
  let permissions: GraphPermission[];
  try {
    permissions = await app.graph.listPermissions(token);
  } catch (err) {
    throw explainUserTokenFailure(err, 'say which permissions you granted');
  }
  await connections.setFacebookConnectionPermissions(
    app.db,
    connection.id,
    permissions.filter((p) => p.status === 'granted').map((p) => p.permission),
    permissions.filter((p) => p.status !== 'granted').map((p) => p.permission),
  );
  return findMissingPermissions(permissions);
}

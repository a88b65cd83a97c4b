// The audit log of a workspace: who did what to which target, when and from where, newest first,
// filtered by action (a trailing * matches a prefix), actor, target and time. And a person's own
// account-level entries (signing in, MFA, password changes), which belong to no workspace.
import { z } from 'zod';
import { AUDIT_RETENTION_MONTHS, type AuditScope, listAudit } from '../../accounts/audit.js';
import type { App } from '../../app.js';
import type { AuditEntry } from '../../store/schema.js';
import { defineOperation } from '../operation.js';
import { decodeCursor, pageFrom, pageOf, pageQuery } from '../pagination.js';
import { invalidField } from '../problem.js';
import { workspaceIdParams } from './workspaces.js';

const auditEntrySchema = z
  .object({
    id: z.number().int(),
    at: z.iso.datetime(),
    actor: z.object({
      type: z.enum(['user', 'api_key', 'operator', 'system', 'anonymous']),
      id: z.string().nullable().meta({ description: 'user id or API key id' }),
      label: z.string().nullable().meta({ description: "the user's email, or the key's name and last four characters" }),
    }),
    action: z.string().meta({ description: 'the operation, e.g. createApiKey' }),
    target: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: 'AuditEntry' });

const auditQuery = pageQuery.extend({
  action: z.string().max(200).optional().meta({ description: 'an action name, or a prefix ending in * (e.g. "createApi*")' }),
  actor_id: z.string().max(200).optional().meta({ description: 'entries by this user or API key' }),
  target_id: z.string().max(200).optional().meta({ description: 'entries about this target' }),
  since: z.iso.datetime({ offset: true }).optional().meta({ description: 'entries at or after this time (ISO 8601)' }),
  until: z.iso.datetime({ offset: true }).optional().meta({ description: 'entries before this time (ISO 8601)' }),
});

const view = (e: AuditEntry) => ({
  id: e.id,
  at: new Date(e.at).toISOString(),
  actor: { type: e.actor_type, id: e.actor_id, label: e.actor_label },
  action: e.action,
  target: e.target_type ? { type: e.target_type, id: e.target_id } : null,
  ip: e.ip,
  user_agent: e.user_agent,
  details: e.details ?? null,
});

/** A page of the scope's entries, as the query filters them. */
async function listAuditPage(app: App, scope: AuditScope, query: z.infer<typeof auditQuery>) {
  const since = query.since ? new Date(query.since) : undefined;
  const until = query.until ? new Date(query.until) : undefined;
  if (since && until && since >= until) throw invalidField('query.until', 'must be later than since');
  if (query.action && query.action.indexOf('*') !== -1 && query.action.indexOf('*') !== query.action.length - 1)
    throw invalidField('query.action', 'a * may only end the action (a prefix match)');
  const beforeId = decodeCursor(query.cursor, z.number().int().positive());
  const rows = await listAudit(app.db, {
    scope,
    action: query.action,
    actorId: query.actor_id,
    targetId: query.target_id,
    since,
    until,
    beforeId,
    limit: query.limit + 1,
  });
  return pageFrom(rows, query.limit, view, (e) => e.id);
}

export const auditOperations = [
  defineOperation({
    operationId: 'listAuditEntries',
    method: 'get',
    path: '/workspaces/{workspaceId}/audit',
    summary: `The workspace's audit log, newest first (kept ${AUDIT_RETENTION_MONTHS} months)`,
    tag: 'Audit log',
    access: { kind: 'workspace', permission: 'audit.read' },
    params: workspaceIdParams,
    query: auditQuery,
    response: { status: 200, description: 'a page of entries', schema: pageOf(auditEntrySchema) },
    async handler({ app, workspaceId, query }) {
      return listAuditPage(app, { workspaceId }, query);
    },
  }),
  defineOperation({
    operationId: 'listMyAuditEntries',
    method: 'get',
    path: '/me/audit',
    summary: `The signed-in person's own account events, newest first (kept ${AUDIT_RETENTION_MONTHS} months)`,
    description:
      'Sign-ins (failed ones too), MFA and password changes: the entries of no workspace that the caller wrote or that are about them. ' +
      "What they did in a workspace is in that workspace's audit log.",
    tag: 'Me',
    access: { kind: 'user' },
    query: auditQuery,
    response: { status: 200, description: 'a page of entries', schema: pageOf(auditEntrySchema) },
    async handler({ app, actor, query }) {
      if (actor?.type !== 'user') throw new Error('listMyAuditEntries runs for signed-in users only');
      return listAuditPage(app, { userId: actor.user.id }, query);
    },
  }),
];

// Deleting a workspace and restoring it within its grace period (src/services/workspace-lifecycle.ts).
// The hard delete runs by itself once the grace period (WORKSPACE_DELETION_GRACE_DAYS, at most
// 30 days) has ended.
import { z } from 'zod';
import type { AuditActor } from '../../accounts/audit.js';
import { getWorkspaceDeletionState, requestWorkspaceDeletion, restoreWorkspace } from '../../services/workspace-lifecycle.js';
import { type Actor, defineOperation } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

const deletionSchema = z
  .object({
    workspace_id: z.uuid(),
    is_deleted: z.boolean().meta({ description: 'deletion was asked for and the workspace is waiting to be deleted for good' }),
    deletion_requested_at: z.iso.datetime().nullable(),
    purge_after: z.iso.datetime().nullable().meta({ description: 'when the workspace and everything it owns are deleted for good; restore works until then' }),
    grace_days: z
      .number()
      .int()
      .meta({ description: 'how many days a deletion waits before everything is deleted for good (WORKSPACE_DELETION_GRACE_DAYS); restore works meanwhile' }),
  })
  .meta({ id: 'WorkspaceDeletion' });

const countsSchema = z.object({ events: z.number().int(), deliveries: z.number().int() });

function auditActorOf(actor: Actor | null): AuditActor {
  if (!actor) return { type: 'anonymous', id: null, label: null };
  if (actor.type === 'user') return { type: 'user', id: actor.user.id, label: actor.user.email };
  return { type: 'api_key', id: actor.key.id, label: `${actor.key.name} (…${actor.key.last4})` };
}

export const workspaceLifecycleOperations = [
  defineOperation({
    operationId: 'getWorkspaceDeletion',
    method: 'get',
    path: '/workspaces/{workspaceId}/deletion',
    summary: 'Whether the workspace is being deleted, and until when it can be restored',
    tag: 'Workspaces',
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the deletion state', schema: deletionSchema },
    async handler({ app, workspaceId }) {
      return getWorkspaceDeletionState(app, workspaceId);
    },
  }),
  defineOperation({
    operationId: 'deleteWorkspace',
    method: 'delete',
    path: '/workspaces/{workspaceId}',
    summary: 'Delete the workspace: intake and delivery stop now; every row and secret goes after the grace period',
    description:
      'Leads that arrive and deliveries not yet sent are kept, parked (workspace_deleted). Until purge_after (now + WORKSPACE_DELETION_GRACE_DAYS, at most 30 days) ' +
      'POST …/restore brings the workspace back as it was, parked work resumed. After it the app is uninstalled from its pages, its destinations’ credentials are revoked ' +
      'at their CRMs where they can be, and every row of the workspace (leads, deliveries, pages, destinations, routes, members, keys, audit entries…) is deleted. ' +
      'Each of its pages keeps only a lead floor (page id and purge time): reconciliation never records the page’s leads from before the purge again, in any workspace. ' +
      'Asking again changes nothing.',
    tag: 'Workspaces',
    access: { kind: 'workspace', permission: 'workspace.own' },
    params: workspaceIdParams,
    // The service writes the entries itself: one in the installation's log, which outlives the workspace.
    audit: 'none',
    response: {
      status: 200,
      description: 'the workspace is being deleted',
      schema: z.object({ deletion: deletionSchema, parked: countsSchema.meta({ description: 'work stopped now, resumed by a restore' }) }),
    },
    async handler({ app, workspaceId, actor, ip, userAgent }) {
      const r = await requestWorkspaceDeletion(app, workspaceId, { actor: auditActorOf(actor), ip, userAgent });
      return { deletion: r.state, parked: r.parked };
    },
  }),
  defineOperation({
    operationId: 'restoreWorkspace',
    method: 'post',
    path: '/workspaces/{workspaceId}/restore',
    summary: 'Restore a deleted workspace within its grace period',
    description:
      'Intake and delivery start again: leads that arrived meanwhile are fetched and parked deliveries sent. 409 when the workspace is not being deleted or its grace period has ended.',
    tag: 'Workspaces',
    access: { kind: 'workspace', permission: 'workspace.own' },
    params: workspaceIdParams,
    errors: [409],
    response: {
      status: 200,
      description: 'the workspace is back',
      schema: z.object({ deletion: deletionSchema, resumed: countsSchema }),
    },
    async handler({ app, workspaceId, actor, ip, userAgent }) {
      const r = await restoreWorkspace(app, workspaceId, { actor: auditActorOf(actor), ip, userAgent });
      return { deletion: r.state, resumed: r.resumed };
    },
  }),
];

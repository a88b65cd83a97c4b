// Deleting a workspace: what `leadrelay workspaces delete|restore` and the API's DELETE
// /workspaces/{id} and POST …/restore do, and the hard delete the maintenance loop runs.
// - Deleting stops intake and delivery at once (waiting events and deliveries are parked, the
//   workers park later ones) and sets the purge date: now + WORKSPACE_DELETION_GRACE_DAYS (at
//   most 30). Until then `restore` brings the workspace back as it was, parked work resumed.
// - After it, the hard delete revokes what it can at Meta and the CRMs (the app uninstalled from
//   its pages, destination credentials revoked), then deletes every row of the workspace, its
//   secrets and audit entries included. What stays is an entry in the installation's audit log
//   (no workspace) saying when it was purged: no data of the workspace's; and, per page it had, a
//   lead floor (page id and purge time) so reconciliation does not record those leads again.
// People's accounts are the installation's, not a workspace's: they stay (their memberships go).
import { type AuditActor, writeAudit } from '../accounts/audit.js';
import type { App } from '../app.js';
import { pageTokenAad } from '../pipeline/lead-record.js';
import * as repo from '../store/repos.js';
import type { Workspace } from '../store/schema.js';
import * as deletion from '../store/workspace-deletion.js';
import { errorSummary } from '../util/error-summary.js';
import { revokeDestinationCredentials } from './disconnect.js';
import { ConflictError, NotFoundError } from './errors.js';

const DAY_MS = 86_400_000;

export interface WorkspaceDeletionState {
  workspace_id: string;
  /** Whether deletion was asked for (false after a restore, or never). */
  is_deleted: boolean;
  deletion_requested_at: string | null;
  /** When the hard delete may run; restore works until then. */
  purge_after: string | null;
  /** How many days a deletion waits before everything is deleted for good (restore works meanwhile). */
  grace_days: number;
}

const deletionStateOf = (w: Workspace, graceDays: number): WorkspaceDeletionState => ({
  workspace_id: w.id,
  is_deleted: w.deletion_requested_at !== null,
  deletion_requested_at: w.deletion_requested_at ? new Date(w.deletion_requested_at).toISOString() : null,
  purge_after: w.purge_after ? new Date(w.purge_after).toISOString() : null,
  grace_days: graceDays,
});

/** Who asked, from where: for the audit entries the deletion writes. */
export interface LifecycleCaller {
  actor: AuditActor;
  ip?: string | null;
  userAgent?: string | null;
}

export async function getWorkspaceDeletionState(app: App, workspaceId: string): Promise<WorkspaceDeletionState> {
  const ws = await repo.findWorkspace(app.db, workspaceId);
  if (!ws) throw new NotFoundError(`workspace "${workspaceId.slice(0, 64)}"`, 'list them with: leadrelay workspaces list');
  return deletionStateOf(ws, app.config.workspaceDeletion.graceDays);
}

/**
 * Deletes a workspace (the hard delete follows after the grace period): intake and delivery stop
 * now. Asking again changes nothing (the first purge date stands). Writes the audit entries
 * itself: one in the workspace, and one in the installation's log, which outlives the workspace.
 */
export async function requestWorkspaceDeletion(
  app: App,
  workspaceId: string,
  caller: LifecycleCaller,
): Promise<{ state: WorkspaceDeletionState; parked: { events: number; deliveries: number }; isAlreadyDeleted: boolean }> {
  const before = await repo.findWorkspace(app.db, workspaceId);
  if (!before) throw new NotFoundError(`workspace "${workspaceId.slice(0, 64)}"`, 'list them with: leadrelay workspaces list');
  if (before.deletion_requested_at)
    return { state: deletionStateOf(before, app.config.workspaceDeletion.graceDays), parked: { events: 0, deliveries: 0 }, isAlreadyDeleted: true };
  const purgeAfter = new Date(Date.now() + app.config.workspaceDeletion.graceDays * DAY_MS);
  const marked = await app.db.transaction().execute(async (trx) => {
    const ws = await deletion.markWorkspaceDeleted(trx, before.id, purgeAfter);
    // Deleted meanwhile by another call: that one stopped the work and wrote the entries.
    if (!ws) return null;
    const parked = await deletion.parkWorkspaceWork(trx, ws.id);
    const state = deletionStateOf(ws, app.config.workspaceDeletion.graceDays);
    const details = { purge_after: state.purge_after, grace_days: app.config.workspaceDeletion.graceDays };
    const common = { actor: caller.actor, ip: caller.ip ?? null, userAgent: caller.userAgent ?? null, target: { type: 'workspace', id: ws.id } };
    await writeAudit(trx, { ...common, workspaceId: ws.id, action: 'workspace.deletionRequested', details: { ...details, parked } });
    await writeAudit(trx, { ...common, workspaceId: null, action: 'workspace.deletionRequested', details });
    return { state, parked, isAlreadyDeleted: false };
  });
  return marked ?? { state: await getWorkspaceDeletionState(app, before.id), parked: { events: 0, deliveries: 0 }, isAlreadyDeleted: true };
}

/** Brings a deleted workspace back within its grace period, and resumes what its deletion parked. */
export async function restoreWorkspace(
  app: App,
  workspaceId: string,
  caller: LifecycleCaller,
): Promise<{ state: WorkspaceDeletionState; resumed: { events: number; deliveries: number } }> {
  const ws = await repo.findWorkspace(app.db, workspaceId);
  if (!ws) throw new NotFoundError(`workspace "${workspaceId.slice(0, 64)}"`, 'it may have been deleted for good already');
  if (!ws.deletion_requested_at) throw new ConflictError(`workspace ${ws.id} is not being deleted: there is nothing to restore`);
  const work = await app.db.transaction().execute(async (trx) => {
    if (!(await deletion.unmarkWorkspaceDeleted(trx, ws.id)))
      throw new ConflictError(
        `the grace period of workspace ${ws.id} ended (${new Date(ws.purge_after ?? Date.now()).toISOString()}): it is being deleted for good`,
      );
    const unparked = await deletion.unparkWorkspaceWork(trx, ws.id);
    await writeAudit(trx, {
      workspaceId: null,
      actor: caller.actor,
      ip: caller.ip ?? null,
      userAgent: caller.userAgent ?? null,
      action: 'workspace.restored',
      target: { type: 'workspace', id: ws.id },
    });
    return unparked;
  });
  // Rows first, then jobs: a lost enqueue is rebuilt by the outbox sweep.
  await app.queues.enqueueFetch(work.eventIds);
  await app.queues.enqueueDeliveries(work.deliveryIds.map((id) => ({ id })));
  return {
    state: await getWorkspaceDeletionState(app, ws.id),
    resumed: { events: work.eventIds.length, deliveries: work.deliveryIds.length },
  };
}

/**
 * Before the rows go: the app is uninstalled from the workspace's pages and its destinations'
 * credentials are revoked at their CRMs, each best effort (an outage must not keep a deleted
 * workspace's data: the rows go regardless).
 */
async function revokeWorkspaceSecrets(app: App, workspaceId: string): Promise<void> {
  for (const page of await repo.listPages(app.db, workspaceId)) {
    if (page.token_envelope === null) continue;
    try {
      await app.graph.unsubscribePageFromApp(page.page_id, app.keyRing.decrypt(page.token_envelope, pageTokenAad(page.page_id)));
    } catch (err) {
      app.logger.warn({ workspaceId, pageId: page.page_id, err: errorSummary(err) }, 'workspace purge: could not uninstall the app from a page');
    }
  }
  for (const dest of await repo.listDestinations(app.db, workspaceId)) {
    const revocation = await revokeDestinationCredentials(app, dest);
    if (revocation.status === 'failed')
      app.logger.warn({ workspaceId, destinationId: dest.id, reason: revocation.reason }, 'workspace purge: credentials not revoked');
    app.connectorMemories.forget(dest.type, dest.id);
  }
}

/** The hard delete of one workspace whose grace period has ended; false when it was not due (restored meanwhile, or gone). */
export async function purgeWorkspace(app: App, workspaceId: string, now = new Date()): Promise<boolean> {
  const ws = await repo.findWorkspace(app.db, workspaceId);
  if (!ws?.purge_after || new Date(ws.purge_after) > now) return false;
  await revokeWorkspaceSecrets(app, ws.id);
  const deleted = await deletion.purgeWorkspaceRows(app.db, ws.id, now);
  if (!deleted) return false;
  const rows = Object.values(deleted).reduce((a, b) => a + b, 0);
  await writeAudit(app.db, {
    workspaceId: null,
    actor: { type: 'system', id: null, label: 'LeadRelay (workspace deletion)' },
    action: 'workspace.purged',
    target: { type: 'workspace', id: ws.id },
    details: { rows_deleted: rows, deletion_requested_at: ws.deletion_requested_at ? new Date(ws.deletion_requested_at).toISOString() : null },
  });
  app.logger.info({ workspaceId: ws.id, rows }, 'deleted workspace purged with every row it owned');
  return true;
}

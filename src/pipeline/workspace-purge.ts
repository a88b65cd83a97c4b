// The hard delete of deleted workspaces, from the maintenance loop: once a workspace's grace
// period (WORKSPACE_DELETION_GRACE_DAYS) has ended, it goes with every row and secret it owns
// (src/services/workspace-lifecycle.ts). One process at a time, under its own lease, which
// outlasts the maintenance tick (a large workspace takes longer than a sweep); a workspace
// restored meanwhile is left alone.
import type { App } from '../app.js';
import { purgeWorkspace } from '../services/workspace-lifecycle.js';
import { tryTakeLease } from '../store/leases.js';
import { listWorkspacesDueForPurge } from '../store/workspace-deletion.js';
import { errorSummary } from '../util/error-summary.js';
import { processHolderId } from '../util/process-id.js';

const PURGE_LEASE = 'workspace-purge';
const PURGE_LEASE_MS = 10 * 60_000;
/** Workspaces purged per run; the next tick takes the rest. */
const PURGE_BATCH = 5;

/** Purges the workspaces due now; returns how many went. Cheap when none is due (one indexed query). */
export async function purgeDueWorkspaces(app: App, now = new Date()): Promise<number> {
  const due = await listWorkspacesDueForPurge(app.db, now, PURGE_BATCH);
  if (due.length === 0) return 0;
  if (!(await tryTakeLease(app.db, PURGE_LEASE, processHolderId, PURGE_LEASE_MS))) return 0;
  let purged = 0;
  for (const { id } of due) {
    try {
      if (await purgeWorkspace(app, id, now)) purged++;
    } catch (err) {
      app.logger.error({ workspaceId: id, err: errorSummary(err) }, 'workspace purge failed; it is tried again on the next run');
    }
  }
  return purged;
}

// The audit log: who did what to which target, when and from where. Append-only: the table's
// trigger refuses updates and deletes, except the 24-month purge below. Details never hold
// secrets or lead answers; callers pass ids and names only.
import { sql } from 'kysely';
import type { Db } from '../store/db.js';
import type { ActorType, AuditEntry } from '../store/schema.js';
import { json } from '../store/values.js';

export interface AuditActor {
  type: ActorType;
  id: string | null;
  label: string | null;
}

export interface AuditRecord {
  workspaceId: string | null;
  actor: AuditActor;
  action: string;
  target?: { type: string; id: string | null };
  ip?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown>;
}

export const AUDIT_RETENTION_MONTHS = 24;

export async function writeAudit(db: Db, r: AuditRecord): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      workspace_id: r.workspaceId,
      actor_type: r.actor.type,
      actor_id: r.actor.id,
      actor_label: r.actor.label,
      action: r.action,
      target_type: r.target?.type ?? null,
      target_id: r.target?.id ?? null,
      ip: r.ip ?? null,
      user_agent: r.userAgent?.slice(0, 300) ?? null,
      details: r.details ? json(r.details) : null,
    })
    .execute();
}

/**
 * Whose entries: a workspace's, or a person's own account-level ones (signing in, MFA, password:
 * the entries of no workspace that they wrote or that are about them).
 */
export type AuditScope = { workspaceId: string } | { userId: string };

export interface AuditFilter {
  scope: AuditScope;
  action?: string;
  actorId?: string;
  targetId?: string;
  since?: Date;
  until?: Date;
  /** Entries with ids below this one (the cursor). */
  beforeId?: number;
  limit: number;
}

/** A LIKE pattern matching `s` literally (its % and _ are not wildcards). */
const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function listAudit(db: Db, f: AuditFilter): Promise<AuditEntry[]> {
  let q = db.selectFrom('audit_log').selectAll();
  if ('workspaceId' in f.scope) q = q.where('workspace_id', '=', f.scope.workspaceId);
  else {
    const { userId } = f.scope;
    q = q.where('workspace_id', 'is', null).where((eb) => eb.or([eb('actor_id', '=', userId), eb('target_id', '=', userId)]));
  }
  if (f.action) q = f.action.endsWith('*') ? q.where('action', 'like', `${escapeLike(f.action.slice(0, -1))}%`) : q.where('action', '=', f.action);
  if (f.actorId) q = q.where('actor_id', '=', f.actorId);
  if (f.targetId) q = q.where('target_id', '=', f.targetId);
  if (f.since) q = q.where('at', '>=', f.since);
  if (f.until) q = q.where('at', '<', f.until);
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  return q.orderBy('id', 'desc').limit(f.limit).execute();
}

/** Deletes entries older than 24 months (the only delete the table's trigger lets through). */
export async function purgeOldAudit(db: Db): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await sql`select set_config('leadrelay.audit_purge', 'on', true)`.execute(trx);
    const r = await sql`delete from audit_log where at < now() - make_interval(months => ${AUDIT_RETENTION_MONTHS})`.execute(trx);
    return Number(r.numAffectedRows ?? 0);
  });
}

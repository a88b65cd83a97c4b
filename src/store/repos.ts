// Repositories: a function per query, scoped by workspace where one is known (the rest of the
// SQL: key-rotation.ts, leases.ts, recent-records.ts, advisory-locks.ts). Secrets and lead
// answers arrive here already encrypted (src/pipeline/lead-record.ts). This file holds the
// configuration (workspaces, pages, destinations, routes, forms); leadgen-events.ts, leads.ts and
// deliveries.ts the flow of a lead (events, leads, deliveries, attempts, claims), re-exported here
// so callers import one module.
import { sql } from 'kysely';
import type { Db } from './db.js';
import { isUuid, json, storableText } from './values.js';
import type { Destination, Page, Route, Workspace } from './schema.js';

// ---------- workspaces ----------
export async function createWorkspace(db: Db, name: string, leadRetentionDays?: number): Promise<Workspace> {
  return db
    .insertInto('workspaces')
    .values({ name, ...(leadRetentionDays ? { lead_retention_days: leadRetentionDays } : {}) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findWorkspace(db: Db, id: string): Promise<Workspace | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listWorkspaces(db: Db): Promise<Workspace[]> {
  return db.selectFrom('workspaces').selectAll().orderBy('created_at').execute();
}

/** Changes what is given of a workspace's settings; undefined for an unknown id. */
export async function updateWorkspace(
  db: Db,
  id: string,
  set: { name?: string; lead_retention_days?: number; require_mfa?: boolean },
): Promise<Workspace | undefined> {
  if (!isUuid(id)) return undefined;
  return db.updateTable('workspaces').set(set).where('id', '=', id).returningAll().executeTakeFirst();
}

// ---------- pages ----------
/** `connectedFbUserId`: the Facebook user whose login gave the token (Connect Facebook); null for a token given by hand. */
export async function upsertPage(
  db: Db,
  p: { workspaceId: string; pageId: string; name: string | null; tokenEnvelope: string; connectedFbUserId?: string | null },
): Promise<Page> {
  const connectedFbUserId = p.connectedFbUserId ?? null;
  return db
    .insertInto('pages')
    .values({ workspace_id: p.workspaceId, page_id: p.pageId, name: p.name, token_envelope: p.tokenEnvelope, connected_fb_user_id: connectedFbUserId })
    .onConflict((oc) =>
      oc
        .column('page_id')
        .doUpdateSet({
          token_envelope: p.tokenEnvelope,
          connected_fb_user_id: connectedFbUserId,
          name: sql`coalesce(excluded.name, pages.name)`,
          status: 'active',
          status_reason: null,
          updated_at: sql`now()`,
        })
        .where('pages.workspace_id', '=', p.workspaceId),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findPageByPageId(db: Db, pageId: string): Promise<Page | undefined> {
  return db.selectFrom('pages').selectAll().where('page_id', '=', pageId).executeTakeFirst();
}

export async function setPageStatus(db: Db, pageId: string, status: Page['status'], reason: string | null): Promise<void> {
  await db.updateTable('pages').set({ status, status_reason: reason, updated_at: sql`now()` }).where('page_id', '=', pageId).execute();
}

export async function listPages(db: Db, workspaceId?: string): Promise<Page[]> {
  let q = db.selectFrom('pages').selectAll();
  if (workspaceId) q = q.where('workspace_id', '=', workspaceId);
  return q.orderBy('created_at').execute();
}

// ---------- destinations ----------
export async function createDestination(
  db: Db,
  d: { workspaceId: string; type: string; name: string; config: Record<string, unknown>; credentialsEnvelope: string | null },
): Promise<Destination> {
  return db
    .insertInto('destinations')
    .values({ workspace_id: d.workspaceId, type: d.type, name: d.name, config: json(d.config), credentials_envelope: d.credentialsEnvelope })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findDestination(db: Db, id: string): Promise<Destination | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('destinations').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listDestinations(db: Db, workspaceId?: string): Promise<Destination[]> {
  let q = db.selectFrom('destinations').selectAll();
  if (workspaceId) q = q.where('workspace_id', '=', workspaceId);
  return q.orderBy('created_at').execute();
}

export async function updateDestinationCredentials(db: Db, id: string, envelope: string, reactivate: boolean): Promise<void> {
  await db
    .updateTable('destinations')
    .set({
      credentials_envelope: envelope,
      updated_at: sql`now()`,
      ...(reactivate ? { status: 'active' as const, status_reason: null } : {}),
    })
    .where('id', '=', id)
    .execute();
}

/** Replaces a destination's (non-secret) config, e.g. a webhook's new URL. */
export async function updateDestinationConfig(db: Db, id: string, config: Record<string, unknown>): Promise<void> {
  await db
    .updateTable('destinations')
    .set({ config: json(config), updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function setDestinationStatus(db: Db, id: string, status: Destination['status'], reason: string | null): Promise<void> {
  await db
    .updateTable('destinations')
    .set({ status, status_reason: storableText(reason), updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

/**
 * Sets the destination to need re-authorisation only while it still holds one of these
 * credentials (those its CRM may have refused): credentials a re-authorisation put in meanwhile
 * are not undone. Returns whether it was set.
 */
export async function setDestinationNeedsReauthFor(db: Db, id: string, refusedEnvelopes: (string | null)[], reason: string): Promise<boolean> {
  const envelopes = refusedEnvelopes.filter((e): e is string => e !== null);
  const r = await db
    .updateTable('destinations')
    .set({ status: 'needs_reauth', status_reason: storableText(reason), updated_at: sql`now()` })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([
        ...(envelopes.length > 0 ? [eb('credentials_envelope', 'in', envelopes)] : []),
        ...(refusedEnvelopes.includes(null) ? [eb('credentials_envelope', 'is', null)] : []),
      ]),
    )
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function setDestinationRateLimit(db: Db, id: string, until: Date | null): Promise<void> {
  await db.updateTable('destinations').set({ rate_limited_until: until }).where('id', '=', id).execute();
}

// ---------- routes ----------
export async function createRoute(
  db: Db,
  r: { workspaceId: string; pageId: string; formId: string | null; destinationId: string; mapping?: unknown; filter?: unknown },
): Promise<Route> {
  return db
    .insertInto('routes')
    .values({
      workspace_id: r.workspaceId,
      page_id: r.pageId,
      form_id: r.formId,
      destination_id: r.destinationId,
      mapping: r.mapping === undefined ? null : json(r.mapping),
      filter: r.filter === undefined ? null : json(r.filter),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findRoute(db: Db, id: string): Promise<Route | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('routes').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Enabled routes of a workspace's page that take this form (routes without a form take every form). */
export async function findRoutesFor(db: Db, workspaceId: string, pageId: string, formId: string | null): Promise<Route[]> {
  return db
    .selectFrom('routes')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('page_id', '=', pageId)
    .where('is_enabled', '=', true)
    .where((eb) => (formId === null ? eb('form_id', 'is', null) : eb.or([eb('form_id', 'is', null), eb('form_id', '=', formId)])))
    .orderBy('created_at')
    .execute();
}

export async function listRoutes(db: Db, workspaceId?: string): Promise<Route[]> {
  let q = db.selectFrom('routes').selectAll();
  if (workspaceId) q = q.where('workspace_id', '=', workspaceId);
  return q.orderBy('created_at').execute();
}

/** What a route update may change; undefined leaves a column as it is, null clears it. */
export interface RouteUpdate {
  mapping?: unknown;
  filter?: unknown;
  formQuestions?: unknown;
  drift?: unknown;
  isEnabled?: boolean;
}

function routeUpdateValues(set: RouteUpdate): Record<string, unknown> {
  const values: Record<string, unknown> = { updated_at: sql`now()` };
  if (set.mapping !== undefined) values.mapping = set.mapping === null ? null : json(set.mapping);
  if (set.filter !== undefined) values.filter = set.filter === null ? null : json(set.filter);
  if (set.formQuestions !== undefined) values.form_questions = set.formQuestions === null ? null : json(set.formQuestions);
  if (set.drift !== undefined) values.drift = set.drift === null ? null : json(set.drift);
  if (set.isEnabled !== undefined) values.is_enabled = set.isEnabled;
  return values;
}

export async function updateRoute(db: Db, id: string, set: RouteUpdate): Promise<void> {
  await db.updateTable('routes').set(routeUpdateValues(set)).where('id', '=', id).execute();
}

const toJsonb = (value: unknown) => sql`cast(${JSON.stringify(value)} as jsonb)`;

/**
 * Updates the route only if its mapping and form baseline are still the ones the caller read
 * (`seen`): a `mappings set` that ran meanwhile must not be undone by a verdict about the old
 * ones. True when the row was updated.
 */
export async function updateRouteIfUnchanged(db: Db, seen: Pick<Route, 'id' | 'mapping' | 'form_questions'>, set: RouteUpdate): Promise<boolean> {
  const result = await db
    .updateTable('routes')
    .set(routeUpdateValues(set))
    .where('id', '=', seen.id)
    .where(seen.form_questions === null ? sql<boolean>`form_questions is null` : sql<boolean>`form_questions = ${toJsonb(seen.form_questions)}`)
    .where(seen.mapping === null ? sql<boolean>`mapping is null` : sql<boolean>`mapping = ${toJsonb(seen.mapping)}`)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Enabled routes that name a form (optionally of one workspace, or just one route), oldest first: what the drift check reads. */
export async function listEnabledFormRoutes(db: Db, only: { workspaceId?: string; routeId?: string } = {}): Promise<(Route & { form_id: string })[]> {
  if (only.routeId && !isUuid(only.routeId)) return [];
  let q = db.selectFrom('routes').selectAll().where('is_enabled', '=', true).where('form_id', 'is not', null);
  if (only.workspaceId) q = q.where('workspace_id', '=', only.workspaceId);
  if (only.routeId) q = q.where('id', '=', only.routeId);
  return (await q.orderBy('created_at').execute()) as (Route & { form_id: string })[];
}

// ---------- forms ----------
/** The form's name and questions as stored, or undefined when it was never stored. */
export async function findStoredForm(db: Db, workspaceId: string, formId: string): Promise<{ name: string | null; questions: unknown } | undefined> {
  return db.selectFrom('forms').select(['name', 'questions']).where('workspace_id', '=', workspaceId).where('form_id', '=', formId).executeTakeFirst();
}

export async function upsertForm(db: Db, f: { workspaceId: string; formId: string; pageId: string; name: string | null; questions: unknown }): Promise<void> {
  await db
    .insertInto('forms')
    .values({ workspace_id: f.workspaceId, form_id: f.formId, page_id: f.pageId, name: f.name, questions: json(f.questions) })
    .onConflict((oc) => oc.columns(['workspace_id', 'form_id']).doUpdateSet({ name: f.name, questions: json(f.questions), fetched_at: sql`now()` }))
    .execute();
}

/** Every form of a page whose questions were kept (a lead of it was fetched). */
export async function listPageForms(db: Db, workspaceId: string, pageId: string): Promise<{ form_id: string; name: string | null; questions: unknown }[]> {
  return db
    .selectFrom('forms')
    .select(['form_id', 'name', 'questions'])
    .where('workspace_id', '=', workspaceId)
    .where('page_id', '=', pageId)
    .orderBy('form_id')
    .execute();
}

/** The form's last known questions (labels, types, options), or null when never fetched. */
/** Every form of a workspace the fetch step has seen, by name. */
export async function listWorkspaceForms(db: Db, workspaceId: string): Promise<{ form_id: string; page_id: string; name: string | null }[]> {
  return db.selectFrom('forms').select(['form_id', 'page_id', 'name']).where('workspace_id', '=', workspaceId).orderBy('name').orderBy('form_id').execute();
}

export async function findFormQuestions(db: Db, workspaceId: string, formId: string | null): Promise<unknown[] | null> {
  if (!formId) return null;
  const row = await db.selectFrom('forms').select('questions').where('workspace_id', '=', workspaceId).where('form_id', '=', formId).executeTakeFirst();
  return Array.isArray(row?.questions) ? (row!.questions as unknown[]) : null;
}

export * from './deliveries.js';
export * from './config-version.js';
export * from './leadgen-events.js';
export * from './leads.js';
export * from './fetched-leads.js';
export * from './delivered-outcomes.js';
export { isUuid, json } from './values.js';

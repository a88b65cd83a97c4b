// The queries of data-subject requests (src/services/data-requests.ts) and of the exports that
// carry leads out (src/services/lead-export.ts): a person's leads by their blind-index hashes,
// leads of a workspace the index has not reached, an answers envelope replaced only while it is
// the one read, and the stored CRM messages of a lead rewritten.
import type { NotNull } from 'kysely';
import type { Db } from './db.js';
import type { DeliveryAttempt, Lead, SearchKind } from './schema.js';

/** A workspace's leads holding answers without index rows under any of `kids` (never indexed, or under a key since removed), by id after `afterId`. */
export async function listWorkspaceLeadsToIndex(db: Db, workspaceId: string, kids: string[], afterId: string, limit: number) {
  return db
    .selectFrom('leads')
    .select(['id', 'workspace_id', 'leadgen_id', 'form_id', 'answers_envelope'])
    .where('workspace_id', '=', workspaceId)
    .where('answers_envelope', 'is not', null)
    .$narrowType<{ answers_envelope: NotNull }>()
    .where((eb) => eb.or([eb('search_kid', 'is', null), eb('search_kid', 'not in', kids)]))
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** The workspace's leads with a blind-index row of this kind and one of these hashes, oldest first. */
export async function findLeadsBySearchHashes(db: Db, workspaceId: string, kind: SearchKind, hashes: string[]): Promise<Lead[]> {
  if (hashes.length === 0) return [];
  return db
    .selectFrom('leads')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where(
      'id',
      'in',
      db.selectFrom('lead_search').select('lead_id').where('workspace_id', '=', workspaceId).where('kind', '=', kind).where('hash', 'in', hashes),
    )
    .orderBy('received_at')
    .orderBy('id')
    .execute();
}

/** Replaces a lead's answers envelope only while it still holds `previous` (a rotation or another change in between wins). */
export async function replaceLeadAnswersIfUnchanged(db: Db, leadId: string, previous: string, next: string): Promise<boolean> {
  const r = await db.updateTable('leads').set({ answers_envelope: next }).where('id', '=', leadId).where('answers_envelope', '=', previous).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Rewrites every stored CRM message and response body of a lead's deliveries and attempts with `rewrite` (rows whose text it leaves alone are not written). */
export async function rewriteStoredMessagesOfLead(db: Db, leadId: string, rewrite: (text: string | null) => string | null): Promise<void> {
  const deliveries = await db.selectFrom('deliveries').select(['id', 'last_error_message']).where('lead_id', '=', leadId).execute();
  for (const d of deliveries) {
    const message = rewrite(d.last_error_message);
    if (message !== d.last_error_message) await db.updateTable('deliveries').set({ last_error_message: message }).where('id', '=', d.id).execute();
  }
  if (deliveries.length === 0) return;
  const attempts = await db
    .selectFrom('delivery_attempts')
    .select(['id', 'message', 'response_body'])
    .where(
      'delivery_id',
      'in',
      deliveries.map((d) => d.id),
    )
    .execute();
  for (const a of attempts) {
    const message = rewrite(a.message);
    const body = rewrite(a.response_body);
    if (message !== a.message || body !== a.response_body)
      await db.updateTable('delivery_attempts').set({ message, response_body: body }).where('id', '=', a.id).execute();
  }
}

/** Every attempt of these deliveries, by delivery and attempt number. */
export async function listAttemptsOfDeliveries(db: Db, deliveryIds: string[]): Promise<DeliveryAttempt[]> {
  if (deliveryIds.length === 0) return [];
  return db.selectFrom('delivery_attempts').selectAll().where('delivery_id', 'in', deliveryIds).orderBy('delivery_id').orderBy('attempt').execute();
}

/** The stored questions of each form of the workspace. */
export async function listFormQuestionsOfWorkspace(db: Db, workspaceId: string): Promise<{ form_id: string; questions: unknown }[]> {
  return db.selectFrom('forms').select(['form_id', 'questions']).where('workspace_id', '=', workspaceId).execute();
}

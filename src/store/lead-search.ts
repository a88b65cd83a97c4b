// The blind index's rows (src/lead/blind-index.ts makes the hashes). A lead's rows are replaced
// as a whole, together with leads.search_kid, the key they were made under.
import type { NotNull } from 'kysely';
import type { Db } from './db.js';
import type { SearchKind } from './schema.js';

/**
 * Replaces a lead's index rows and records the key they were made under, only while the lead
 * still holds the answers they were made from (`envelope`): a lead erased (or its answers
 * replaced) in the meantime keeps no rows of its old answers. Call inside a transaction when
 * the lead row was written in it; returns whether the rows were written.
 */
export async function replaceLeadSearch(
  db: Db,
  lead: { id: string; workspaceId: string; envelope: string },
  kid: string,
  rows: { kind: SearchKind; hash: string }[],
): Promise<boolean> {
  const run = async (trx: Db) => {
    const current = await trx.selectFrom('leads').select('answers_envelope').where('id', '=', lead.id).forUpdate().executeTakeFirst();
    if (!current || current.answers_envelope !== lead.envelope) return false;
    await trx.deleteFrom('lead_search').where('lead_id', '=', lead.id).execute();
    if (rows.length > 0)
      await trx
        .insertInto('lead_search')
        .values(rows.map((r) => ({ lead_id: lead.id, workspace_id: lead.workspaceId, kind: r.kind, hash: r.hash })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    await trx.updateTable('leads').set({ search_kid: kid }).where('id', '=', lead.id).execute();
    return true;
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** The next `limit` leads holding answers not indexed under `kid` (never indexed, or under another key), by id after `afterId` (keyset paging). */
export async function listLeadsToIndex(db: Db, kid: string, afterId: string, limit: number) {
  return db
    .selectFrom('leads')
    .select(['id', 'workspace_id', 'leadgen_id', 'form_id', 'answers_envelope'])
    .where('answers_envelope', 'is not', null)
    .$narrowType<{ answers_envelope: NotNull }>()
    .where((eb) => eb.or([eb('search_kid', 'is', null), eb('search_kid', '!=', kid)]))
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
}

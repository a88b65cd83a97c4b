// Keeping the blind index (src/lead/blind-index.ts) in step with the leads:
// - a lead is indexed when it is fetched, in the statement (or transaction) that stores it;
// - the index key is derived from the key ring's first key, so after a rotation (a new first key)
//   the rows are re-made: `keys rotate` re-indexes every lead, and the maintenance loop does it
//   in batches for leads stored before the index existed. Meanwhile searches hash the query under
//   every key of the ring, so nothing goes missing between a restart with a new key and the rotation;
// - the retention purge deletes the rows with the answers (src/store/leads.ts).
import type { App } from '../app.js';
import type { KeyRing } from '../crypto/key-ring.js';
import { hashSearchTerm, SEARCH_KEY_PURPOSE, type SearchTerm, searchTermsOf } from '../lead/blind-index.js';
import type { Db } from '../store/db.js';
import { listLeadsToIndex, replaceLeadSearch } from '../store/lead-search.js';
import * as repo from '../store/repos.js';
import { type LeadAnswers, leadAad } from './lead-record.js';

/** Question key → Meta question type, from a form's stored questions. */
export function questionTypesOf(questions: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (Array.isArray(questions))
    for (const q of questions as { key?: unknown; type?: unknown }[]) if (typeof q?.key === 'string' && typeof q.type === 'string') out.set(q.key, q.type);
  return out;
}

/** Indexes a lead just stored, from the answers it was stored with. `db` is the transaction that stored it. */
export async function indexFetchedLead(
  db: Db,
  keyRing: KeyRing,
  lead: { id: string; workspace_id: string; answers_envelope: string | null; search_kid: string | null },
  answers: LeadAnswers['answers'],
  questionTypes: ReadonlyMap<string, string>,
): Promise<void> {
  // A repeat of the fetch finds the lead stored (and indexed) already; an erased lead keeps no rows.
  if (lead.answers_envelope === null || lead.search_kid === keyRing.primaryKid) return;
  const rows = searchRowsOf(keyRing, lead.workspace_id, answers, questionTypes);
  await replaceLeadSearch(db, { id: lead.id, workspaceId: lead.workspace_id, envelope: lead.answers_envelope }, keyRing.primaryKid, rows);
}

/** A lead's blind-index rows under the ring's first key (its kid goes to leads.search_kid). */
export function searchRowsOf(
  keyRing: KeyRing,
  workspaceId: string,
  answers: LeadAnswers['answers'],
  questionTypes: ReadonlyMap<string, string>,
): { kind: SearchTerm['kind']; hash: string }[] {
  const key = keyRing.deriveKey(SEARCH_KEY_PURPOSE);
  return searchTermsOf(answers, questionTypes).map((t) => ({ kind: t.kind, hash: hashSearchTerm(key, workspaceId, t) }));
}

/** The hashes a search for `term` in a workspace looks for: one per key of the ring. */
export function searchHashesOf(keyRing: KeyRing, workspaceId: string, term: SearchTerm): string[] {
  return keyRing.kids.map((kid) => hashSearchTerm(keyRing.deriveKey(SEARCH_KEY_PURPOSE, kid), workspaceId, term));
}

const BATCH = 500;

export interface ReindexResult {
  indexed: number;
  /** Leads whose answers could not be decrypted (their key is no longer in the ring). */
  failed: number;
}

/**
 * Indexes under the first key every lead holding answers that is not (never indexed, or under
 * an older key), until `max` are indexed (leads that do not decrypt are passed over, not counted).
 * Decrypts each such lead's answers once, in memory.
 */
export async function reindexLeads(app: App, opts: { max?: number; onProgress?: (done: number) => void } = {}): Promise<ReindexResult> {
  const { db, keyRing } = app;
  const kid = keyRing.primaryKid;
  const key = keyRing.deriveKey(SEARCH_KEY_PURPOSE);
  const max = opts.max ?? Number.POSITIVE_INFINITY;
  const questionsByForm = new Map<string, Map<string, string>>();
  const result: ReindexResult = { indexed: 0, failed: 0 };
  let lastId = '00000000-0000-0000-0000-000000000000';
  let done = 0;
  while (result.indexed < max) {
    const batch = await listLeadsToIndex(db, kid, lastId, Math.min(BATCH, max - result.indexed));
    if (batch.length === 0) break;
    for (const l of batch) {
      let answers: LeadAnswers;
      try {
        answers = keyRing.decryptJson<LeadAnswers>(l.answers_envelope, leadAad(l.workspace_id, l.leadgen_id));
      } catch {
        // Counted, not logged one by one: callers say it once (keys rotate fails, the maintenance run warns).
        result.failed++;
        continue;
      }
      const formKey = `${l.workspace_id}:${l.form_id ?? ''}`;
      let types = questionsByForm.get(formKey);
      if (!types) {
        types = questionTypesOf(await repo.findFormQuestions(db, l.workspace_id, l.form_id));
        questionsByForm.set(formKey, types);
      }
      const rows = searchTermsOf(answers.answers, types).map((t) => ({ kind: t.kind, hash: hashSearchTerm(key, l.workspace_id, t) }));
      if (await replaceLeadSearch(db, { id: l.id, workspaceId: l.workspace_id, envelope: l.answers_envelope }, kid, rows)) result.indexed++;
    }
    done += batch.length;
    lastId = batch[batch.length - 1]!.id;
    opts.onProgress?.(done);
  }
  return result;
}

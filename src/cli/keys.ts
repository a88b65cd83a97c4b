// `leadrelay keys rotate`: re-encrypts every secret and every lead's answers under the first key.
import type { App } from '../app.js';
import { destinationAad, leadAad, pageTokenAad } from '../pipeline/lead-record.js';

export interface RotateResult {
  pages: number;
  destinations: number;
  leads: number;
  alreadyCurrent: number;
}

export async function rotateKeys(app: App, onProgress?: (done: number, total: number) => void): Promise<RotateResult> {
  const { db, keyRing } = app;
  const result: RotateResult = { pages: 0, destinations: 0, leads: 0, alreadyCurrent: 0 };
  const pages = await db.selectFrom('pages').select(['id', 'page_id', 'token_envelope']).execute();
  for (const p of pages) {
    if (!keyRing.needsRotation(p.token_envelope)) { result.alreadyCurrent++; continue; }
    await db.updateTable('pages').set({ token_envelope: keyRing.reencrypt(p.token_envelope, pageTokenAad(p.page_id)) }).where('id', '=', p.id).execute();
    result.pages++;
  }
  const dests = await db.selectFrom('destinations').select(['id', 'credentials_envelope']).where('credentials_envelope', 'is not', null).execute();
  for (const d of dests) {
    if (!keyRing.needsRotation(d.credentials_envelope!)) { result.alreadyCurrent++; continue; }
    // Only if unchanged: a worker may have just stored refreshed tokens, which must not be undone.
    await db
      .updateTable('destinations')
      .set({ credentials_envelope: keyRing.reencrypt(d.credentials_envelope!, destinationAad(d.id)) })
      .where('id', '=', d.id)
      .where('credentials_envelope', '=', d.credentials_envelope!)
      .execute();
    result.destinations++;
  }
  const total = Number((await db.selectFrom('leads').select((eb) => eb.fn.countAll<number>().as('n')).where('answers_envelope', 'is not', null).executeTakeFirstOrThrow()).n);
  let done = 0;
  let lastId = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const batch = await db
      .selectFrom('leads')
      .select(['id', 'workspace_id', 'leadgen_id', 'answers_envelope'])
      .where('answers_envelope', 'is not', null)
      .where('id', '>', lastId)
      .orderBy('id')
      .limit(500)
      .execute();
    if (batch.length === 0) break;
    for (const l of batch) {
      if (keyRing.needsRotation(l.answers_envelope!)) {
        await db.updateTable('leads').set({ answers_envelope: keyRing.reencrypt(l.answers_envelope!, leadAad(l.workspace_id, l.leadgen_id)) }).where('id', '=', l.id).execute();
        result.leads++;
      } else result.alreadyCurrent++;
    }
    done += batch.length;
    lastId = batch[batch.length - 1].id;
    onProgress?.(done, total);
  }
  return result;
}

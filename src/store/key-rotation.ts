// The queries of `leadrelay keys rotate`: every envelope at rest (page tokens, destination
// credentials, users' TOTP secrets, Facebook user tokens, lead answers; alert channels' settings
// are in src/store/alerts.ts) read with the ids its additional data is built from, and written
// back re-encrypted. The rotation itself (which key, which AAD) is src/cli/keys.ts's.
import type { NotNull } from 'kysely';
import type { Db } from './db.js';

/** Pages that hold a token (a disconnected page's was deleted). */
export async function listPageTokenEnvelopes(db: Db): Promise<{ id: string; page_id: string; token_envelope: string }[]> {
  return db
    .selectFrom('pages')
    .select(['id', 'page_id', 'token_envelope'])
    .where('token_envelope', 'is not', null)
    .$narrowType<{ token_envelope: NotNull }>()
    .execute();
}

export async function setPageTokenEnvelope(db: Db, id: string, envelope: string): Promise<void> {
  // Not onto a page disconnected meanwhile: its token stays deleted.
  await db.updateTable('pages').set({ token_envelope: envelope }).where('id', '=', id).where('token_envelope', 'is not', null).execute();
}

/** Destinations that hold credentials. */
export async function listCredentialEnvelopes(db: Db): Promise<{ id: string; credentials_envelope: string }[]> {
  return db
    .selectFrom('destinations')
    .select(['id', 'credentials_envelope'])
    .where('credentials_envelope', 'is not', null)
    .$narrowType<{ credentials_envelope: NotNull }>()
    .execute();
}

/** Replaces a destination's credentials envelope only if it is still `seen`: a worker may have just stored refreshed tokens, which must not be undone. */
export async function replaceCredentialEnvelopeIfUnchanged(db: Db, id: string, seen: string, envelope: string): Promise<void> {
  await db.updateTable('destinations').set({ credentials_envelope: envelope }).where('id', '=', id).where('credentials_envelope', '=', seen).execute();
}

/** How many leads still hold answers (the erased ones hold none). */
export async function countLeadAnswerEnvelopes(db: Db): Promise<number> {
  const row = await db
    .selectFrom('leads')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('answers_envelope', 'is not', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The next `limit` leads holding answers, by id after `afterId` (keyset paging). */
export async function listLeadAnswerEnvelopes(
  db: Db,
  afterId: string,
  limit: number,
): Promise<{ id: string; workspace_id: string; leadgen_id: string; answers_envelope: string }[]> {
  return db
    .selectFrom('leads')
    .select(['id', 'workspace_id', 'leadgen_id', 'answers_envelope'])
    .where('answers_envelope', 'is not', null)
    .$narrowType<{ answers_envelope: NotNull }>()
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function setLeadAnswersEnvelope(db: Db, id: string, envelope: string): Promise<void> {
  await db.updateTable('leads').set({ answers_envelope: envelope }).where('id', '=', id).execute();
}

/** Users with a TOTP secret (enrolled, or enrolment started). */
export async function listTotpEnvelopes(db: Db): Promise<{ id: string; totp_secret_envelope: string }[]> {
  return db
    .selectFrom('users')
    .select(['id', 'totp_secret_envelope'])
    .where('totp_secret_envelope', 'is not', null)
    .$narrowType<{ totp_secret_envelope: NotNull }>()
    .execute();
}

/** Replaces a TOTP envelope only if it is still `seen` (the user may have just enrolled again). */
export async function replaceTotpEnvelopeIfUnchanged(db: Db, id: string, seen: string, envelope: string): Promise<void> {
  await db.updateTable('users').set({ totp_secret_envelope: envelope }).where('id', '=', id).where('totp_secret_envelope', '=', seen).execute();
}

/** Every stored Facebook user token (Connect Facebook). */
export async function listFacebookTokenEnvelopes(db: Db): Promise<{ id: string; token_envelope: string }[]> {
  return db.selectFrom('facebook_connections').select(['id', 'token_envelope']).execute();
}

/** Replaces a Facebook token envelope only if it is still `seen` (a new login may have just replaced it). */
export async function replaceFacebookTokenEnvelopeIfUnchanged(db: Db, id: string, seen: string, envelope: string): Promise<void> {
  await db.updateTable('facebook_connections').set({ token_envelope: envelope }).where('id', '=', id).where('token_envelope', '=', seen).execute();
}

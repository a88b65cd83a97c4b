// Key rotation (`leadrelay keys rotate`, and the API's background run in key-rotation.ts):
// re-encrypts every secret (page tokens, destination credentials, TOTP secrets, Facebook user
// tokens, alert channels' addresses and secrets) and every lead's answers under the first key, then re-makes the search index (the keyed hashes of leads' emails and phones, src/lead/blind-index.ts) under the
// first key, so the old key can be removed without losing search.
import type { App } from '../app.js';
import { totpAad } from '../accounts/totp.js';
import { alertChannelAad } from '../alerts/channels.js';
import { facebookConnectionAad } from '../meta/facebook-login.js';
import { destinationAad, leadAad, pageTokenAad } from '../pipeline/lead-record.js';
import { reindexLeads } from '../pipeline/lead-search-index.js';
import { listAlertChannelEnvelopes, replaceAlertChannelEnvelopeIfUnchanged } from '../store/alerts.js';
import * as rotation from '../store/key-rotation.js';

export interface RotateResult {
  pages: number;
  destinations: number;
  totpSecrets: number;
  facebookTokens: number;
  alertChannels: number;
  leads: number;
  alreadyCurrent: number;
  /** Leads whose search index was re-made under the first key. */
  searchIndexed: number;
}

const LEAD_BATCH = 500;

export async function rotateKeys(app: App, onProgress?: (done: number, total: number) => void): Promise<RotateResult> {
  const { db, keyRing } = app;
  const result: RotateResult = {
    pages: 0,
    destinations: 0,
    totpSecrets: 0,
    facebookTokens: 0,
    alertChannels: 0,
    leads: 0,
    alreadyCurrent: 0,
    searchIndexed: 0,
  };
  for (const p of await rotation.listPageTokenEnvelopes(db)) {
    if (!keyRing.needsRotation(p.token_envelope)) {
      result.alreadyCurrent++;
      continue;
    }
    await rotation.setPageTokenEnvelope(db, p.id, keyRing.reencrypt(p.token_envelope, pageTokenAad(p.page_id)));
    result.pages++;
  }
  for (const d of await rotation.listCredentialEnvelopes(db)) {
    if (!keyRing.needsRotation(d.credentials_envelope)) {
      result.alreadyCurrent++;
      continue;
    }
    // Only if unchanged: a worker may have just stored refreshed tokens, which must not be undone.
    await rotation.replaceCredentialEnvelopeIfUnchanged(db, d.id, d.credentials_envelope, keyRing.reencrypt(d.credentials_envelope, destinationAad(d.id)));
    result.destinations++;
  }
  for (const u of await rotation.listTotpEnvelopes(db)) {
    if (!keyRing.needsRotation(u.totp_secret_envelope)) {
      result.alreadyCurrent++;
      continue;
    }
    await rotation.replaceTotpEnvelopeIfUnchanged(db, u.id, u.totp_secret_envelope, keyRing.reencrypt(u.totp_secret_envelope, totpAad(u.id)));
    result.totpSecrets++;
  }
  for (const c of await rotation.listFacebookTokenEnvelopes(db)) {
    if (!keyRing.needsRotation(c.token_envelope)) {
      result.alreadyCurrent++;
      continue;
    }
    await rotation.replaceFacebookTokenEnvelopeIfUnchanged(db, c.id, c.token_envelope, keyRing.reencrypt(c.token_envelope, facebookConnectionAad(c.id)));
    result.facebookTokens++;
  }
  for (const c of await listAlertChannelEnvelopes(db)) {
    if (!keyRing.needsRotation(c.settings_envelope)) {
      result.alreadyCurrent++;
      continue;
    }
    await replaceAlertChannelEnvelopeIfUnchanged(db, c.id, c.settings_envelope, keyRing.reencrypt(c.settings_envelope, alertChannelAad(c.id)));
    result.alertChannels++;
  }
  const total = await rotation.countLeadAnswerEnvelopes(db);
  let done = 0;
  let lastId = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const batch = await rotation.listLeadAnswerEnvelopes(db, lastId, LEAD_BATCH);
    if (batch.length === 0) break;
    for (const l of batch) {
      if (keyRing.needsRotation(l.answers_envelope)) {
        await rotation.setLeadAnswersEnvelope(db, l.id, keyRing.reencrypt(l.answers_envelope, leadAad(l.workspace_id, l.leadgen_id)));
        result.leads++;
      } else result.alreadyCurrent++;
    }
    done += batch.length;
    lastId = batch[batch.length - 1].id;
    onProgress?.(done, total);
  }
  const indexed = await reindexLeads(app);
  if (indexed.failed > 0) throw new Error(`${indexed.failed} lead(s) could not be indexed for search: their answers do not decrypt with any key of the ring`);
  result.searchIndexed = indexed.indexed;
  return result;
}

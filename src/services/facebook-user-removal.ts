// What Meta's deauthorize and data-deletion callbacks do (src/http/meta-callbacks.ts), for one
// app-scoped Facebook user, in every workspace:
// - deauthorize (the person removed LeadRelay in their Facebook settings): their Facebook
//   logins and tokens are deleted, the pages connected through them lose their tokens and are
//   marked disconnected (fetching stops; their webhooks are kept, parked, until the page is
//   connected again), and each workspace concerned gets an audit entry.
// - data deletion (the person asked Meta to have their data deleted): the same, plus the leads
//   tied to them (Meta test leads made with a Page token from their login: Meta's lead data
//   carries no submitter id, so other leads cannot be tied to a Facebook user), those not
//   fetched yet included (they never will be: see eraseFacebookUserLeads), and a record of the
//   request under a confirmation code, whose status page says what was erased.
// Nothing is revoked at Meta: a person who removed the app has already invalidated the tokens
// their login gave. The Facebook user id is never logged, audited or kept once its data is gone.
import { createHash, randomBytes } from 'node:crypto';
import { type AuditActor, writeAudit } from '../accounts/audit.js';
import type { App } from '../app.js';
import type { Db } from '../store/db.js';
import * as store from '../store/facebook-user-data.js';
import { SIGNED_REQUEST_MAX_AGE_MS } from '../meta/signed-request.js';

type RemovalKind = 'deauthorized' | 'data_deletion';

const META_ACTOR: AuditActor = { type: 'system', id: null, label: 'Meta (signed request)' };

/** What was removed, in counts (the status page and the callback's log show these). */
export interface FacebookUserRemoval {
  facebook_logins_deleted: number;
  pages_disconnected: number;
  leads_erased: number;
  workspaces: number;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

async function removeFacebookUser(db: Db, fbUserId: string, kind: RemovalKind, now: Date): Promise<FacebookUserRemoval> {
  const reason = kind === 'deauthorized' ? 'facebook_deauthorized' : 'facebook_data_deletion';
  const { connections, pages } = await store.deleteFacebookUserTokens(db, fbUserId, reason);
  const { erased: leads, unfetched } = kind === 'data_deletion' ? await store.eraseFacebookUserLeads(db, fbUserId, now) : { erased: [], unfetched: [] };
  const workspaces = new Set([...connections, ...pages, ...leads, ...unfetched].map((r) => r.workspace_id));
  for (const workspaceId of workspaces) {
    const own = <T extends { workspace_id: string }>(rows: T[]) => rows.filter((r) => r.workspace_id === workspaceId);
    await writeAudit(db, {
      workspaceId,
      actor: META_ACTOR,
      action: kind === 'deauthorized' ? 'facebook.deauthorized' : 'facebook.dataDeletionRequested',
      details: {
        facebook_logins_deleted: own(connections).length,
        pages_disconnected: own(pages).map((p) => p.page_id),
        ...(kind === 'data_deletion' ? { leads_erased: own(leads).length, leads_not_fetched: own(unfetched).length } : {}),
      },
    });
  }
  return { facebook_logins_deleted: connections.length, pages_disconnected: pages.length, leads_erased: leads.length, workspaces: workspaces.size };
}

/**
 * The deauthorize callback, verified: removes the person's tokens and disconnects their pages,
 * once per signed request (Meta sending it again, or a replay, changes nothing: a page connected
 * again since must not be disconnected by an old request). Null for a repeat.
 */
export async function handleDeauthorization(app: App, signedRequest: string, fbUserId: string, now = new Date()): Promise<FacebookUserRemoval | null> {
  return app.db.transaction().execute(async (trx) => {
    const isFirst = await store.claimSignedRequest(trx, sha256(signedRequest), new Date(now.getTime() + SIGNED_REQUEST_MAX_AGE_MS));
    if (!isFirst) return null;
    return removeFacebookUser(trx, fbUserId, 'deauthorized', now);
  });
}

/** A confirmation code: 16 characters of A-Z and 2-7, unguessable (the status page is public). */
function newConfirmationCode(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return [...randomBytes(16)].map((b) => alphabet[b % 32]).join('');
}

const CONFIRMATION_CODE_PATTERN = /^[A-Z2-7]{16}$/;

/**
 * The data-deletion callback, verified: erases what LeadRelay holds for the person and records
 * the request under a confirmation code, in one transaction. The same signed request sent again
 * gets the code it got the first time, and nothing is done twice.
 */
export async function handleDataDeletion(
  app: App,
  signedRequest: string,
  fbUserId: string,
  now = new Date(),
): Promise<{ confirmationCode: string; removal: FacebookUserRemoval | null }> {
  return app.db.transaction().execute(async (trx) => {
    const recorded = await store.insertDeletionRequest(trx, newConfirmationCode(), sha256(signedRequest));
    if (!recorded.isNew) return { confirmationCode: recorded.code, removal: null };
    const removal = await removeFacebookUser(trx, fbUserId, 'data_deletion', now);
    await store.completeDeletionRequest(trx, recorded.code, { ...removal });
    return { confirmationCode: recorded.code, removal };
  });
}

export interface DataDeletionStatus {
  confirmation_code: string;
  status: 'completed' | 'in_progress';
  received_at: string;
  completed_at: string | null;
  erased: FacebookUserRemoval | null;
}

/** A data-deletion request by its confirmation code, for its status page; undefined when there is none. */
export async function findDataDeletionStatus(app: App, code: string): Promise<DataDeletionStatus | undefined> {
  if (!CONFIRMATION_CODE_PATTERN.test(code)) return undefined;
  const row = await store.findDeletionRequest(app.db, code);
  if (!row) return undefined;
  const result = (row.result ?? null) as Partial<FacebookUserRemoval> | null;
  return {
    confirmation_code: row.confirmation_code,
    status: row.completed_at ? 'completed' : 'in_progress',
    received_at: new Date(row.received_at).toISOString(),
    completed_at: row.completed_at ? new Date(row.completed_at).toISOString() : null,
    erased: result
      ? {
          facebook_logins_deleted: result.facebook_logins_deleted ?? 0,
          pages_disconnected: result.pages_disconnected ?? 0,
          leads_erased: result.leads_erased ?? 0,
          workspaces: result.workspaces ?? 0,
        }
      : null,
  };
}

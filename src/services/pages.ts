// Pages: the Facebook pages whose leads a workspace receives, and their tokens. What
// `leadrelay pages add|list` and the API's page operations both do.
import type { App } from '../app.js';
import { checkPageAccess } from '../meta/page-access.js';
import { pageTokenAad } from '../pipeline/lead-record.js';
import { resumePage } from '../pipeline/replay.js';
import * as repo from '../store/repos.js';
import type { Page } from '../store/schema.js';
import { ConflictError, type FieldNamer, InvalidInputError, NotFoundError, UpstreamError } from './errors.js';

export interface SavePageInput {
  workspaceId: string;
  pageId: string;
  token: string;
  name?: string;
  /** Store the token without asking Meta about it. */
  skipCheck?: boolean;
  /** The app-scoped Facebook user whose login gave the token (Connect Facebook): Meta's deauthorize and data-deletion callbacks find the page by it. */
  connectedFbUserId?: string;
}

export interface SavedPage {
  page: Page;
  /** Waiting leads of the page fetched again now that it has a token. */
  resumed: number;
  /** What still stops leads (the token unchecked, the app not installed on the page, expiry). */
  warnings: string[];
}

/**
 * The page's token, decrypted. A disconnected page has none (it was deleted): ConflictError,
 * saying how to connect it again.
 */
export function pageTokenOf(app: App, page: Pick<Page, 'page_id' | 'token_envelope'>): string {
  if (page.token_envelope === null)
    throw new ConflictError(`page ${page.page_id} is disconnected (its token was deleted): connect it again (Connect Facebook, or leadrelay pages add)`);
  return app.keyRing.decrypt(page.token_envelope, pageTokenAad(page.page_id));
}

/** A page of the workspace by its Facebook page id. */
export async function getPage(app: App, workspaceId: string, pageId: string): Promise<Page> {
  const page = await repo.findPageByPageId(app.db, pageId);
  if (!page || page.workspace_id !== workspaceId) throw new NotFoundError(`page "${pageId.slice(0, 40)}"`);
  return page;
}

/**
 * Registers a page or replaces its token, after asking Meta whether the token can read the
 * page's leads (unless told not to, or the app settings that asking needs are missing: then it
 * is stored with a warning), and resumes the page's waiting leads.
 */
export async function savePage(app: App, input: SavePageInput, name: FieldNamer): Promise<SavedPage> {
  if (!/^\d+$/.test(input.pageId))
    throw new InvalidInputError({
      field: name('page_id'),
      message: `${name('page_id')} must be a numeric Facebook page id, got "${input.pageId.slice(0, 40)}"`,
    });
  if (!input.token.trim()) throw new InvalidInputError({ field: name('token'), message: `${name('token')} must not be empty` });
  if (input.name !== undefined && !input.name.trim()) throw new InvalidInputError({ field: name('name'), message: `${name('name')} must not be empty` });
  const existing = await repo.findPageByPageId(app.db, input.pageId);
  if (existing && existing.workspace_id !== input.workspaceId) throw new ConflictError(`page ${input.pageId} is already registered to another workspace`);

  const warnings: string[] = [];
  let pageName = input.name?.trim() ?? null;
  const { appId, appSecret, graphVersion } = app.config.meta;
  if (input.skipCheck) {
    warnings.push(`${name('skip_check')}: the token of page ${input.pageId} was not checked with Meta; a wrong token shows up only when a lead arrives`);
  } else if (!appId || !appSecret) {
    warnings.push(
      `the token of page ${input.pageId} cannot be checked with Meta because ${[!appId && 'META_APP_ID', !appSecret && 'META_APP_SECRET'].filter(Boolean).join(' and ')} ${!appId && !appSecret ? 'are' : 'is'} not set; ` +
        'it is stored unchecked (set them and add the page again to check it)',
    );
  } else {
    const check = await checkPageAccess(app.graph, { appId, pageId: input.pageId, pageToken: input.token, graphVersion });
    if (check.outcome === 'refused') throw new InvalidInputError({ field: name('token'), message: check.problem });
    if (check.outcome === 'unavailable')
      throw new UpstreamError(`${check.problem}; nothing was stored (try again, or use ${name('skip_check')} to store the token unchecked)`);
    warnings.push(...check.warnings);
    pageName ??= check.pageName;
  }
  const page = await repo.upsertPage(app.db, {
    workspaceId: input.workspaceId,
    pageId: input.pageId,
    name: pageName,
    tokenEnvelope: app.keyRing.encrypt(input.token, pageTokenAad(input.pageId)),
    connectedFbUserId: input.connectedFbUserId ?? null,
  });
  const resumed = await resumePage(app, input.pageId);
  return { page, resumed, warnings };
}

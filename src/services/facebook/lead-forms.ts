// A connected Page's lead forms, and Meta test leads on them.
// Reference: /work/shared/reference/meta-lead-ads.md §6 (form metadata), §11 (test leads).
import type { App } from '../../app.js';
import { isGraphError } from '../../meta/graph-errors.js';
import type { GraphFormSummary } from '../../meta/graph-types.js';
import { recordFacebookTestLead } from '../../store/facebook-user-data.js';
import { ConflictError, type FieldNamer, InvalidInputError, NotFoundError } from '../errors.js';
import { getPage, pageTokenOf } from '../pages.js';
import { describeGraphError, explainPageTokenFailure } from './graph-failures.js';

/** At most this many lead forms of a Page are listed. */
const MAX_LISTED_FORMS = 500;
const LEADS_TESTING_TOOL = 'https://developers.facebook.com/tools/lead-ads-testing';

const storedPageToken = pageTokenOf;

export interface PageForms {
  forms: GraphFormSummary[];
  isTruncated: boolean;
}

/** A connected Page's lead forms, with their questions, status and lead counts, from Facebook now. */
export async function listPageLeadForms(app: App, workspaceId: string, pageId: string): Promise<PageForms> {
  const page = await getPage(app, workspaceId, pageId);
  const forms: GraphFormSummary[] = [];
  try {
    for await (const form of app.graph.listPageFormsWithQuestions(page.page_id, storedPageToken(app, page))) {
      if (forms.length >= MAX_LISTED_FORMS) return { forms, isTruncated: true };
      forms.push(form);
    }
  } catch (err) {
    throw explainPageTokenFailure(err, page.page_id, 'list the lead forms');
  }
  return { forms, isTruncated: false };
}

export interface TestLeadInput {
  pageId: string;
  formId: string;
  answers?: { name: string; values: string[] }[];
  /** Delete the form's existing test lead first (Meta allows one per form). Default true. */
  replaceExisting?: boolean;
}

/**
 * Creates Meta's test lead on a form of a connected Page (`POST /{form_id}/test_leads` with the
 * Page token); Meta then sends its leadgen webhook like for a real lead. A form holds one test
 * lead: the existing one is deleted first unless told not to (only its maker can delete it).
 */
export async function createTestLead(
  app: App,
  workspaceId: string,
  input: TestLeadInput,
  name: FieldNamer,
): Promise<{ testLeadId: string; replaced: string[] }> {
  if (!/^\d{1,40}$/.test(input.formId)) throw new InvalidInputError({ field: name('form_id'), message: `${name('form_id')} must be a numeric lead form id` });
  const page = await getPage(app, workspaceId, input.pageId);
  const token = storedPageToken(app, page);
  let existing: { id: string }[];
  try {
    existing = await app.graph.listTestLeads(input.formId, token);
  } catch (err) {
    if (isGraphError(err) && err.category === 'not_found') throw new NotFoundError(`lead form "${input.formId}" of page ${page.page_id}`);
    throw explainPageTokenFailure(err, page.page_id, 'read the test leads of the form');
  }
  const replaced: string[] = [];
  if (existing.length > 0) {
    if (input.replaceExisting === false)
      throw new ConflictError(
        `form ${input.formId} already has a test lead (${existing[0].id}), and Meta allows one per form: send replace_existing true to delete it and make a new one`,
      );
    for (const lead of existing) {
      try {
        await app.graph.deleteTestLead(lead.id, token);
        replaced.push(lead.id);
      } catch (err) {
        if (isGraphError(err) && (err.category === 'not_found' || err.category === 'permission_missing'))
          throw new ConflictError(
            `form ${input.formId} already has a test lead (${lead.id}) that LeadRelay cannot delete: only the person who made it can. ` +
              `Delete it in Meta's Lead Ads Testing Tool (${LEADS_TESTING_TOOL}), then try again`,
          );
        throw explainPageTokenFailure(err, page.page_id, 'delete the earlier test lead');
      }
    }
  }
  try {
    const created = await app.graph.createTestLead(input.formId, token, { fieldData: input.answers });
    // Meta makes the test lead as the person whose login gave the Page token: a data-deletion
    // request from them erases it (src/services/facebook-user-removal.ts).
    if (page.connected_fb_user_id)
      await recordFacebookTestLead(app.db, { workspaceId, pageId: page.page_id, leadgenId: created.id, fbUserId: page.connected_fb_user_id });
    return { testLeadId: created.id, replaced };
  } catch (err) {
    if (isGraphError(err) && /already exists/i.test(err.info.message))
      throw new ConflictError(`form ${input.formId} got another test lead meanwhile, and Meta allows one per form: try again`);
    if (isGraphError(err) && err.category === 'permission_missing')
      throw new ConflictError(
        `Facebook refused the test lead (${describeGraphError(err)}): the person who connected page ${page.page_id} needs the Advertiser role or higher on it`,
      );
    throw explainPageTokenFailure(err, page.page_id, 'create the test lead');
  }
}

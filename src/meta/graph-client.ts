// The Meta Graph API client: leads, forms, test leads, Pages and token checks.
// - Every call is pinned to one version (`/{version}/...`) and carries `access_token`,
//   `appsecret_proof` and `appsecret_time`.
// - Only transient failures are retried here (codes 1/2, HTTP 5xx, network); throttles are
//   surfaced with a wait, because Meta says retrying a throttled call extends the block.
// - Every failure is a GraphError whose message never contains the token or the proof.
// This module holds the client's options and interface and puts it together from
// graph-request.ts (proof, checks, response and error handling, retries, paging),
// graph-lead-reads.ts (getLead, and getLeads as Graph batches) and graph-page-calls.ts (forms,
// test leads, Pages, subscriptions, token checks and Facebook Login).
// Lead retrieval: https://developers.facebook.com/documentation/ads-commerce/marketing-api/guides/lead-ads/retrieving
import type { GraphError } from './graph-errors.js';
import { createLeadReads } from './graph-lead-reads.js';
import { createPageCalls } from './graph-page-calls.js';
import { createGraphRequester } from './graph-request.js';
import type {
  GraphAccessToken,
  GraphAccount,
  GraphAppSubscription,
  GraphForm,
  GraphFormSummary,
  GraphLead,
  GraphLeadAccess,
  GraphMe,
  GraphPage,
  GraphPermission,
  GraphSubscribedApp,
  GraphTokenDebug,
} from './graph-types.js';

export { GRAPH_BATCH_MAX } from './graph-lead-reads.js';

export interface GraphClientOptions {
  /** Base URL, e.g. `https://graph.facebook.com` (a loopback fake in tests). */
  graphUrl: string;
  /** Pinned Graph version, e.g. `v25.0`. */
  version: string;
  appSecret: string;
  /** Needed only for `debugToken` (the app token is `${appId}|${appSecret}`). */
  appId?: string;
  /** Per-request timeout. */
  timeoutMs: number;
  /** How many times a transient failure is retried (0 = try once). */
  retries: number;
  /** Delay before the first retry; doubles each time, with jitter. */
  retryMinDelayMs: number;
  /** Clock for `appsecret_time`; defaults to `Date.now`. */
  now?: () => number;
}

interface ListFormLeadsOptions {
  /** Only leads created strictly after this Unix time (seconds). */
  sinceUnixSeconds?: number;
  /** Only leads created strictly before this Unix time (seconds). */
  untilUnixSeconds?: number;
  /** Page size (`limit`); default 100. */
  pageSize?: number;
  /** The lead fields to ask for; default every field (GRAPH_LEAD_FIELDS). Fields left out come back empty. */
  fields?: readonly string[];
}

interface TestLeadInput {
  /** Answers; Meta fills dummy values for questions left out. */
  fieldData?: { name: string; values: string[] }[];
  consents?: { key: string; checked: boolean }[];
}

export interface GraphClient {
  /** `GET /{leadgen_id}` with every lead field requested explicitly. */
  getLead(leadgenId: string, pageToken: string): Promise<GraphLead>;
  /**
   * Up to GRAPH_BATCH_MAX leads of one Page token in one Graph batch (`POST /` with `batch=[…]`),
   * each asked for the same fields as `getLead`. Never rejects for a Graph failure: every lead gets
   * its own result, in the order asked, and a failed item (or a whole batch refused) is a GraphError
   * of that lead. Transient item failures (code 1/2, 5xx, a `null` item that timed out) are sent
   * again, only they, like a single read's retries.
   */
  getLeads(leadgenIds: readonly string[], pageToken: string): Promise<GraphLeadRead[]>;
  /** `GET /{form_id}` with its questions. */
  getForm(formId: string, token: string): Promise<GraphForm>;
  /** `GET /{form_id}/leads`, newest first, following `paging.cursors.after` until `paging.next` is absent. */
  listFormLeads(formId: string, token: string, opts?: ListFormLeadsOptions): AsyncGenerator<GraphLead>;
  /** `GET /{page_id}/leadgen_forms`, every page of results. */
  listPageForms(pageId: string, pageToken: string): AsyncGenerator<GraphFormSummary>;
  /** `GET /debug_token` with the app token. Requires `appId`. */
  debugToken(inputToken: string): Promise<GraphTokenDebug>;
  /** `GET /{page_id}?fields=id,name` with the Page token. */
  getPage(pageId: string, pageToken: string): Promise<GraphPage>;
  /** `GET /{page_id}/subscribed_apps`: the apps installed on the Page (every page of results). */
  listSubscribedApps(pageId: string, pageToken: string): Promise<GraphSubscribedApp[]>;
  /** `POST /{form_id}/test_leads` (one test lead per form; delete the old one first). Not retried. */
  createTestLead(formId: string, pageToken: string, input?: TestLeadInput): Promise<{ id: string }>;
  /** `GET /{form_id}/test_leads`. */
  listTestLeads(formId: string, pageToken: string): Promise<GraphLead[]>;
  /** `DELETE /{lead_id}`: removes a test lead (only its creator can). Not retried. */
  deleteTestLead(leadId: string, pageToken: string): Promise<void>;
  /** `GET /{page_id}/leadgen_forms` with each form's questions, every page of results. */
  listPageFormsWithQuestions(pageId: string, pageToken: string): AsyncGenerator<GraphFormSummary>;
  /**
   * `GET /oauth/access_token`: a Facebook Login code for a user token (`redirectUri` exactly as in
   * the dialog). Sent once, never retried: a code works once. Requires `appId`.
   */
  exchangeLoginCode(input: { code: string; redirectUri: string }): Promise<GraphAccessToken>;
  /** `GET /oauth/access_token?grant_type=fb_exchange_token`: a long-lived (~60 days) user token for a short-lived one. Requires `appId`. */
  exchangeForLongLivedToken(userToken: string): Promise<GraphAccessToken>;
  /** `GET /me?fields=id,name` with a user token. */
  getMe(userToken: string): Promise<GraphMe>;
  /** `GET /me/permissions`: what the person granted, declined, or let expire. */
  listPermissions(userToken: string): Promise<GraphPermission[]>;
  /** `GET /me/accounts`: the Pages the person manages, with their Page tokens and tasks, following the cursors. */
  listAccounts(userToken: string, opts?: { pageSize?: number }): AsyncGenerator<GraphAccount>;
  /** `POST /{page_id}/subscribed_apps?subscribed_fields=…` with the Page token: installs our app on the Page. Not retried. */
  subscribePageToApp(pageId: string, pageToken: string, fields: string[]): Promise<void>;
  /** `DELETE /{page_id}/subscribed_apps` with the Page token: uninstalls our app from the Page (no more webhooks for it). */
  unsubscribePageFromApp(pageId: string, pageToken: string): Promise<void>;
  /** `GET /{page_id}?fields=has_lead_access.user_id(U).app_id(A)` with the Page token (needs leads_retrieval). Requires `appId`. */
  getLeadAccess(pageId: string, pageToken: string, userId: string): Promise<GraphLeadAccess>;
  /** `GET /{app_id}/subscriptions` with the app token. Requires `appId`. */
  listAppSubscriptions(): Promise<GraphAppSubscription[]>;
  /**
   * `POST /{app_id}/subscriptions` with the app token: Meta then calls `callbackUrl` with the
   * verification handshake before it answers. Not retried. Requires `appId`.
   */
  subscribeApp(input: { object: string; callbackUrl: string; fields: string[]; verifyToken: string; includeValues: boolean }): Promise<void>;
}

/** One lead of a batch read: the lead, or why it could not be read. */
export type GraphLeadRead = { leadgenId: string; lead: GraphLead; error?: undefined } | { leadgenId: string; lead?: undefined; error: GraphError };

export function createGraphClient(opts: GraphClientOptions): GraphClient {
  if (!/^v\d+\.\d+$/.test(opts.version)) throw new Error(`Graph version "${opts.version}" must look like v25.0`);
  // Without an app secret no call can carry appsecret_proof. The program still starts (a
  // newcomer's first `npm start`; the webhook refuses unsigned traffic anyway), and each call
  // fails with a clear reason instead.
  const requester = createGraphRequester(opts);
  return { ...createLeadReads(opts, requester), ...createPageCalls(opts, requester) };
}

// The Graph calls besides the lead reads: forms and their leads (backfill), test leads, token
// checks, Pages and the app's subscriptions on them, and the Facebook Login calls (code and
// token exchange, the person, their permissions and Pages). Each checks its ids before Meta is
// called and reads the answer against its schema; the plumbing is graph-request.ts.
import type { GraphClient, GraphClientOptions } from './graph-client.js';
import { GraphError } from './graph-errors.js';
import { assertGraphId, assertToken, DEFAULT_PAGE_SIZE, expectSuccess, parseOrThrow, type GraphRequester, type Params } from './graph-request.js';
import {
  GRAPH_ACCOUNT_FIELDS,
  GRAPH_FORM_FIELDS,
  GRAPH_FORM_LIST_FIELDS,
  GRAPH_FORM_SUMMARY_FIELDS,
  GRAPH_LEAD_FIELDS,
  GRAPH_PAGE_FIELDS,
  graphAccessTokenSchema,
  graphAccountPageSchema,
  graphAppSubscriptionPageSchema,
  graphCreatedSchema,
  graphDebugTokenSchema,
  graphFormSchema,
  graphFormSummaryPageSchema,
  graphLeadPageSchema,
  graphLeadAccessSchema,
  graphMeSchema,
  graphPageSchema,
  graphPermissionPageSchema,
  graphSubscribedAppPageSchema,
  graphSuccessSchema,
  type GraphAccessToken,
  type GraphAppSubscription,
  type GraphLead,
  type GraphPermission,
  type GraphSubscribedApp,
} from './graph-types.js';

export function createPageCalls(opts: GraphClientOptions, { sendOnce, request, paginate }: GraphRequester): Omit<GraphClient, 'getLead' | 'getLeads'> {
  function requireAppId(what: string): string {
    if (!opts.appId)
      throw new GraphError({ category: 'invalid_request', reason: 'meta_app_id_missing', message: `${what} needs the Meta app id (META_APP_ID)` });
    if (!opts.appSecret)
      throw new GraphError({ category: 'invalid_request', reason: 'meta_app_secret_missing', message: `${what} needs the Meta app secret (META_APP_SECRET)` });
    return opts.appId;
  }

  const appToken = () => `${opts.appId}|${opts.appSecret}`;

  /** `GET /oauth/access_token`: authenticated by client_id and client_secret, sent once. */
  async function requestAccessToken(params: Params): Promise<GraphAccessToken> {
    const appId = requireAppId('the token exchange');
    const body = await sendOnce('GET', 'oauth/access_token', null, { client_id: appId, client_secret: opts.appSecret, ...params });
    return parseOrThrow(graphAccessTokenSchema, body, 'access token');
  }

  return {
    async getForm(formId, token) {
      assertGraphId('form_id', formId);
      const body = await request('GET', formId, token, { fields: GRAPH_FORM_FIELDS.join(',') });
      return parseOrThrow(graphFormSchema, body, 'form');
    },

    listFormLeads(formId, token, listOpts = {}) {
      assertGraphId('form_id', formId);
      const pageSize = Math.max(1, Math.floor(listOpts.pageSize ?? DEFAULT_PAGE_SIZE));
      const params: Params = { fields: (listOpts.fields ?? GRAPH_LEAD_FIELDS).join(','), limit: String(pageSize) };
      // Values must be Unix seconds: Graph silently ignores ISO dates here.
      const filtering: { field: 'time_created'; operator: 'GREATER_THAN' | 'LESS_THAN'; value: number }[] = [];
      if (listOpts.sinceUnixSeconds !== undefined)
        filtering.push({ field: 'time_created', operator: 'GREATER_THAN', value: Math.floor(listOpts.sinceUnixSeconds) });
      if (listOpts.untilUnixSeconds !== undefined)
        filtering.push({ field: 'time_created', operator: 'LESS_THAN', value: Math.ceil(listOpts.untilUnixSeconds) });
      if (filtering.length > 0) params.filtering = JSON.stringify(filtering);
      return paginate(`${formId}/leads`, token, params, (body) => parseOrThrow(graphLeadPageSchema, body, 'form leads'));
    },

    listPageForms(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const params: Params = { fields: GRAPH_FORM_SUMMARY_FIELDS.join(','), limit: String(DEFAULT_PAGE_SIZE) };
      return paginate(`${pageId}/leadgen_forms`, pageToken, params, (body) => parseOrThrow(graphFormSummaryPageSchema, body, 'page forms'));
    },

    async debugToken(inputToken) {
      if (!opts.appId) {
        throw new GraphError({ category: 'invalid_request', reason: 'meta_app_id_missing', message: 'debug_token needs the Meta app id (META_APP_ID)' });
      }
      assertToken(inputToken);
      const body = await request('GET', 'debug_token', `${opts.appId}|${opts.appSecret}`, { input_token: inputToken });
      return parseOrThrow(graphDebugTokenSchema, body, 'debug_token');
    },

    async getPage(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const body = await request('GET', pageId, pageToken, { fields: GRAPH_PAGE_FIELDS.join(',') });
      return parseOrThrow(graphPageSchema, body, 'page');
    },

    async listSubscribedApps(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const apps: GraphSubscribedApp[] = [];
      for await (const app of paginate(`${pageId}/subscribed_apps`, pageToken, {}, (body) =>
        parseOrThrow(graphSubscribedAppPageSchema, body, 'subscribed apps'),
      )) {
        apps.push(app);
      }
      return apps;
    },

    async createTestLead(formId, pageToken, input = {}) {
      assertGraphId('form_id', formId);
      const params: Params = {};
      if (input.fieldData) params.field_data = JSON.stringify(input.fieldData.map((f) => ({ name: f.name, values: f.values })));
      if (input.consents) {
        params.custom_disclaimer_responses = JSON.stringify(input.consents.map((c) => ({ checkbox_key: c.key, is_checked: c.checked })));
      }
      const body = await request('POST', `${formId}/test_leads`, pageToken, params);
      return parseOrThrow(graphCreatedSchema, body, 'test lead');
    },

    async listTestLeads(formId, pageToken) {
      assertGraphId('form_id', formId);
      const leads: GraphLead[] = [];
      const params: Params = { fields: GRAPH_LEAD_FIELDS.join(',') };
      for await (const lead of paginate(`${formId}/test_leads`, pageToken, params, (body) => parseOrThrow(graphLeadPageSchema, body, 'test leads'))) {
        leads.push(lead);
      }
      return leads;
    },

    async deleteTestLead(leadId, pageToken) {
      assertGraphId('lead_id', leadId);
      const body = await request('DELETE', leadId, pageToken);
      const result = parseOrThrow(graphSuccessSchema, body, 'delete');
      if (!result.success) {
        throw new GraphError({ category: 'unknown', reason: 'graph_delete_not_confirmed', message: 'Graph did not confirm the deletion' });
      }
    },

    listPageFormsWithQuestions(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const params: Params = { fields: GRAPH_FORM_LIST_FIELDS.join(','), limit: String(DEFAULT_PAGE_SIZE) };
      return paginate(`${pageId}/leadgen_forms`, pageToken, params, (body) => parseOrThrow(graphFormSummaryPageSchema, body, 'page forms'));
    },

    exchangeLoginCode({ code, redirectUri }) {
      if (typeof code !== 'string' || code === '' || code.length > 2048) {
        return Promise.reject(
          new GraphError({ category: 'invalid_request', reason: 'invalid_code', message: 'the authorization code is missing or too long' }),
        );
      }
      return requestAccessToken({ redirect_uri: redirectUri, code });
    },

    exchangeForLongLivedToken(userToken) {
      assertToken(userToken);
      return requestAccessToken({ grant_type: 'fb_exchange_token', fb_exchange_token: userToken });
    },

    async getMe(userToken) {
      const body = await request('GET', 'me', userToken, { fields: 'id,name' });
      return parseOrThrow(graphMeSchema, body, 'me');
    },

    async listPermissions(userToken) {
      const permissions: GraphPermission[] = [];
      for await (const p of paginate('me/permissions', userToken, {}, (body) => parseOrThrow(graphPermissionPageSchema, body, 'permissions'))) {
        permissions.push(p);
      }
      return permissions;
    },

    listAccounts(userToken, listOpts = {}) {
      const pageSize = Math.max(1, Math.floor(listOpts.pageSize ?? DEFAULT_PAGE_SIZE));
      const params: Params = { fields: GRAPH_ACCOUNT_FIELDS.join(','), limit: String(pageSize) };
      return paginate('me/accounts', userToken, params, (body) => parseOrThrow(graphAccountPageSchema, body, 'accounts'));
    },

    async subscribePageToApp(pageId, pageToken, fields) {
      assertGraphId('page_id', pageId);
      const body = await request('POST', `${pageId}/subscribed_apps`, pageToken, { subscribed_fields: fields.join(',') });
      expectSuccess(body, 'page subscription');
    },

    async unsubscribePageFromApp(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const body = await request('DELETE', `${pageId}/subscribed_apps`, pageToken);
      expectSuccess(body, 'page unsubscription');
    },

    async getLeadAccess(pageId, pageToken, userId) {
      assertGraphId('page_id', pageId);
      assertGraphId('user_id', userId);
      const appId = requireAppId('the lead access check');
      assertGraphId('app_id', appId);
      const body = await request('GET', pageId, pageToken, { fields: `has_lead_access.user_id(${userId}).app_id(${appId})` });
      return parseOrThrow(graphLeadAccessSchema, body, 'lead access');
    },

    async listAppSubscriptions() {
      const appId = requireAppId('reading the app subscriptions');
      assertGraphId('app_id', appId);
      const subscriptions: GraphAppSubscription[] = [];
      for await (const s of paginate(`${appId}/subscriptions`, appToken(), {}, (body) =>
        parseOrThrow(graphAppSubscriptionPageSchema, body, 'app subscriptions'),
      )) {
        subscriptions.push(s);
      }
      return subscriptions;
    },

    async subscribeApp(input) {
      const appId = requireAppId('the app subscription');
      assertGraphId('app_id', appId);
      const body = await request('POST', `${appId}/subscriptions`, appToken(), {
        object: input.object,
        callback_url: input.callbackUrl,
        fields: input.fields.join(','),
        verify_token: input.verifyToken,
        include_values: String(input.includeValues),
      });
      expectSuccess(body, 'app subscription');
    },
  };
}

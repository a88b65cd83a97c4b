// Connect Facebook (Facebook Login for Business) for the web app's wizard: open the login dialog,
// list the Pages of the connected person, connect the Pages they pick (with plain-language
// problems when leads cannot flow), list a Page's lead forms, send Meta test leads, and the
// app-level webhook subscription. The dialog comes back to GET /oauth/facebook/callback
// (src/http/facebook-login-routes.ts), which redirects to the wizard. Tokens never come out.
import { z } from 'zod';
import { apiFieldNamer } from '../../services/errors.js';
import { type AppSubscriptionState, readAppSubscription, subscribeAppToLeads } from '../../services/facebook/app-subscription.js';
import { connectionView, forgetConnection, listConnections } from '../../services/facebook/connections.js';
import { createTestLead, listPageLeadForms } from '../../services/facebook/lead-forms.js';
import { buildLoginDialogUrl, FACEBOOK_LOGIN_ERRORS, type FacebookCaller } from '../../services/facebook/login.js';
import { connectPages, listConnectionPages } from '../../services/facebook/managed-pages.js';
import type { Actor } from '../operation.js';
import { defineOperation, Reply } from '../operation.js';
import { forbidden } from '../problem.js';
import { workspaceIdParams } from './workspaces.js';

const TAG = 'Facebook';

/** A Facebook login belongs to a person: these operations take a signed-in session, never an API key. */
function personIn(actor: Actor | null, workspaceId: string): FacebookCaller {
  if (actor?.type !== 'user') throw forbidden('Connect Facebook is for a signed-in person: a Facebook login belongs to a person, not to an API key');
  return { workspaceId, userId: actor.user.id, sessionIdHash: actor.session.id_hash };
}

const connectionSchema = z
  .object({
    id: z.uuid(),
    name: z.string().nullable().meta({ description: "the Facebook account's name" }),
    facebook_user_id: z.string(),
    granted_permissions: z.array(z.string()),
    declined_permissions: z.array(z.string()).meta({ description: 'asked for but not granted (declined or expired), as Facebook last said' }),
    expires_at: z.iso.datetime().nullable().meta({ description: 'when the Facebook login stops working (about 60 days); connect again before' }),
    created_at: z.iso.datetime(),
  })
  .meta({ id: 'FacebookConnection' });

const declinedSchema = z
  .object({ permission: z.string(), explanation: z.string().meta({ description: 'what LeadRelay cannot do without it' }) })
  .meta({ id: 'FacebookDeclinedPermission' });

const problemSchema = z
  .object({
    code: z.enum([
      'permission_declined',
      'page_not_managed',
      'task_missing',
      'token_refused',
      'page_in_other_workspace',
      'meta_unavailable',
      'subscription_failed',
      'subscription_not_verified',
      'no_lead_access',
      'app_not_subscribed',
    ]),
    message: z.string().meta({ description: 'what is wrong, in plain words' }),
    fix: z.string().meta({ description: 'what to change, and where' }),
    fix_url: z.string().optional().meta({ description: 'a link that does the fix (the Facebook dialog asking again for declined permissions)' }),
    permission: z.string().optional().meta({ description: 'the permission concerned (permission_declined)' }),
  })
  .meta({ id: 'FacebookPageProblem' });

const connectionParams = workspaceIdParams.extend({ connectionId: z.string().max(64).meta({ description: 'Facebook connection id (uuid)' }) });
const pageParams = workspaceIdParams.extend({ pageId: z.string().max(40).meta({ description: 'the Facebook page id' }) });
const formParams = workspaceIdParams.extend({ formId: z.string().max(40).meta({ description: 'the lead form id' }) });

const questionSchema = z.object({
  key: z.string().meta({ description: 'the answer key in leads (field_data name)' }),
  label: z.string(),
  type: z.string().meta({ description: 'FULL_NAME, EMAIL, PHONE, CUSTOM, ... (open list)' }),
  options: z.array(z.object({ key: z.string(), value: z.string() })),
});

const formSchema = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    status: z.string().nullable().meta({ description: 'ACTIVE, ARCHIVED, DELETED or DRAFT' }),
    locale: z.string().nullable(),
    created_time: z.iso.datetime().nullable(),
    leads_count: z.number().int().nullable(),
    questions: z.array(questionSchema),
  })
  .meta({ id: 'LeadForm' });

const appSubscriptionSchema = z
  .object({
    status: z
      .enum(['subscribed', 'not_subscribed', 'other_callback', 'inactive', 'missing_leadgen', 'unknown'])
      .meta({ description: 'subscribed: Facebook sends Page lead events to this server' }),
    callback_url: z.string().nullable().meta({ description: 'where the app sends Page events now' }),
    expected_callback_url: z.string().meta({ description: "this server's webhook: PUBLIC_URL/webhooks/meta" }),
    fields: z.array(z.string()),
    reason: z.string().optional().meta({ description: 'why the status is unknown' }),
  })
  .meta({ id: 'FacebookAppSubscription' });

const appSubscriptionView = (s: AppSubscriptionState) => ({
  status: s.status,
  callback_url: s.callbackUrl,
  expected_callback_url: s.expectedCallbackUrl,
  fields: s.fields,
  ...(s.reason === undefined ? {} : { reason: s.reason }),
});

/** Said in each person-only operation's description: the access model cannot say it. */
const PERSON_ONLY = "For a signed-in person: a Facebook connection is its maker's own; API keys get 403, other members 404.";

const loginErrorList = Object.entries(FACEBOOK_LOGIN_ERRORS)
  .map(([code, meaning]) => `\`${code}\` (${meaning})`)
  .join('; ');

export const facebookOperations = [
  defineOperation({
    operationId: 'startFacebookLogin',
    method: 'post',
    path: '/workspaces/{workspaceId}/facebook/login',
    summary: 'Start Connect Facebook: the Facebook Login dialog URL to send the browser to',
    description:
      'For a signed-in person (not an API key). The dialog asks for the permissions of META_LOGIN_CONFIG_ID, or by scope without it. Its state works once, ' +
      'for 15 minutes, with this session only. Facebook sends the browser back to GET /oauth/facebook/callback, which redirects to ' +
      "the web app's wizard at /w/{workspaceId}/wizard/pages?connection={id}, or on failure to /w/{workspaceId}/wizard/facebook?facebook_error=… " +
      `(/workspaces?facebook_error=… when the workspace is not known): ${loginErrorList}.`,
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    body: z.object({
      rerequest: z.boolean().optional().meta({ description: 'ask again for permissions declined before (auth_type=rerequest)' }),
    }),
    response: { status: 200, description: 'where to send the browser', schema: z.object({ dialog_url: z.string() }) },
    audit: 'none',
    errors: [409],
    async handler({ app, actor, workspaceId, body }) {
      return { dialog_url: buildLoginDialogUrl(app, personIn(actor, workspaceId), { rerequest: body.rerequest }) };
    },
  }),
  defineOperation({
    operationId: 'listFacebookConnections',
    method: 'get',
    path: '/workspaces/{workspaceId}/facebook/connections',
    summary: "The caller's own Facebook connections in the workspace, newest first (never their tokens)",
    description: PERSON_ONLY,
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the connections', schema: z.object({ items: z.array(connectionSchema) }) },
    async handler({ app, actor, workspaceId }) {
      return { items: (await listConnections(app, personIn(actor, workspaceId))).map(connectionView) };
    },
  }),
  defineOperation({
    operationId: 'deleteFacebookConnection',
    method: 'delete',
    path: '/workspaces/{workspaceId}/facebook/connections/{connectionId}',
    summary: "Forget one of the caller's Facebook connections (connected pages keep their own tokens)",
    description: PERSON_ONLY,
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.write' },
    params: connectionParams,
    response: { status: 204, description: 'forgotten' },
    async handler({ app, actor, workspaceId, params, audit }) {
      await forgetConnection(app, personIn(actor, workspaceId), params.connectionId);
      audit.target = { type: 'facebook_connection', id: params.connectionId };
      return new Reply(204, undefined);
    },
  }),
  defineOperation({
    operationId: 'listFacebookConnectionPages',
    method: 'get',
    path: '/workspaces/{workspaceId}/facebook/connections/{connectionId}/pages',
    summary: 'The Facebook Pages the connected person manages, with their tasks and whether LeadRelay can take leads from each',
    description:
      'Read from Facebook now (GET /me/accounts, every page of results up to 1000 Pages, and GET /me/permissions). ' +
      'Declined permissions come with what they stop and reask_url, which opens the dialog asking for them again. ' +
      PERSON_ONLY,
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.write' },
    params: connectionParams,
    response: {
      status: 200,
      description: 'the Pages',
      schema: z.object({
        connection: connectionSchema,
        pages: z.array(
          z.object({
            page_id: z.string(),
            name: z.string().nullable(),
            category: z.string().nullable(),
            tasks: z.array(z.string()).meta({ description: "the person's tasks on the Page: MANAGE, CREATE_CONTENT, MODERATE, ADVERTISE, ANALYZE, …" }),
            can_manage_leads: z
              .boolean()
              .meta({ description: 'the tasks allow installing LeadRelay (MANAGE, CREATE_CONTENT or MODERATE) and reading leads (ADVERTISE)' }),
            already_connected: z.boolean().meta({ description: 'the Page is connected to this workspace already' }),
            problems: z.array(problemSchema),
          }),
        ),
        is_truncated: z.boolean().meta({ description: 'the person manages more Pages than were listed' }),
        declined_permissions: z.array(declinedSchema),
        reask_url: z.string().nullable(),
      }),
    },
    errors: [409, 502],
    async handler({ app, actor, workspaceId, params }) {
      return listConnectionPages(app, personIn(actor, workspaceId), params.connectionId);
    },
  }),
  defineOperation({
    operationId: 'connectFacebookPages',
    method: 'post',
    path: '/workspaces/{workspaceId}/facebook/connections/{connectionId}/pages',
    summary: 'Connect Pages of the connected person: store each Page token, install the app on the Page, check it, and say what is missing',
    description:
      'For each Page: its token (taken from GET /me/accounts, long-lived) is checked and stored encrypted as POST /pages does; the app is installed ' +
      '(POST /{page-id}/subscribed_apps?subscribed_fields=leadgen) and read back; lead access (Leads Access Manager) and the app-level webhook ' +
      'subscription are checked. status is connected, or problem with what to change. Connecting a Page again is safe. ' +
      PERSON_ONLY,
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.write' },
    params: connectionParams,
    body: z.object({
      page_ids: z
        .array(z.string().max(40))
        .min(1, 'pick at least one page')
        .max(50, 'at most 50 pages at a time')
        .meta({ description: 'Facebook page ids from the list' }),
    }),
    response: {
      status: 200,
      description: 'one result per Page',
      schema: z.object({
        pages: z.array(
          z.object({
            page_id: z.string(),
            name: z.string().nullable(),
            status: z.enum(['connected', 'problem']),
            problems: z.array(problemSchema),
            warnings: z.array(z.string()),
          }),
        ),
      }),
    },
    errors: [409, 502],
    async handler({ app, actor, workspaceId, params, body, audit }) {
      const pages = await connectPages(app, personIn(actor, workspaceId), { connectionId: params.connectionId, pageIds: body.page_ids }, apiFieldNamer('body'));
      audit.target = { type: 'facebook_connection', id: params.connectionId };
      audit.details = { pages: pages.map((p) => ({ page_id: p.page_id, status: p.status, problems: p.problems.map((x) => x.code) })) };
      return { pages };
    },
  }),
  defineOperation({
    operationId: 'listPageForms',
    method: 'get',
    path: '/workspaces/{workspaceId}/pages/{pageId}/forms',
    summary: "A connected Page's lead forms from Facebook, with their questions, status and lead counts",
    description: "Read now with the Page's stored token (GET /{page-id}/leadgen_forms, every page of results up to 500 forms).",
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.read' },
    params: pageParams,
    response: { status: 200, description: 'the forms', schema: z.object({ items: z.array(formSchema), is_truncated: z.boolean() }) },
    errors: [409, 502],
    async handler({ app, workspaceId, params }) {
      const { forms, isTruncated } = await listPageLeadForms(app, workspaceId, params.pageId);
      return {
        items: forms.map((f) => ({
          id: f.id,
          name: f.name,
          status: f.status,
          locale: f.locale,
          created_time: f.createdTime ? f.createdTime.toISOString() : null,
          leads_count: f.leadsCount,
          questions: (f.questions ?? []).map((q) => ({ key: q.key, label: q.label, type: q.type, options: q.options })),
        })),
        is_truncated: isTruncated,
      };
    },
  }),
  defineOperation({
    operationId: 'createTestLead',
    method: 'post',
    path: '/workspaces/{workspaceId}/forms/{formId}/test-leads',
    summary: "Create Meta's test lead on a form of a connected Page; Facebook then sends it like a real lead",
    description:
      'POST /{form_id}/test_leads with the Page token. Meta allows one test lead per form: the existing one is deleted first unless replace_existing is false ' +
      "(409 then). Only the person who made a test lead can delete it; one made by someone else must be deleted in Meta's Lead Ads Testing Tool (409 says so). " +
      'Questions without an answer get dummy values from Meta.',
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.write' },
    params: formParams,
    body: z.object({
      page_id: z.string().max(40).meta({ description: 'the connected Page the form belongs to' }),
      answers: z
        .array(z.object({ name: z.string().min(1).max(200), values: z.array(z.string().max(1000)).max(20) }))
        .max(100)
        .optional()
        .meta({ description: 'answers by question key (field_data)' }),
      replace_existing: z.boolean().optional().meta({ description: "delete the form's existing test lead first (default true)" }),
    }),
    response: {
      status: 201,
      description: 'the test lead was created',
      schema: z.object({
        test_lead_id: z.string().meta({ description: 'its leadgen id' }),
        form_id: z.string(),
        page_id: z.string(),
        replaced_test_lead_ids: z.array(z.string()),
      }),
    },
    errors: [409, 502],
    async handler({ app, workspaceId, params, body, audit }) {
      const r = await createTestLead(
        app,
        workspaceId,
        { pageId: body.page_id, formId: params.formId, answers: body.answers, replaceExisting: body.replace_existing },
        apiFieldNamer('body'),
      );
      audit.target = { type: 'form', id: params.formId };
      // Test answers stay out of the audit log like any answer.
      audit.details = { page_id: body.page_id, test_lead_id: r.testLeadId, replaced: r.replaced };
      return new Reply(201, { test_lead_id: r.testLeadId, form_id: params.formId, page_id: body.page_id, replaced_test_lead_ids: r.replaced });
    },
  }),
  defineOperation({
    operationId: 'getFacebookAppSubscription',
    method: 'get',
    path: '/workspaces/{workspaceId}/facebook/app-subscription',
    summary: 'Whether the Meta app sends Page lead events to this server (the app-level webhook subscription)',
    description: 'GET /{app-id}/subscriptions with the app token. Leads arrive only when both this and the Page (subscribed_apps) subscribe to leadgen.',
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the subscription', schema: appSubscriptionSchema },
    async handler({ app }) {
      return appSubscriptionView(await readAppSubscription(app));
    },
  }),
  defineOperation({
    operationId: 'subscribeFacebookApp',
    method: 'post',
    path: '/workspaces/{workspaceId}/facebook/app-subscription',
    summary: "Subscribe the Meta app to Page lead events at this server's webhook (an owner's step, once per installation)",
    description:
      'POST /{app-id}/subscriptions with object=page, callback_url=PUBLIC_URL/webhooks/meta, fields=leadgen, include_values=true and META_VERIFY_TOKEN. ' +
      'Facebook verifies the callback before it answers, so the server must be reachable at PUBLIC_URL over HTTPS (409 explains when it is not). ' +
      'A Meta app has one Page callback: this replaces any other.',
    tag: TAG,
    access: { kind: 'workspace', permission: 'workspace.own' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the subscription as Facebook has it now', schema: appSubscriptionSchema },
    errors: [409, 502],
    async handler({ app, audit }) {
      const state = await subscribeAppToLeads(app);
      audit.target = { type: 'meta_app', id: app.config.meta.appId || null };
      audit.details = { callback_url: state.expectedCallbackUrl, status: state.status };
      return appSubscriptionView(state);
    },
  }),
];

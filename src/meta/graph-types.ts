// Zod schemas for the Graph API responses LeadRelay reads, and the typed objects they become.
// Graph returns ids as strings, but numbers have been seen (and can exceed 2^53), optional
// fields are simply absent, and `is_checked` is "1"/"" or a boolean; every schema here
// absorbs those differences so the rest of the program sees one shape.
// Lead fields: https://developers.facebook.com/documentation/ads-commerce/marketing-api/guides/lead-ads/retrieving
import { z } from 'zod';

/** The fields LeadRelay asks for on every lead (requested explicitly; Graph's defaults are fewer). */
export const GRAPH_LEAD_FIELDS = [
  'id',
  'created_time',
  'ad_id',
  'ad_name',
  'adset_id',
  'adset_name',
  'campaign_id',
  'campaign_name',
  'form_id',
  'field_data',
  'custom_disclaimer_responses',
  'is_organic',
  'platform',
  'partner_name',
] as const;

/** The fields LeadRelay asks for on a lead form (for the mapping UI). */
export const GRAPH_FORM_FIELDS = ['id', 'name', 'status', 'locale', 'questions'] as const;

/** The fields LeadRelay asks for when listing a Page's forms. */
export const GRAPH_FORM_SUMMARY_FIELDS = ['id', 'name', 'status', 'locale', 'created_time', 'leads_count'] as const;

/** The fields LeadRelay asks for when listing a Page's forms for a person to choose from: with their questions. */
export const GRAPH_FORM_LIST_FIELDS = [...GRAPH_FORM_SUMMARY_FIELDS, 'questions'] as const;

/**
 * Parses a Graph response body without losing precision on integers above 2^53: any bare
 * integer literal that is not a safe integer is quoted before `JSON.parse`, so an id sent as
 * a number still arrives digit for digit (as a string). Throws `SyntaxError` on invalid JSON.
 */
export function parseGraphJson(text: string): unknown {
  return JSON.parse(quoteUnsafeIntegers(text));
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function quoteUnsafeIntegers(text: string): string {
  let out = '';
  let copiedUpTo = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // Skip the whole string literal, honouring backslash escapes.
      i++;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i += 2;
        else if (d === 34) {
          i++;
          break;
        } else i++;
      }
      continue;
    }
    if (c === 45 /* - */ || isDigit(c)) {
      // Outside strings, digits only occur in number literals.
      let j = i + 1;
      while (j < text.length && /[0-9eE.+-]/.test(text[j])) j++;
      const token = text.slice(i, j);
      if (/^-?\d{16,}$/.test(token) && !Number.isSafeInteger(Number(token))) {
        out += `${text.slice(copiedUpTo, i)}"${token}"`;
        copiedUpTo = j;
      }
      i = j;
      continue;
    }
    i++;
  }
  return copiedUpTo === 0 ? text : out + text.slice(copiedUpTo);
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/** An id that Graph may send as a string or a number; always a string afterwards. */
const graphIdSchema = z.union([z.string().min(1), z.number().int().nonnegative()]).transform((v) => String(v));

const nullableIdSchema = graphIdSchema.nullish().transform((v) => v ?? null);
const nullableTextSchema = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((v) => (v === undefined || v === null ? null : String(v)));

/** Graph's `created_time`: ISO 8601 with a `+0000` offset (or, defensively, Unix seconds). */
const graphTimeSchema = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const date = typeof v === 'number' ? new Date(v * 1000) : new Date(v.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: 'created_time is not a date' });
    return z.NEVER;
  }
  return date;
});

/** `is_checked` is "1" / "" from Graph, a boolean in test-lead input; anything else is unchecked. */
const graphCheckedSchema = z
  .union([z.boolean(), z.string(), z.number()])
  .nullish()
  .transform((v) => v === true || v === 1 || v === '1' || (typeof v === 'string' && v.toLowerCase() === 'true'));

const answerValueSchema = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

const graphFieldDataSchema = z.object({
  name: z.union([z.string(), z.number()]).transform((v) => String(v)),
  // n8n guards for an empty array; a missing array is treated the same.
  values: z
    .array(answerValueSchema.nullable())
    .nullish()
    .transform((values) => (values ?? []).filter((v): v is string => v !== null)),
});

const graphDisclaimerResponseSchema = z
  .object({ checkbox_key: z.union([z.string(), z.number()]).transform((v) => String(v)), is_checked: graphCheckedSchema })
  .transform((r) => ({ key: r.checkbox_key, checked: r.is_checked }));

const booleanishSchema = z
  .union([z.boolean(), z.string(), z.number()])
  .nullish()
  .transform((v) => v === true || v === 1 || v === '1' || v === 'true');

// ---------------------------------------------------------------------------------------------
// Lead

export const graphLeadSchema = z
  .object({
    id: graphIdSchema,
    created_time: graphTimeSchema,
    form_id: nullableIdSchema,
    ad_id: nullableIdSchema,
    ad_name: nullableTextSchema,
    adset_id: nullableIdSchema,
    adset_name: nullableTextSchema,
    campaign_id: nullableIdSchema,
    campaign_name: nullableTextSchema,
    is_organic: booleanishSchema,
    platform: nullableTextSchema,
    partner_name: nullableTextSchema,
    field_data: z
      .array(graphFieldDataSchema)
      .nullish()
      .transform((v) => v ?? []),
    // Consents live here, not in field_data.
    custom_disclaimer_responses: z
      .array(graphDisclaimerResponseSchema)
      .nullish()
      .transform((v) => v ?? []),
  })
  .transform((raw) => ({
    id: raw.id,
    createdTime: raw.created_time,
    formId: raw.form_id,
    adId: raw.ad_id,
    adName: raw.ad_name,
    adsetId: raw.adset_id,
    adsetName: raw.adset_name,
    campaignId: raw.campaign_id,
    campaignName: raw.campaign_name,
    isOrganic: raw.is_organic,
    platform: raw.platform,
    partnerName: raw.partner_name,
    fieldData: raw.field_data,
    consents: raw.custom_disclaimer_responses,
  }));
/** One lead as LeadRelay sees it. Ad fields are null for organic, preview and test leads. */
export type GraphLead = z.output<typeof graphLeadSchema>;

// ---------------------------------------------------------------------------------------------
// Paging

const graphPagingSchema = z
  .object({
    cursors: z.object({ before: z.string().optional(), after: z.string().optional() }).partial().optional(),
    next: z.string().optional(),
    previous: z.string().optional(),
  })
  .optional();
export type GraphPaging = z.output<typeof graphPagingSchema>;

export const graphLeadPageSchema = z.object({ data: z.array(graphLeadSchema), paging: graphPagingSchema });

// ---------------------------------------------------------------------------------------------
// Form

const graphQuestionOptionSchema = z.object({
  key: z.union([z.string(), z.number()]).transform((v) => String(v)),
  value: z
    .union([z.string(), z.number()])
    .nullish()
    .transform((v) => (v === undefined || v === null ? '' : String(v))),
});

/** A list field that Graph may return as a plain array or wrapped as `{data: [...]}`. */
function listOf<T extends z.ZodType>(item: T) {
  return z.preprocess((v) => (v && typeof v === 'object' && !Array.isArray(v) && 'data' in v ? (v as { data: unknown }).data : v), z.array(item).nullish());
}

const graphQuestionSchema = z
  .object({
    id: graphIdSchema.optional(),
    key: z.union([z.string(), z.number()]).transform((v) => String(v)),
    label: z.string().nullish(),
    // An open string: Meta keeps adding question types (PHONE_OTP, WHATSAPP_NUMBER, ...).
    type: z.string().nullish(),
    options: listOf(graphQuestionOptionSchema),
  })
  .transform((q) => ({
    ...(q.id === undefined ? {} : { id: q.id }),
    key: q.key,
    // The mapping UI always needs something to show; the key is the next best thing.
    label: q.label ?? q.key,
    type: q.type ?? 'CUSTOM',
    options: q.options ?? [],
  }));

export const graphFormSchema = z
  .object({
    id: graphIdSchema,
    name: nullableTextSchema,
    // ACTIVE | ARCHIVED | DELETED | DRAFT, kept open.
    status: nullableTextSchema,
    locale: nullableTextSchema,
    questions: listOf(graphQuestionSchema),
  })
  .transform((f) => ({ id: f.id, name: f.name, status: f.status, locale: f.locale, questions: f.questions ?? [] }));
export type GraphForm = z.output<typeof graphFormSchema>;

const graphFormSummarySchema = z
  .object({
    id: graphIdSchema,
    name: nullableTextSchema,
    status: nullableTextSchema,
    locale: nullableTextSchema,
    created_time: graphTimeSchema.nullish(),
    leads_count: z.coerce.number().int().nullish(),
    // Only when asked for (GRAPH_FORM_LIST_FIELDS).
    questions: listOf(graphQuestionSchema),
  })
  .transform((f) => ({
    id: f.id,
    name: f.name,
    status: f.status,
    locale: f.locale,
    createdTime: f.created_time ?? null,
    leadsCount: f.leads_count ?? null,
    /** Null when the questions were not requested. */
    questions: f.questions ?? null,
  }));
export type GraphFormSummary = z.output<typeof graphFormSummarySchema>;

export const graphFormSummaryPageSchema = z.object({ data: z.array(graphFormSummarySchema), paging: graphPagingSchema });

// ---------------------------------------------------------------------------------------------
// debug_token  https://developers.facebook.com/docs/graph-api/reference/debug_token

const unixSecondsOrNeverSchema = z.coerce
  .number()
  .nullish()
  // 0 means "never expires".
  .transform((v) => (v === undefined || v === null || v === 0 || Number.isNaN(v) ? null : v));

export const graphDebugTokenSchema = z
  .object({
    data: z.object({
      app_id: nullableIdSchema,
      type: nullableTextSchema,
      is_valid: booleanishSchema,
      expires_at: unixSecondsOrNeverSchema,
      data_access_expires_at: unixSecondsOrNeverSchema,
      scopes: z
        .array(z.string())
        .nullish()
        .transform((v) => v ?? []),
      /** For a Page token: the Page it belongs to. */
      profile_id: nullableIdSchema,
      error: z.object({ code: z.coerce.number().optional(), subcode: z.coerce.number().optional(), message: z.string().optional() }).nullish(),
    }),
  })
  .transform(({ data }) => ({
    isValid: data.is_valid,
    /** Unix seconds; null when the token never expires. */
    expiresAt: data.expires_at,
    /** Unix seconds after which the token can no longer read user data; null when unknown. */
    dataAccessExpiresAt: data.data_access_expires_at,
    scopes: data.scopes,
    /** The app the token belongs to: compare with our own app id. */
    appId: data.app_id,
    /** `PAGE`, `USER`, `APP`, `SYSTEM_USER`, ... */
    type: data.type,
    /** For a Page token, the Page id; null otherwise. */
    profileId: data.profile_id,
    /** Why Meta considers the token invalid, when it says. */
    errorCode: data.error?.code ?? null,
    errorSubcode: data.error?.subcode ?? null,
    errorMessage: data.error?.message ?? null,
  }));
export type GraphTokenDebug = z.output<typeof graphDebugTokenSchema>;

// ---------------------------------------------------------------------------------------------
// Page  https://developers.facebook.com/docs/graph-api/reference/page/

/** The fields LeadRelay asks for on a Page. */
export const GRAPH_PAGE_FIELDS = ['id', 'name'] as const;

export const graphPageSchema = z.object({ id: graphIdSchema, name: nullableTextSchema });
export type GraphPage = z.output<typeof graphPageSchema>;

// `GET /{page-id}/subscribed_apps`: the apps installed on the Page; an empty `data` means none.
// https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps/
const graphSubscribedAppSchema = z
  .object({
    id: graphIdSchema,
    name: nullableTextSchema,
    // Strings in current versions; absent when Graph does not say.
    subscribed_fields: z.array(z.union([z.string(), z.object({ name: z.string() }).transform((f) => f.name)])).nullish(),
  })
  .transform((a) => ({ id: a.id, name: a.name, subscribedFields: a.subscribed_fields ?? null }));
/** One app installed on a Page. `subscribedFields` is null when Graph did not list them. */
export type GraphSubscribedApp = z.output<typeof graphSubscribedAppSchema>;

export const graphSubscribedAppPageSchema = z.object({ data: z.array(graphSubscribedAppSchema), paging: graphPagingSchema });

// ---------------------------------------------------------------------------------------------
// Writes and errors

export const graphCreatedSchema = z.object({ id: graphIdSchema });

export const graphSuccessSchema = z.object({ success: booleanishSchema });

const optionalCodeSchema = z
  .union([z.number(), z.string().regex(/^-?\d+$/)])
  .optional()
  .catch(undefined)
  .transform((v) => (v === undefined ? undefined : Number(v)));
const optionalTextSchema = z.string().optional().catch(undefined);

/**
 * Graph's error body: `{error:{message, type, code, error_subcode, error_user_title,
 * error_user_msg, is_transient, fbtrace_id}}`. Every member is optional and tolerant, so a
 * partly odd body still yields what it does carry.
 * https://developers.facebook.com/docs/graph-api/guides/error-handling
 */
export const graphErrorBodySchema = z.object({
  error: z.object({
    message: optionalTextSchema,
    type: optionalTextSchema,
    code: optionalCodeSchema,
    error_subcode: optionalCodeSchema,
    error_user_title: optionalTextSchema,
    error_user_msg: optionalTextSchema,
    is_transient: z.boolean().optional().catch(undefined),
    fbtrace_id: optionalTextSchema,
  }),
});

// ---------------------------------------------------------------------------------------------
// Facebook Login: tokens, the person, their permissions and their Pages
// https://developers.facebook.com/documentation/facebook-login/guides/advanced/manual-flow

/** `GET /oauth/access_token` (code exchange, or `grant_type=fb_exchange_token`). */
export const graphAccessTokenSchema = z
  .object({
    access_token: z.string().min(1),
    token_type: z.string().nullish(),
    // Seconds; absent for tokens that do not expire.
    expires_in: z.coerce.number().int().nonnegative().nullish(),
  })
  .transform((t) => ({ accessToken: t.access_token, expiresInSeconds: t.expires_in ?? null }));
export type GraphAccessToken = z.output<typeof graphAccessTokenSchema>;

/** `GET /me?fields=id,name` with a user token. */
export const graphMeSchema = z.object({ id: graphIdSchema, name: nullableTextSchema }).transform((m) => ({ id: m.id, name: m.name }));
export type GraphMe = z.output<typeof graphMeSchema>;

/** `GET /me/permissions`: one row per permission the person was asked for, `granted`, `declined` or `expired`. */
const graphPermissionSchema = z.object({ permission: z.string().min(1), status: z.string().min(1) });
export type GraphPermission = z.output<typeof graphPermissionSchema>;
export const graphPermissionPageSchema = z.object({ data: z.array(graphPermissionSchema), paging: graphPagingSchema });

/** The fields LeadRelay asks for on each of `GET /me/accounts`. */
export const GRAPH_ACCOUNT_FIELDS = ['id', 'name', 'access_token', 'tasks', 'category'] as const;

// `GET /me/accounts`: the Pages the person has a role on, each with a Page token and the tasks
// the person may do there (MANAGE, CREATE_CONTENT, MODERATE, ADVERTISE, ANALYZE, ...).
const graphAccountSchema = z
  .object({
    id: graphIdSchema,
    name: nullableTextSchema,
    access_token: z.string().nullish(),
    tasks: z.array(z.string()).nullish(),
    category: nullableTextSchema,
  })
  .transform((a) => ({ id: a.id, name: a.name, accessToken: a.access_token ?? null, tasks: a.tasks ?? [], category: a.category }));
/** One Page the person manages. `accessToken` is that Page's token: a secret, never shown or logged. */
export type GraphAccount = z.output<typeof graphAccountSchema>;
export const graphAccountPageSchema = z.object({ data: z.array(graphAccountSchema), paging: graphPagingSchema });

// `GET /{page-id}?fields=has_lead_access.user_id(U).app_id(A)`: whether that person and app may
// read the Page's leads, as the business's Leads Access Manager decides (needs leads_retrieval).
// https://developers.facebook.com/docs/graph-api/reference/has-lead-access/
const optionalBoolSchema = z
  .union([z.boolean(), z.string(), z.number()])
  .nullish()
  .transform((v) => (v === undefined || v === null ? null : v === true || v === 1 || v === '1' || v === 'true'));
export const graphLeadAccessSchema = z
  .object({
    id: graphIdSchema.optional(),
    has_lead_access: z
      .object({
        app_has_leads_permission: optionalBoolSchema,
        can_access_lead: optionalBoolSchema,
        enabled_lead_access_manager: optionalBoolSchema,
        failure_reason: nullableTextSchema,
        failure_resolution: nullableTextSchema,
        is_page_admin: optionalBoolSchema,
        user_has_leads_permission: optionalBoolSchema,
      })
      .nullish(),
  })
  .transform(({ has_lead_access: h }) => ({
    /** Null when Graph did not say. */
    canAccessLead: h?.can_access_lead ?? null,
    appHasLeadsPermission: h?.app_has_leads_permission ?? null,
    userHasLeadsPermission: h?.user_has_leads_permission ?? null,
    isLeadAccessManagerEnabled: h?.enabled_lead_access_manager ?? null,
    isPageAdmin: h?.is_page_admin ?? null,
    failureReason: h?.failure_reason || null,
    failureResolution: h?.failure_resolution || null,
  }));
export type GraphLeadAccess = z.output<typeof graphLeadAccessSchema>;

// `GET /{app-id}/subscriptions` (app token): the app's webhook subscriptions, one per object.
// https://developers.facebook.com/docs/graph-api/reference/app/subscriptions/
const graphAppSubscriptionSchema = z
  .object({
    object: z.string(),
    callback_url: z.string().nullish(),
    active: booleanishSchema,
    fields: z.array(z.union([z.string(), z.object({ name: z.string() }).transform((f) => f.name)])).nullish(),
  })
  .transform((s) => ({ object: s.object, callbackUrl: s.callback_url ?? null, isActive: s.active, fields: s.fields ?? [] }));
export type GraphAppSubscription = z.output<typeof graphAppSubscriptionSchema>;
export const graphAppSubscriptionPageSchema = z.object({ data: z.array(graphAppSubscriptionSchema), paging: graphPagingSchema });

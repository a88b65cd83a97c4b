// Static facts about the generic HTTPS destination: its id, auth modes, config and credential
// schemas, the headers it sends, the fields it "writes" (the whole canonical record) and the
// command-line flags it takes (webhookManifest, what the rest of the program reads).
//
// What a receiver gets, and how it checks it (also for the README):
//   POST <url>
//   Content-Type: application/json
//   User-Agent: LeadRelay/<version>
//   Idempotency-Key: <delivery id>        same value on every retry of this lead × destination;
//   X-LeadRelay-Delivery: <delivery id>   dedupe on it
//   X-LeadRelay-Timestamp: <unix seconds>
//   X-LeadRelay-Signature: sha256=<hex>   only when a signing secret is set
//   body: the canonical lead record (src/lead/canonical.ts), JSON. When the route has a field
//         mapping, the record carries one more top-level key, `fields`: the mapped values
//         (`{"<key>": string | number | boolean, ...}`; a rule that produced nothing leaves its
//         key out). Without a mapping the body is the canonical record alone. `answers` always
//         holds every answer, mapped or not.
//
// Field mapping (WEBHOOK_FIELD_MAPPING): targets are open — any key is a `fields` key — and a
// route without a mapping of its own sends no `fields`. `mappings suggest` maps every question
// to a key named like the question key, plus the lr_* attribution keys below
// (config/mappings/webhook.json), and answers no rule took to `unmapped_answers`.
//
// Checking the signature: take the raw request body bytes (before any JSON parsing), compute
// HMAC-SHA256 with the shared secret over `${X-LeadRelay-Timestamp}.${rawBody}`, hex-encode it,
// and compare with the part after `sha256=` in constant time. Then refuse the request when the
// timestamp is more than 5 minutes from your clock: the timestamp is inside the signed text, so
// a captured request cannot be replayed later with a fresh timestamp.
//
// What the receiver answers:
//   2xx                      accepted. `{"id": "..."}` (string or number) becomes the external id;
//                            without one, the delivery id is the external id.
//   208, or 2xx with         "I already had this Idempotency-Key": recorded as `updated`.
//     {"duplicate": true}
//   409                      "a request with this key is still being processed" (IETF
//                            idempotency-key draft): retried later, not a rejection.
//   429 / 503 + Retry-After  wait that long, then retry (seconds or HTTP-date).
//   other 5xx, 408, 425      retried with backoff.
//   401 / 403                the destination is parked until someone fixes it.
//   3xx                      refused; redirects are never followed.
//   other 4xx                rejected for good; the body's `message`/`error` (or the body itself)
//                            is shown to the marketer, and `field` names the field, if given.
import { z } from 'zod';
import type { ConnectorAuth, ConnectorManifest, FieldDescriptor, FieldMappingSupport, FieldType } from '../types.js';
import type { CanonicalLead } from '../../src/lead/canonical.js';
import { LEADRELAY_VERSION } from '../../src/util/version.js';

const WEBHOOK_CONNECTOR_ID = 'webhook';
const WEBHOOK_CONNECTOR_LABEL = 'HTTPS endpoint (webhook)';

export const WEBHOOK_HEADERS = {
  idempotencyKey: 'Idempotency-Key',
  delivery: 'X-LeadRelay-Delivery',
  timestamp: 'X-LeadRelay-Timestamp',
  signature: 'X-LeadRelay-Signature',
} as const;
export const WEBHOOK_USER_AGENT = `LeadRelay/${LEADRELAY_VERSION}`;

/** Headers the connector sets itself, or that carry secrets/transport framing: not user-settable. */
const reservedHeaderNames = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'host',
  'user-agent',
  'idempotency-key',
  // Config is stored unencrypted and shown in the wizard: secret-bearing headers don't belong in it.
  'authorization',
  'proxy-authorization',
  'cookie',
]);

/** RFC 9110 token characters. */
const headerNamePattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export const webhookConfigSchema = z.object({
  url: z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute URL, e.g. https://example.com/leads' });
      return;
    }
    // https only; http is accepted here and refused at delivery time unless private
    // destinations are allowed (the operator setting is not known to the schema).
    if (url.protocol !== 'https:' && url.protocol !== 'http:') ctx.addIssue({ code: 'custom', message: 'must use https' });
    if (url.username !== '' || url.password !== '') ctx.addIssue({ code: 'custom', message: 'must not contain a user name or password' });
  }),
  /** Extra, non-secret headers sent with every delivery. */
  headers: z
    .record(z.string(), z.string())
    .optional()
    .superRefine((headers, ctx) => {
      for (const [name, value] of Object.entries(headers ?? {})) {
        const lower = name.toLowerCase();
        if (!headerNamePattern.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `header name "${name}" is not a valid HTTP header name` });
        else if (reservedHeaderNames.has(lower) || lower.startsWith('x-leadrelay-')) {
          ctx.addIssue({ code: 'custom', path: [name], message: `header "${name}" is set by LeadRelay or carries a secret, and cannot be configured` });
        }
        if (/[\r\n\0]/.test(value)) ctx.addIssue({ code: 'custom', path: [name], message: `header "${name}" contains a line break or NUL` });
      }
    }),
});
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

export const webhookCredentialsSchema = z.object({
  /** HMAC-SHA256 signing secret; without it, requests are sent unsigned. */
  secret: z.string().min(16, 'signing secret must be at least 16 characters').optional(),
});
export type WebhookCredentials = z.infer<typeof webhookCredentialsSchema>;

const webhookAuth: ConnectorAuth[] = [
  { type: 'none' },
  {
    type: 'secret',
    description: 'Optional signing secret. Each request then carries X-LeadRelay-Signature: sha256=<hex HMAC-SHA256 of "<X-LeadRelay-Timestamp>.<raw body>">.',
  },
];

// Typed by the canonical record's keys, so adding a top-level field without describing it
// fails to compile.
const canonicalFieldFacts: Record<keyof CanonicalLead, { label: string; type: FieldType }> = {
  schema: { label: 'Record schema version', type: 'string' },
  id: { label: 'LeadRelay lead id', type: 'id' },
  leadgen_id: { label: 'Meta leadgen id', type: 'id' },
  workspace_id: { label: 'Workspace id', type: 'id' },
  page: { label: 'Facebook page (id, name)', type: 'other' },
  form: { label: 'Lead form (id, name)', type: 'other' },
  created_time: { label: 'Submitted at', type: 'datetime' },
  platform: { label: 'Platform (fb, ig)', type: 'string' },
  is_organic: { label: 'Organic lead', type: 'boolean' },
  attribution: { label: 'Ad attribution (ad, ad set, campaign)', type: 'other' },
  answers: { label: 'Form answers', type: 'other' },
  consents: { label: 'Consent checkboxes', type: 'other' },
  is_test: { label: 'Test lead', type: 'boolean' },
  received_at: { label: 'Received by LeadRelay at', type: 'datetime' },
};

/**
 * The webhook posts the whole canonical record, so its "fields" are the record's top-level
 * paths; every one is always present (some may be null).
 */
export function describeWebhookFields(): FieldDescriptor[] {
  return Object.entries(canonicalFieldFacts).map(([key, facts]) => ({ key, label: facts.label, type: facts.type, required: true }));
}

/**
 * `fields` keys with a documented meaning: what the webhook preset (config/mappings/webhook.json)
 * writes besides the question keys. Validation checks the values written to them; any other key
 * is accepted as it is.
 */
const webhookKnownTargets: FieldDescriptor[] = [
  ['lr_leadgen_id', 'Meta leadgen id', 'string'],
  ['lr_created_time', 'Submitted at', 'datetime'],
  ['lr_platform', 'Platform (fb, ig)', 'string'],
  ['lr_is_organic', 'Organic lead', 'boolean'],
  ['lr_lead_source', 'Lead source (Facebook or Instagram Lead Ads)', 'string'],
  ['lr_page_id', 'Facebook page id', 'string'],
  ['lr_page_name', 'Facebook page name', 'string'],
  ['lr_form_id', 'Lead form id', 'string'],
  ['lr_form_name', 'Lead form name', 'string'],
  ['lr_ad_id', 'Ad id', 'string'],
  ['lr_ad_name', 'Ad name', 'string'],
  ['lr_adset_id', 'Ad set id', 'string'],
  ['lr_adset_name', 'Ad set name', 'string'],
  ['lr_campaign_id', 'Campaign id', 'string'],
  ['lr_campaign_name', 'Campaign name', 'string'],
  ['unmapped_answers', 'Answers no rule took, one "Label: value" line each', 'text'],
].map(([key, label, type]) => ({ key, label, type: type as FieldType, required: false }));

/** Open targets; a route without a mapping sends the canonical record alone. */
const WEBHOOK_FIELD_MAPPING: FieldMappingSupport = { targets: 'open', withoutRouteMapping: 'none', knownTargets: webhookKnownTargets };

export const webhookManifest: ConnectorManifest<WebhookConfig, WebhookCredentials> = {
  id: WEBHOOK_CONNECTOR_ID,
  label: WEBHOOK_CONNECTOR_LABEL,
  auth: webhookAuth,
  configSchema: webhookConfigSchema,
  credentialsSchema: webhookCredentialsSchema,
  fieldMapping: WEBHOOK_FIELD_MAPPING,
  mappingPreset: 'config/mappings/webhook.json',
  cli: {
    inputs: [
      {
        flag: 'url',
        description: 'the https endpoint; private and loopback addresses (and plain http) are refused unless LEADRELAY_ALLOW_PRIVATE_DESTINATIONS=true',
        target: 'config',
        key: 'url',
        required: true,
        secret: false,
        outbound: true,
        label: 'URL',
      },
      { flag: 'secret', description: 'HMAC signing secret, at least 16 characters', target: 'credentials', key: 'secret', required: false, secret: true },
    ],
    // The host names it; an unparsable URL is refused (and named) before the name matters.
    defaultName: (config) => (typeof config.url === 'string' && URL.canParse(config.url) ? new URL(config.url).host : 'Webhook'),
    // Its only credential is the optional signing secret: `reauth` keeps it unless --secret is given.
    credentialsLabel: 'signing secret',
  },
  load: async () => (await import('./index.js')).webhookConnector,
};

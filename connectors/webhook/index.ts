// The generic HTTPS destination: POSTs the canonical lead record, signed, to the marketer's URL.
// Hostile by default (src/util/outbound-guard.ts): public addresses only, pinned connection,
// fixed timeout, no redirects, capped response body. Facts about the wire format and what
// receivers should answer are in manifest.ts.
import type { Connector, ConnectorContext, DeliveryRecord, DeliveryResult, FieldDescriptor } from '../types.js';
import { ConnectorError } from '../types.js';
import { guardOutboundUrl, type ResolveHost } from '../../src/util/outbound-guard.js';
import { classifyWebhookResponse } from './classify-error.js';
import { buildWebhookBody, buildWebhookRequest, sendWebhookRequest, type WebhookAnswer, type WebhookExchange } from './client.js';
import {
  describeWebhookFields,
  webhookConfigSchema,
  webhookCredentialsSchema,
  webhookManifest,
  type WebhookConfig,
  type WebhookCredentials,
} from './manifest.js';

export type WebhookContext = ConnectorContext<WebhookConfig, WebhookCredentials>;

export interface WebhookConnectorDeps {
  /** The DNS step of the outbound guard; defaults to the system resolver. Tests inject one. */
  resolveHost?: ResolveHost;
}

/** Turns one exchange into a delivery result or the failure to throw. Pure. */
export function interpretWebhookExchange(
  exchange: WebhookExchange,
  idempotencyKey: string,
  nowMs: number,
): { isDelivered: true; result: DeliveryResult } | { isDelivered: false; error: ConnectorError } {
  if (exchange.outcome === 'refused') {
    return {
      isDelivered: false,
      error: new ConnectorError({
        kind: 'invalid',
        reason: exchange.refusal.reason,
        crmMessage: exchange.refusal.message,
      }),
    };
  }
  if (exchange.outcome === 'failed') {
    const failure = classifyWebhookResponse({ networkCode: exchange.networkCode });
    return { isDelivered: false, error: new ConnectorError({ kind: failure.kind, reason: failure.reason }) };
  }
  const { answer } = exchange;
  const failure = classifyWebhookResponse({ status: answer.status, headers: answer.headers, body: answer.body, nowMs });
  if (failure) {
    return {
      isDelivered: false,
      error: new ConnectorError({ ...failure, responseBody: answer.body }),
    };
  }
  return { isDelivered: true, result: readDeliveryResult(answer, idempotencyKey) };
}

function readDeliveryResult(answer: WebhookAnswer, idempotencyKey: string): DeliveryResult {
  let body: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = JSON.parse(answer.body);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (or truncated): no id to read, which is fine.
  }
  const id = body?.id;
  const externalId = typeof id === 'string' && id !== '' ? id : typeof id === 'number' && Number.isFinite(id) ? String(id) : idempotencyKey;
  // 208 Already Reported or {"duplicate": true}: the receiver deduped on Idempotency-Key.
  const isDuplicate = answer.status === 208 || body?.duplicate === true;
  return { externalId, action: isDuplicate ? 'updated' : 'created', httpStatus: answer.status, responseBody: answer.body };
}

/** `fields` for the body: present whenever a mapping applied, even if it wrote nothing for this lead. */
function mappedFields(record: DeliveryRecord): DeliveryRecord['fields'] | undefined {
  return record.isMapped ? (record.fields ?? {}) : undefined;
}

export function createWebhookConnector(deps: WebhookConnectorDeps = {}): Connector<WebhookConfig, WebhookCredentials> {
  return {
    ...webhookManifest,

    /** The canonical record's top-level keys: what every body carries (mapping targets are open). */
    async describeFields(): Promise<FieldDescriptor[]> {
      return describeWebhookFields();
    },

    renderBody(record: DeliveryRecord): unknown {
      return buildWebhookBody(record.lead, mappedFields(record));
    },

    async deliver(ctx: WebhookContext, record: DeliveryRecord): Promise<DeliveryResult> {
      const nowMs = ctx.now();
      const request = buildWebhookRequest({
        lead: record.lead,
        fields: mappedFields(record),
        idempotencyKey: record.idempotencyKey,
        nowMs,
        secret: ctx.credentials?.secret,
        extraHeaders: ctx.config.headers,
      });
      const exchange = await sendWebhookRequest(ctx.config.url, request, {
        timeoutMs: ctx.settings.timeoutMs,
        responseBodyMaxBytes: ctx.settings.responseBodyMaxBytes,
        allowPrivateDestinations: ctx.settings.allowPrivateDestinations,
        resolveHost: deps.resolveHost,
      });
      const outcome = interpretWebhookExchange(exchange, record.idempotencyKey, ctx.now());
      if (!outcome.isDelivered) throw outcome.error;
      return outcome.result;
    },

    /**
     * A HEAD or OPTIONS probe says little (many receivers only answer POST, and a POST would
     * create a record), so verify sends nothing: it checks the config and the URL, resolves the
     * host and applies the private-address rules a delivery would.
     */
    async verify(ctx: WebhookContext): Promise<void> {
      const config = webhookConfigSchema.safeParse(ctx.config);
      if (!config.success) {
        throw new ConnectorError({
          kind: 'invalid',
          reason: 'invalid_config',
          crmMessage: config.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; '),
        });
      }
      const credentials = webhookCredentialsSchema.safeParse(ctx.credentials ?? {});
      if (!credentials.success) {
        throw new ConnectorError({ kind: 'invalid', reason: 'invalid_credentials', crmMessage: credentials.error.issues.map((i) => i.message).join('; ') });
      }
      const guarded = await guardOutboundUrl(config.data.url, {
        allowPrivateDestinations: ctx.settings.allowPrivateDestinations,
        resolveHost: deps.resolveHost,
      });
      if (guarded.isAllowed) return;
      const { refusal } = guarded;
      if (refusal.reason === 'dns_lookup_failed') {
        const failure = classifyWebhookResponse({ networkCode: refusal.networkCode });
        throw new ConnectorError({ kind: failure.kind, reason: failure.reason, crmMessage: refusal.message });
      }
      throw new ConnectorError({ kind: 'invalid', reason: refusal.reason, crmMessage: refusal.message });
    },
  };
}

/** The registered instance (system resolver). */
export const webhookConnector = createWebhookConnector();

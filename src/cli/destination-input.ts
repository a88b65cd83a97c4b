// Turns `destinations add` flags into a destination's non-secret config and its credentials,
// per type, then lets the connector's own schemas judge them. A URL LeadRelay will call is put
// through the same outbound guard delivery uses (src/util/outbound-guard.ts), so a refused URL
// is refused when it is typed, not when the first lead fails.
import { guardOutboundUrl, type OutboundPolicy } from '../util/outbound-guard.js';

export interface DestinationFlags {
  type: string;
  name?: string;
  url?: string;
  secret?: string;
  token?: string;
  instanceUrl?: string;
  accessToken?: string;
  refreshToken?: string;
  loginUrl?: string;
  sobject?: string;
  externalIdField?: string;
  apiToken?: string;
  companyDomain?: string;
}

export interface DestinationInput {
  name: string;
  config: Record<string, unknown>;
  credentials: Record<string, unknown>;
}

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

function need(value: string | undefined, flag: string, type: string): string {
  if (!value) throw new InputError(`--${flag} is required for --type ${type}`);
  return value;
}

export function destinationInputFromFlags(f: DestinationFlags): DestinationInput {
  switch (f.type) {
    case 'webhook': {
      const url = need(f.url, 'url', 'webhook');
      // An unparsable URL is judged (and named) by checkOutboundUrl; the name just falls back.
      return { name: f.name ?? (URL.canParse(url) ? new URL(url).host : 'Webhook'), config: { url }, credentials: f.secret !== undefined ? { secret: f.secret } : {} };
    }
    case 'hubspot':
      return { name: f.name ?? 'HubSpot', config: {}, credentials: { type: 'private_app', accessToken: need(f.token, 'token', 'hubspot') } };
    case 'salesforce':
      return {
        name: f.name ?? 'Salesforce',
        config: {
          ...(f.sobject ? { sobject: f.sobject } : {}),
          ...(f.externalIdField ? { externalIdField: f.externalIdField } : {}),
          ...(f.loginUrl ? { loginUrl: f.loginUrl } : {}),
        },
        credentials: {
          instanceUrl: need(f.instanceUrl, 'instance-url', 'salesforce'),
          accessToken: need(f.accessToken, 'access-token', 'salesforce'),
          refreshToken: need(f.refreshToken, 'refresh-token', 'salesforce'),
        },
      };
    case 'pipedrive':
      return {
        name: f.name ?? 'Pipedrive',
        config: {},
        credentials: { type: 'api_token', apiToken: need(f.apiToken, 'api-token', 'pipedrive'), ...(f.companyDomain ? { companyDomain: f.companyDomain } : {}) },
      };
    default:
      throw new InputError(`unknown destination type "${f.type}"; known: webhook, hubspot, salesforce, pipedrive`);
  }
}

/** Which flag carries each config or credential member, per type, so a schema's complaint names what to fix. */
const FLAG_OF: Record<string, Record<string, string>> = {
  webhook: { url: '--url', secret: '--secret' },
  hubspot: { accessToken: '--token' },
  salesforce: {
    instanceUrl: '--instance-url',
    accessToken: '--access-token',
    refreshToken: '--refresh-token',
    loginUrl: '--login-url',
    sobject: '--sobject',
    externalIdField: '--external-id-field',
  },
  pipedrive: { apiToken: '--api-token', companyDomain: '--company-domain' },
};

/** One line for a connector schema's issues, each led by the flag that carries the value. */
export function describeIssues(type: string, issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .map((i) => {
      const key = i.path.map(String).join('.');
      const flag = FLAG_OF[type]?.[String(i.path[0] ?? '')];
      return `${flag ?? (key || 'value')}: ${i.message}`;
    })
    .join('; ');
}

/**
 * The config values that are URLs LeadRelay itself calls through the outbound guard at delivery
 * time, with the flag that sets each. (CRM connectors call their vendor's API hosts.)
 */
export function outboundUrlsOf(type: string, config: Record<string, unknown>): { flag: string; url: string }[] {
  if (type === 'webhook' && typeof config.url === 'string') return [{ flag: '--url', url: config.url }];
  return [];
}

export interface OutboundUrlCheck extends OutboundPolicy {
  /** The guard's DNS step gets this long (delivery's own timeout); past it the host counts as unresolved. */
  timeoutMs: number;
}

/**
 * Applies the outbound guard to a URL given on the command line, with the operator's policy.
 * Throws InputError (one line naming the flag) for what delivery would refuse; returns a warning
 * when the host does not resolve now, which delivery treats as a passing network failure.
 */
export async function checkOutboundUrl(flag: string, rawUrl: string, check: OutboundUrlCheck): Promise<{ warning?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed_out'>((resolve) => {
    timer = setTimeout(() => resolve('timed_out'), check.timeoutMs);
  });
  const outcome = await Promise.race([guardOutboundUrl(rawUrl, { allowPrivateDestinations: check.allowPrivateDestinations, resolveHost: check.resolveHost }), timedOut]).finally(() =>
    clearTimeout(timer),
  );
  if (outcome === 'timed_out') {
    return { warning: `${flag}: the host did not resolve within ${check.timeoutMs} ms; stored anyway (deliveries fail and are retried until it resolves)` };
  }
  if (outcome.isAllowed) return {};
  const { refusal } = outcome;
  switch (refusal.reason) {
    case 'invalid_url':
      throw new InputError(`${flag} is not a valid URL: give an absolute https URL, e.g. https://crm.example.com/leads`);
    case 'dns_lookup_failed':
      return { warning: `${flag}: ${refusal.message}; stored anyway (deliveries fail and are retried until it resolves)` };
    case 'scheme_refused': {
      // Plain http is the one refusal the operator's setting lifts; say which setting.
      const isHttp = /^http:/i.test(rawUrl.trim());
      throw new InputError(`${flag} refused: ${refusal.message}${isHttp ? '; LEADRELAY_ALLOW_PRIVATE_DESTINATIONS=true allows it on a developer machine or closed network' : ''}`);
    }
    default:
      throw new InputError(`${flag} refused: ${refusal.message}`);
  }
}

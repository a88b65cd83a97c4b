// Turns `destinations add` flags into a destination's non-secret config and its credentials,
// per type, then lets the connector's own schemas judge them.
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
      return { name: f.name ?? new URL(url).host, config: { url }, credentials: f.secret ? { secret: f.secret } : {} };
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

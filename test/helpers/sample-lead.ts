// Sample canonical leads and delivery records for tests.
import { CANONICAL_SCHEMA_VERSION, type CanonicalLead } from '../../src/lead/canonical.js';
import type { ConnectorContext, ConnectorMemory, ConnectorSettings, DeliveryRecord } from '../../connectors/types.js';
import { createConnectorMemory } from '../../src/pipeline/connector-memory.js';
import { KeyedMutex } from '../../src/util/keyed-mutex.js';

export function makeSampleLead(overrides: Partial<CanonicalLead> = {}): CanonicalLead {
  return {
    schema: CANONICAL_SCHEMA_VERSION,
    id: '7d0c1f6e-7f5a-4c56-9a36-5f7c9d3f0a11',
    leadgen_id: '1234567890123456789',
    workspace_id: 'f3c1b0de-1111-4a4a-8888-000000000001',
    page: { id: '100200300', name: 'Acme Bikes' },
    form: { id: '555666777', name: 'Spring test ride' },
    created_time: '2026-11-20T10:15:00.000Z',
    platform: 'ig',
    is_organic: false,
    attribution: {
      ad_id: '2385000001',
      ad_name: 'Carousel A',
      adset_id: '2385000002',
      adset_name: 'Cyclists 25-45',
      campaign_id: '2385000003',
      campaign_name: 'Spring 2026',
    },
    answers: [
      { key: 'full_name', values: ['Zoë Ångström-Núñez'] },
      { key: 'email', values: ['zoe.angstrom@example.com'] },
      { key: 'phone_number', values: ['+44 7700 900123'] },
      { key: 'favorite_color?', values: ['blue', 'green'] },
    ],
    consents: [{ key: 'newsletter_optin', checked: true }],
    is_test: false,
    received_at: '2026-11-20T10:15:01.000Z',
    ...overrides,
  };
}

export function makeSampleRecord(overrides: Partial<DeliveryRecord> = {}): DeliveryRecord {
  const lead = overrides.lead ?? makeSampleLead();
  return {
    lead,
    fields: {
      email: 'zoe.angstrom@example.com',
      firstname: 'Zoë',
      lastname: 'Ångström-Núñez',
      phone: '+447700900123',
    },
    unmappedNote: 'favorite_color?: blue, green',
    idempotencyKey: 'b9e0d9a4-0000-4000-8000-00000000d001',
    ...overrides,
  };
}

/** The settings every connector shares, as tests use them; `connector` (its own settings) is empty. */
export const testConnectorSettings: ConnectorSettings = {
  timeoutMs: 2000,
  allowPrivateDestinations: true,
  responseBodyMaxBytes: 4096,
  connector: {},
};

/** Each CRM's own settings (the keys its manifest's `settings` declares), as tests use them. */
export const testCrmSettings = {
  hubspot: { apiUrl: 'https://api.hubapi.com', appUrl: 'https://app.hubspot.com', clientId: 'hs-client', clientSecret: 'hs-secret' },
  salesforce: { loginUrl: 'https://login.salesforce.com', apiVersion: '62.0', clientId: 'sf-client', clientSecret: 'sf-secret' },
  pipedrive: { apiUrl: 'https://api.pipedrive.com', oauthUrl: 'https://oauth.pipedrive.com', clientId: 'pd-client', clientSecret: 'pd-secret' },
};

/**
 * What the contexts of one destination share, in memory: its locks and its recent records (in
 * the program, PostgreSQL holds both), and ctx.memory (in the program, the App's). Pass one to
 * several makeTestContext calls to model concurrent deliveries to one destination in one App.
 */
export interface TestDestinationState {
  locks: KeyedMutex;
  recentRecords: Map<string, string>;
  /** Every key withLock was called with, in order. */
  lockKeys: string[];
  memory: ConnectorMemory;
}

export function makeTestDestinationState(): TestDestinationState {
  return { locks: new KeyedMutex(), recentRecords: new Map(), lockKeys: [], memory: createConnectorMemory() };
}

/**
 * An in-memory context: saved credentials and state are kept on the returned object for assertions.
 * Its ctx.memory is its destination's (default: a fresh one), so no test sees another's cached fields or tokens.
 */
export function makeTestContext<C, K, S = Record<string, string>>(opts: {
  config: C;
  credentials: K;
  settings?: Partial<ConnectorSettings<S>>;
  now?: () => number;
  /** Shared with other contexts of the same destination (default: a fresh one). */
  destination?: TestDestinationState;
}): ConnectorContext<C, K, S> & { saved: K[]; stateValue: Record<string, unknown> | null; destination: TestDestinationState } {
  const destination = opts.destination ?? makeTestDestinationState();
  const ctx = {
    destinationId: 'd0000000-0000-4000-8000-000000000001',
    workspaceId: 'f3c1b0de-1111-4a4a-8888-000000000001',
    config: opts.config,
    credentials: opts.credentials,
    saved: [] as K[],
    stateValue: null as Record<string, unknown> | null,
    async saveCredentials(next: K) {
      ctx.saved.push(next);
      ctx.credentials = next;
    },
    state: {
      get: async () => ctx.stateValue,
      set: async (v: Record<string, unknown>) => {
        ctx.stateValue = v;
      },
    },
    destination,
    withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
      destination.lockKeys.push(key);
      return destination.locks.run(key, 30_000, () => fn());
    },
    recentRecords: {
      find: async (key: string) => destination.recentRecords.get(key),
      save: async (key: string, externalId: string) => {
        destination.recentRecords.set(key, externalId);
      },
    },
    memory: destination.memory,
    settings: { ...testConnectorSettings, ...(opts.settings ?? {}) } as ConnectorSettings<S>,
    now: opts.now ?? (() => Date.now()),
  };
  return ctx;
}

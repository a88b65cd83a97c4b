// The shared contract every connector passes. Each connector's contract test supplies a harness
// that arranges its CRM (with nock or a loopback fake) for one scenario at a time; this suite
// checks that the connector turns each scenario into the same outcome.
import { expect } from 'chai';
import type { Connector, ConnectorContext, DeliveryRecord } from '../../connectors/types.js';
import { ConnectorError } from '../../connectors/types.js';

export type ContractScenario =
  | { kind: 'created'; externalId: string }
  /** The CRM already holds this lead (a repeat delivery): it must be updated, not created again. */
  | { kind: 'updated'; externalId: string }
  /** The CRM's own "slow down" answer, as the harness's `rateLimit` describes it. */
  | { kind: 'rate_limited' }
  /** A 401 that a token refresh cannot fix (or no refresh is possible). */
  | { kind: 'unauthorized' }
  | { kind: 'invalid'; message: string; field?: string }
  | { kind: 'server_error'; status: number }
  | { kind: 'connection_reset' };

export interface ContractHarness {
  /** A fresh context for one test. */
  makeContext(): ConnectorContext;
  /** Arranges the CRM so the next deliver() meets the scenario. */
  arrange(scenario: ContractScenario, record: DeliveryRecord): void | Promise<void>;
  /** After each test (e.g. nock.cleanAll(); assert all interceptors were used). */
  reset(): void | Promise<void>;
  /** A record with personal data in it; the suite checks none of it leaks into error messages. */
  sampleRecord(): DeliveryRecord;
  /**
   * How this CRM says "slow down", as its documentation shows it (status, body and headers: only
   * some CRMs send Retry-After), and what the connector must make of it. `arrange` answers the
   * `rate_limited` scenario with exactly this.
   */
  rateLimit: RateLimitCase;
}

interface RateLimitCase {
  /** The CRM's answer in a few words, for the test title (e.g. `403 REQUEST_LIMIT_EXCEEDED, no Retry-After`). */
  answer: string;
  /** The reason the connector must report. */
  reason: string;
  /** The wait the connector must derive from the answer. */
  retryAfterMs: number;
  /** How far the reported wait may differ from `retryAfterMs` (default 0). */
  toleranceMs?: number;
}

/** Awaits a connector call that must fail, and returns its ConnectorError (the only type connectors throw). */
export async function expectConnectorError(work: Promise<unknown>): Promise<ConnectorError> {
  try {
    await work;
  } catch (err) {
    expect(err, 'connectors throw ConnectorError only').to.be.instanceOf(ConnectorError);
    return err as ConnectorError;
  }
  throw new Error('expected a ConnectorError, but the call resolved');
}

const deliverExpectingError = (connector: Connector, ctx: ConnectorContext, record: DeliveryRecord) => expectConnectorError(connector.deliver(ctx, record));

/**
 * The connector with every error its calls throw collected, so a file can check at the end that
 * no token or lead answer reached any of them.
 */
export function recordThrownErrors<C, K>(connector: Connector<C, K>): { connector: Connector<C, K>; thrownErrors: unknown[] } {
  const thrownErrors: unknown[] = [];
  const record = <T>(work: Promise<T>): Promise<T> =>
    work.catch((err: unknown) => {
      thrownErrors.push(err);
      throw err;
    });
  return {
    thrownErrors,
    connector: {
      ...connector,
      describeFields: (ctx) => record(connector.describeFields(ctx)),
      deliver: (ctx, rec) => record(connector.deliver(ctx, rec)),
      verify: (ctx) => record(connector.verify(ctx)),
    },
  };
}

/** Personal data in the record: none of it may appear in an error's message. */
function personalValues(record: DeliveryRecord): string[] {
  const out: string[] = [];
  for (const a of record.lead.answers) for (const v of a.values) if (v.length >= 4) out.push(v);
  return out;
}

export function runConnectorContract(name: string, connector: Connector, harness: ContractHarness): void {
  describe(`connector contract: ${name}`, () => {
    afterEach(async () => {
      await harness.reset();
    });

    it('has a registry id, label, auth modes and schemas', () => {
      expect(connector.id).to.match(/^[a-z][a-z0-9-]*$/);
      expect(connector.label).to.be.a('string').and.not.empty;
      expect(connector.auth).to.be.an('array').and.not.empty;
      expect(connector.configSchema).to.have.property('safeParse');
      expect(connector.credentialsSchema).to.have.property('safeParse');
    });

    it('creates a record and reports its id', async () => {
      const record = harness.sampleRecord();
      await harness.arrange({ kind: 'created', externalId: 'ext-created-1' }, record);
      const result = await connector.deliver(harness.makeContext(), record);
      expect(result.action).to.equal('created');
      expect(result.externalId).to.equal('ext-created-1');
    });

    it('updates, never creates twice, when the same lead is delivered again', async () => {
      const record = harness.sampleRecord();
      await harness.arrange({ kind: 'updated', externalId: 'ext-existing-7' }, record);
      const result = await connector.deliver(harness.makeContext(), record);
      expect(result.action).to.equal('updated');
      expect(result.externalId).to.equal('ext-existing-7');
    });

    it(`reports its rate-limit answer (${harness.rateLimit.answer}) as rate_limited with the wait it implies`, async () => {
      const { reason, retryAfterMs, toleranceMs = 0 } = harness.rateLimit;
      const record = harness.sampleRecord();
      await harness.arrange({ kind: 'rate_limited' }, record);
      const err = await deliverExpectingError(connector, harness.makeContext(), record);
      expect(err.kind).to.equal('rate_limited');
      expect(err.reason).to.equal(reason);
      expect(err.retryAfterMs).to.be.a('number');
      expect(Math.abs((err.retryAfterMs ?? 0) - retryAfterMs), `wait ${String(err.retryAfterMs)} ms, expected ${retryAfterMs} ms`).to.be.at.most(toleranceMs);
      for (const v of personalValues(record)) expect(err.message).to.not.contain(v);
    });

    it('reports a 401 it cannot fix as auth', async () => {
      const record = harness.sampleRecord();
      await harness.arrange({ kind: 'unauthorized' }, record);
      const err = await deliverExpectingError(connector, harness.makeContext(), record);
      expect(err.kind).to.equal('auth');
    });

    it("reports a validation error as invalid, with the CRM's own message", async () => {
      const record = harness.sampleRecord();
      await harness.arrange({ kind: 'invalid', message: 'Property "favorite_color" does not exist', field: 'favorite_color' }, record);
      const err = await deliverExpectingError(connector, harness.makeContext(), record);
      expect(err.kind).to.equal('invalid');
      expect(err.crmMessage ?? '').to.contain('favorite_color');
      for (const v of personalValues(record)) expect(err.message).to.not.contain(v);
    });

    it('reports a 5xx as retryable', async () => {
      const record = harness.sampleRecord();
      await harness.arrange({ kind: 'server_error', status: 503 }, record);
      const err = await deliverExpectingError(connector, harness.makeContext(), record);
      expect(err.kind).to.equal('retryable');
      expect(err.reason).to.contain('503');
    });

    it('reports a dropped connection as retryable', async () => {
      const record = harness.sampleRecord();
      await harness.arrange({ kind: 'connection_reset' }, record);
      const err = await deliverExpectingError(connector, harness.makeContext(), record);
      expect(err.kind).to.equal('retryable');
    });
  });
}

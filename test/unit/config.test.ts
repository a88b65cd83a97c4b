// The one typed config: every bad variable named at once, values never echoed, empty strings
// unset, the key ring parsed strictly, and deploy-time defaults read from config/defaults.json.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadConfig, projectRoot, type EnvInput } from '../../src/config/env.js';

const KEY_A = Buffer.alloc(32, 7).toString('base64');
const KEY_B = Buffer.alloc(32, 9).toString('base64');
// Not a repeating pattern, so a quoted fragment of it can be found in a message.
const KEY_C = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');

function expectConfigError(env: EnvInput): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  expect.fail('loadConfig accepted a bad environment');
}

describe('loadConfig', () => {
  it('names every bad variable at once', () => {
    const err = expectConfigError({
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'not a url',
      QUEUE_PREFIX: 'has space',
      META_GRAPH_VERSION: '25',
      LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: 'maybe',
      DELIVERY_MAX_ATTEMPTS: '-2',
    });
    const named = err.problems.map((p) => p.split(':')[0]).sort();
    expect(named).to.deep.equal(
      ['DELIVERY_MAX_ATTEMPTS', 'LEADRELAY_ALLOW_PRIVATE_DESTINATIONS', 'LOG_LEVEL', 'META_GRAPH_VERSION', 'PORT', 'QUEUE_PREFIX', 'REDIS_URL'].sort(),
    );
    for (const name of named) expect(err.message).to.include(`${name}:`);
  });

  it('never echoes a value, which may be a secret', () => {
    const secretish = {
      DATABASE_URL: 'S3cretPassw0rd@db host',
      REDIS_URL: 'hunter2-redis-password',
      PUBLIC_URL: 'my-private-token-value',
      LOG_LEVEL: 'verbose-secret-level',
      PORT: 'port-secret-xyz',
    };
    const err = expectConfigError(secretish);
    expect(err.problems).to.have.length(Object.keys(secretish).length);
    for (const value of Object.values(secretish)) {
      expect(err.message).to.not.include(value);
      expect(err.problems.join('\n')).to.not.include(value);
    }
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({
      PORT: '',
      DATABASE_URL: '',
      LEADRELAY_ENCRYPTION_KEYS: '',
      LOG_LEVEL: '',
      QUEUE_PREFIX: '',
      LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: '',
      META_APP_SECRET: '',
    });
    expect(config.port).to.equal(3000);
    expect(config.database.url).to.equal(undefined);
    expect(config.encryptionKeys).to.equal(undefined);
    expect(config.logLevel).to.equal('info');
    expect(config.queue).to.deep.equal({ redisUrl: undefined, prefix: 'leadrelay' });
    expect(config.database.dataDir).to.equal('./data');
    expect(config.shutdownTimeoutMs).to.equal(25_000);
    expect(config.allowPrivateDestinations).to.equal(false);
    expect(config.meta.appSecret).to.equal('');
  });

  it('takes its deploy-time defaults from config/defaults.json', () => {
    const d = JSON.parse(readFileSync(resolve(projectRoot, 'config/defaults.json'), 'utf8'));
    const c = loadConfig({});
    expect(c.intake).to.deep.equal({
      maxBodyBytes: d.http.maxWebhookBodyBytes,
      batchMaxRows: d.http.intakeBatchMaxRows,
      fetchJobWaitMs: d.http.fetchJobWaitMs,
    });
    expect([c.meta.graphTimeoutMs, c.meta.graphRetries, c.meta.graphRetryMinDelayMs]).to.deep.equal([
      d.graph.timeoutMs,
      d.graph.retries,
      d.graph.retryMinDelayMs,
    ]);
    expect(c.delivery).to.deep.equal({
      timeoutMs: d.delivery.timeoutMs,
      maxAttempts: d.delivery.maxAttempts,
      backoffBaseMs: d.delivery.backoffBaseMs,
      backoffMaxMs: d.delivery.backoffMaxMs,
      responseBodyMaxBytes: d.delivery.responseBodyMaxBytes,
    });
    expect(c.fetch).to.deep.equal({ maxAttempts: d.fetch.maxAttempts, backoffBaseMs: d.fetch.backoffBaseMs });
    expect(c.workers).to.deep.equal({
      fetchConcurrency: d.workers.fetchConcurrency,
      deliverConcurrency: d.workers.deliverConcurrency,
      lockDurationMs: d.workers.lockDurationMs,
      inProcess: false,
      processNice: d.workers.processNice,
    });
    expect(c.watchdog).to.deep.equal({ stallMs: d.watchdog.stallMs, jobMaxMs: d.watchdog.jobMaxMs });
    expect(c.maintenance).to.deep.equal({
      outboxSweepIntervalMs: d.maintenance.outboxSweepIntervalMs,
      outboxMinAgeMs: d.maintenance.outboxMinAgeMs,
      formDriftIntervalMs: d.maintenance.formDriftIntervalMs,
    });
    expect(c.retention).to.deep.equal({
      leadRetentionDays: d.retention.leadRetentionDays,
      attemptRetentionMonths: d.retention.attemptRetentionMonths,
      eventRetentionDays: d.retention.eventRetentionDays,
    });
    expect(c.reconciliation).to.deep.equal({
      intervalMs: d.reconciliation.intervalMs,
      lookbackHours: d.reconciliation.lookbackHours,
      settleMs: d.reconciliation.settleMs,
    });
  });

  it('refuses a reconciliation look-back beyond the ~90 days Meta keeps leads', () => {
    const err = expectConfigError({ RECONCILE_LOOKBACK_HOURS: '2161' });
    expect(err.problems.map((p) => p.split(':')[0])).to.deep.equal(['RECONCILE_LOOKBACK_HOURS']);
    expect(loadConfig({ RECONCILE_LOOKBACK_HOURS: '2160' }).reconciliation.lookbackHours).to.equal(2160);
  });

  it('lets the environment override a default, as a number', () => {
    const c = loadConfig({ DELIVERY_MAX_ATTEMPTS: '3', DELIVERY_BACKOFF_BASE_MS: '25', OUTBOX_MIN_AGE_MS: '0' });
    expect(c.delivery.maxAttempts).to.equal(3);
    expect(c.delivery.backoffBaseMs).to.equal(25);
    expect(c.maintenance.outboxMinAgeMs).to.equal(0);
  });

  // Accepted, each would stop the work role at start with a BullMQ error naming no variable
  // (concurrency, stalledInterval), or spin the maintenance timer with a 0 ms interval.
  it('refuses 0 for settings that only work when positive, naming each', () => {
    const zeroed = ['FETCH_CONCURRENCY', 'DELIVER_CONCURRENCY', 'WORKER_LOCK_DURATION_MS', 'OUTBOX_SWEEP_INTERVAL_MS'];
    const err = expectConfigError(Object.fromEntries(zeroed.map((name) => [name, '0'])));
    expect(err.problems.map((p) => p.split(':')[0]).sort()).to.deep.equal([...zeroed].sort());
  });

  it('keeps a deleted workspace at most 30 days: 30 by default, lower or 0 when set, more refused', () => {
    expect(loadConfig({}).workspaceDeletion.graceDays).to.equal(30);
    expect(loadConfig({ WORKSPACE_DELETION_GRACE_DAYS: '0' }).workspaceDeletion.graceDays).to.equal(0);
    expect(loadConfig({ WORKSPACE_DELETION_GRACE_DAYS: '7' }).workspaceDeletion.graceDays).to.equal(7);
    for (const bad of ['31', '-1', '2.5'])
      expect(expectConfigError({ WORKSPACE_DELETION_GRACE_DAYS: bad }).problems.map((p) => p.split(':')[0])).to.deep.equal(['WORKSPACE_DELETION_GRACE_DAYS']);
  });

  it('takes a worker process niceness from 0 to 19, naming WORKER_PROCESS_NICE otherwise', () => {
    expect(loadConfig({ WORKER_PROCESS_NICE: '0' }).workers.processNice).to.equal(0);
    expect(loadConfig({ WORKER_PROCESS_NICE: '19' }).workers.processNice).to.equal(19);
    for (const bad of ['20', '-1', '2.5', 'low'])
      expect(
        expectConfigError({ WORKER_PROCESS_NICE: bad }).problems.map((p) => p.split(':')[0]),
        bad,
      ).to.deep.equal(['WORKER_PROCESS_NICE']);
  });

  it('reads booleans and strips trailing slashes from base URLs', () => {
    expect(loadConfig({ LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: 'yes' }).allowPrivateDestinations).to.equal(true);
    expect(loadConfig({ LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: '0' }).allowPrivateDestinations).to.equal(false);
    const c = loadConfig({ PUBLIC_URL: 'https://leads.example.com/', META_GRAPH_URL: 'http://127.0.0.1:9999/' });
    expect(c.publicUrl).to.equal('https://leads.example.com');
    expect(loadConfig({ PORT: '3999' }).publicUrl, 'unset, it follows PORT').to.equal('http://localhost:3999');
    expect(c.meta.graphUrl).to.equal('http://127.0.0.1:9999');
  });

  describe('key ring (LEADRELAY_ENCRYPTION_KEYS)', () => {
    it('parses kid:base64 pairs in order, the first being the encrypting key', () => {
      const c = loadConfig({ LEADRELAY_ENCRYPTION_KEYS: ` new:${KEY_B} , old:${KEY_A} ` });
      expect(c.encryptionKeys?.map((k) => k.kid)).to.deep.equal(['new', 'old']);
      expect(c.encryptionKeys?.[0].key.equals(Buffer.alloc(32, 9))).to.equal(true);
      expect(c.encryptionKeys?.[1].key.equals(Buffer.alloc(32, 7))).to.equal(true);
    });

    it('refuses a key that does not decode to 32 bytes, naming the key id and length', () => {
      const short = Buffer.alloc(16, 1).toString('base64');
      const err = expectConfigError({ LEADRELAY_ENCRYPTION_KEYS: `k1:${short}` });
      expect(err.problems).to.deep.equal(['LEADRELAY_ENCRYPTION_KEYS: key "k1" must decode to 32 bytes (got 16); make one with: openssl rand -base64 32']);
      expect(err.message).to.not.include(short);
    });

    it('refuses a key id given twice', () => {
      const err = expectConfigError({ LEADRELAY_ENCRYPTION_KEYS: `k1:${KEY_A},k1:${KEY_B}` });
      expect(err.problems).to.deep.equal(['LEADRELAY_ENCRYPTION_KEYS: key id "k1" appears twice']);
      expect(err.message).to.not.include(KEY_A).and.not.include(KEY_B);
    });

    it('reports every key problem together, beside other bad variables', () => {
      const err = expectConfigError({ LEADRELAY_ENCRYPTION_KEYS: `k1:${Buffer.alloc(8).toString('base64')},k1:${KEY_A},bad kid!:${KEY_B}`, PORT: 'x' });
      expect(err.problems.filter((p) => p.startsWith('LEADRELAY_ENCRYPTION_KEYS:'))).to.have.length(3);
      expect(err.problems.some((p) => p.startsWith('PORT:'))).to.equal(true);
    });

    it('refuses a list with no keys in it', () => {
      const err = expectConfigError({ LEADRELAY_ENCRYPTION_KEYS: ' , ,' });
      expect(err.problems).to.deep.equal(['LEADRELAY_ENCRYPTION_KEYS: no keys given']);
    });

    // No 6-character run of the key may appear in the message.
    it('does not echo key material when an entry lacks its key id', () => {
      const err = expectConfigError({ LEADRELAY_ENCRYPTION_KEYS: KEY_C });
      expect(err.problems.some((p) => p.includes('is not kid:base64key'))).to.equal(true);
      for (let i = 0; i + 6 <= KEY_C.length; i++) expect(err.message).to.not.include(KEY_C.slice(i, i + 6));
    });

    // Written the wrong way round (`base64:kid`): the key must not be quoted as a "key id".
    it('does not echo key material when key and key id are swapped', () => {
      const err = expectConfigError({ LEADRELAY_ENCRYPTION_KEYS: `${KEY_C}:k1` });
      expect(err.problems.length).to.be.greaterThan(0);
      for (let i = 0; i + 6 <= KEY_C.length; i++) expect(err.message).to.not.include(KEY_C.slice(i, i + 6));
    });
  });
});

// ctx.memory: what connectors remember of a destination belongs to the App that built the
// context (src/pipeline/connector-memory.ts), so two Apps in one process never share a
// destination's cached fields, and re-authorising (manifest oauth.forgetCaches) clears only
// the memory it is handed.
import { expect } from 'chai';
import nock from 'nock';
import { pipedriveConnector } from '../../connectors/pipedrive/index.js';
import { pipedriveManifest } from '../../connectors/pipedrive/manifest.js';
import { memoryKey, type InFlight } from '../../connectors/types.js';
import type { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { buildConnectorContext, encryptCredentials } from '../../src/pipeline/connector-context.js';
import { createConnectorMemories, createConnectorMemory } from '../../src/pipeline/connector-memory.js';
import type { Destination } from '../../src/store/schema.js';

const API = 'http://127.0.0.1:4598';
const TOKEN = 'pd-memory-token';
const DESTINATION_ID = 'd0000000-0000-4000-8000-00000000a001';
/** A custom person field the account gains between two reads of its field lists. */
const SHOE_SIZE = 'a'.repeat(40);
type PipedriveContext = Parameters<typeof pipedriveConnector.describeFields>[0];

/** As much of an App as buildConnectorContext reads before a connector calls ctx.state or ctx.withLock. */
function makeApp(): App {
  const config = loadConfig({ LEADRELAY_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`, PIPEDRIVE_API_URL: API });
  return { config, keyRing: KeyRing.fromConfig(config.encryptionKeys), connectorMemories: createConnectorMemories() } as unknown as App;
}

function pipedriveDestination(app: App): Destination {
  return {
    id: DESTINATION_ID,
    workspace_id: 'f3c1b0de-1111-4a4a-8888-000000000001',
    type: 'pipedrive',
    name: 'Pipedrive',
    config: {},
    credentials_envelope: encryptCredentials(app, DESTINATION_ID, { type: 'api_token', apiToken: TOKEN }),
    status: 'active',
    status_reason: null,
    rate_limited_until: null,
    created_at: new Date(),
    updated_at: new Date(),
  } as Destination;
}

/** One answer of Pipedrive's field lists: the name field, the shoe size when `withShoeSize`, no lead fields. */
function arrangeFieldLists(withShoeSize: boolean): void {
  const personFields = [{ field_code: 'name', field_name: 'Name', field_type: 'varchar', is_custom_field: false }];
  if (withShoeSize) personFields.push({ field_code: SHOE_SIZE, field_name: 'Shoe size', field_type: 'varchar', is_custom_field: true });
  nock(API, { reqheaders: { 'x-api-token': TOKEN } })
    .get('/api/v2/personFields')
    .query(true)
    .reply(200, {
      success: true,
      data: personFields,
      additional_data: { next_cursor: null },
    });
  nock(API, { reqheaders: { 'x-api-token': TOKEN } })
    .get('/v1/leadFields')
    .query(true)
    .reply(200, { success: true, data: [], additional_data: { pagination: { more_items_in_collection: false } } });
}

async function describedKeys(app: App): Promise<string[]> {
  const fields = await pipedriveConnector.describeFields(buildConnectorContext(app, pipedriveDestination(app), null) as PipedriveContext);
  return fields.map((f) => f.key).sort();
}

describe('connector memory (ctx.memory)', () => {
  before(() => nock.disableNetConnect());
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending, 'every arranged Pipedrive call was made').to.deep.equal([]);
  });
  after(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('two Apps do not share a destination’s cached fields', async () => {
    const first = makeApp();
    const second = makeApp();

    arrangeFieldLists(false);
    const firstKeys = await describedKeys(first);
    expect(firstKeys).to.not.include(`person.${SHOE_SIZE}`);

    // The second App asks Pipedrive itself, and gets the account as it is now.
    arrangeFieldLists(true);
    const secondKeys = await describedKeys(second);
    expect(secondKeys).to.include(`person.${SHOE_SIZE}`);

    // Each App keeps its own list: no more calls (nock would refuse them).
    expect(await describedKeys(first)).to.deep.equal(firstKeys);
    expect(await describedKeys(second)).to.deep.equal(secondKeys);
  });

  it('re-authorising clears the memory it is handed (oauth.forgetCaches), in that App only', async () => {
    const first = makeApp();
    const second = makeApp();
    arrangeFieldLists(false);
    await describedKeys(first);
    arrangeFieldLists(false);
    await describedKeys(second);

    await pipedriveManifest.oauth!.forgetCaches!(first.connectorMemories.of('pipedrive', DESTINATION_ID));
    arrangeFieldLists(true);
    expect(await describedKeys(first)).to.include(`person.${SHOE_SIZE}`);
    expect(await describedKeys(second)).to.not.include(`person.${SHOE_SIZE}`);
  });

  it('gives one memory per connector and destination within an App', () => {
    const memories = createConnectorMemories();
    const key = memoryKey<number>('test.value');
    memories.of('pipedrive', 'd1').set(key, 1);
    expect(memories.of('pipedrive', 'd1').get(key)).to.equal(1);
    expect(memories.of('pipedrive', 'd2').get(key)).to.equal(undefined);
    expect(memories.of('hubspot', 'd1').get(key)).to.equal(undefined);
    memories.of('pipedrive', 'd1').delete(key);
    expect(memories.of('pipedrive', 'd1').get(key)).to.equal(undefined);
  });

  it('shared() runs concurrent work for one key and id once, and again once it settled', async () => {
    const memory = createConnectorMemory();
    const key = memoryKey<InFlight<number>>('test.inFlight');
    let runs = 0;
    const work = async () => {
      runs += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return runs;
    };
    expect(await Promise.all([memory.shared(key, work, 'a'), memory.shared(key, work, 'a'), memory.shared(key, work, 'b')])).to.deep.equal([2, 2, 2]);
    expect(runs).to.equal(2);
    expect(await memory.shared(key, work, 'a')).to.equal(3);
    // A failure is not remembered either.
    const failing = memory.shared(key, async () => Promise.reject(new Error('refused')));
    await failing.then(
      () => expect.fail('the work failed'),
      (err: Error) => expect(err.message).to.equal('refused'),
    );
    expect(await memory.shared(key, async () => 7)).to.equal(7);
  });
});

// The real program ready to be driven through its REST API, for end-to-end suites that are not
// about signing in: a fresh schema, a fake Graph, a signature-checking webhook receiver, one
// workspace made with the CLI, its owner (the API answers 503 until one exists) and an admin API
// key, both written straight into the program's database (as an admin would create a key).
import { hashPassword } from '../../src/accounts/passwords.js';
import { createApiKey, insertUser, upsertMembership } from '../../src/accounts/store.js';
import { openDb } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { ApiClient } from './api.js';
import { baseEnv, cli, removeQueues, startProgram, TEST_APP_SECRET, type RunningProgram } from './e2e.js';
import { createTestSchema } from './test-db.js';

export interface ApiProgram {
  program: RunningProgram;
  /** Set up its pages, forms and leads before the program asks for them. */
  graph: FakeGraph;
  /** Checks signatures with the secret given to startApiProgram. */
  receiver: FakeReceiver;
  /** An admin key of `workspaceId`. */
  api: ApiClient;
  workspaceId: string;
  close(): Promise<void>;
}

export async function startApiProgram(opts: { receiverSecret: string }): Promise<ApiProgram> {
  const schema = await createTestSchema('e2e');
  const graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
  const receiver = await startFakeReceiver({ secret: opts.receiverSecret });
  const env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url });
  let program: RunningProgram | undefined;
  const close = async () => {
    await program?.kill();
    await receiver.close();
    await graph.close();
    await removeQueues('redis', env.QUEUE_PREFIX!);
    await schema.drop();
  };
  try {
    const workspaceId = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    program = await startProgram('start', env);
    const secret = await seedOwnerAndKey(schema.url, workspaceId);
    return { program, graph, receiver, api: new ApiClient(program.url).withKey(secret), workspaceId, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The workspace's owner and an admin key, straight into the program's database; returns the key. */
async function seedOwnerAndKey(databaseUrl: string, workspaceId: string): Promise<string> {
  const dbh = await openDb({ url: databaseUrl, poolMax: 2 });
  try {
    const owner = await insertUser(dbh.db, { email: 'owner@example.org', name: null, passwordHash: await hashPassword('owner password of e2e') });
    await upsertMembership(dbh.db, { userId: owner.id, workspaceId, role: 'owner' });
    return (await createApiKey(dbh.db, { workspaceId, name: 'e2e', role: 'admin', createdBy: null })).secret;
  } finally {
    await dbh.close();
  }
}

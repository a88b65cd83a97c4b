// Burst benchmark: N leads (default 1,000) wait behind dead credentials, new credentials release
// them together, and the real program (`start`) drains them into a HubSpot-shaped and a
// Salesforce-shaped loopback fake that enforce the real limits (HubSpot 190 calls per 10 s with
// X-HubSpot-RateLimit-* headers; Salesforce's daily allocation) and answer with latency. Prints
// CRM calls per lead and the time to drain beside the issue's targets. Figures, never pass/fail.
//
//   npx tsc -p tsconfig.json && node dist/bench/burst.js [leads]
//
// Needs what the e2e tests need: PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL).
import { hubspotConnector, type HubspotConfig, type HubspotCredentials, type HubspotSettings } from '../connectors/hubspot/index.js';
import { openDb } from '../src/store/db.js';
import { startFakeGraph } from '../test/fakes/meta-graph.js';
import { startFakeHubspot } from '../test/fakes/hubspot-crm.js';
import { startFakeSalesforce } from '../test/fakes/salesforce-crm.js';
import { baseEnv, cli, flushPrefix, postLeadgen, startProgram, TEST_APP_SECRET, waitUntil } from '../test/helpers/e2e.js';
import { makeTestContext, testCrmSettings } from '../test/helpers/sample-lead.js';
import { createTestSchema } from '../test/helpers/test-db.js';

const PAGE = '1000000099';
const FORM = '2000000099';
const PAGE_TOKEN = 'EAAB-burst-page-token';
const TARGET_CALLS_PER_LEAD = 0.05;
const TARGET_DRAIN_MS = 30_000;

async function main(): Promise<void> {
  const leads = Number(process.argv[2] ?? 1000);
  const schema = await createTestSchema('burst');
  const graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
  const hubspot = await startFakeHubspot({ accessTokens: ['pat-burst-good'], latencyMs: { min: 50, max: 150 }, latencyPerBatchInputMs: 2 });
  const salesforce = await startFakeSalesforce({
    clientId: 'sf-client',
    clientSecret: 'sf-secret',
    latencyMs: { min: 50, max: 150 },
    latencyPerCollectionRecordMs: 2,
  });
  const env = baseEnv({
    DATABASE_URL: schema.url,
    META_GRAPH_URL: graph.url,
    HUBSPOT_API_URL: hubspot.url,
    SALESFORCE_LOGIN_URL: salesforce.url,
    SALESFORCE_CLIENT_ID: 'sf-client',
    SALESFORCE_CLIENT_SECRET: 'sf-secret',
    LOG_LEVEL: 'warn',
  });
  const dbh = await openDb({ url: schema.url, poolMax: 2 });
  let program: Awaited<ReturnType<typeof startProgram>> | undefined;
  try {
    graph.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Burst',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
      ],
    });
    graph.setPageToken(PAGE, PAGE_TOKEN);
    await hubspotConnector.verify(
      makeTestContext<HubspotConfig, HubspotCredentials, HubspotSettings>({
        config: {},
        credentials: { type: 'private_app', accessToken: 'pat-burst-good' },
        settings: { connector: { ...testCrmSettings.hubspot, apiUrl: hubspot.url } },
      }),
    );
    const ws = await cli(['workspaces', 'create', '--name', 'Burst'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    const hs = await cli(['destinations', 'add', '--workspace', ws, '--type', 'hubspot', '--token', 'pat-burst-revoked'], env);
    const sf = await cli(
      [
        'destinations',
        'add',
        '--workspace',
        ws,
        '--type',
        'salesforce',
        '--instance-url',
        salesforce.url,
        '--access-token',
        '00D!revoked',
        '--refresh-token',
        '5Aep-revoked',
      ],
      env,
    );
    for (const d of [hs, sf]) await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', d], env);
    program = await startProgram('start', env);

    const ids = Array.from({ length: leads }, (_, n) => String(7_500_000_000_000_000_000n + BigInt(n)));
    for (const [n, id] of ids.entries()) {
      graph.addLead({
        id,
        form_id: FORM,
        page_id: PAGE,
        field_data: [
          { name: 'full_name', values: [`Burst Person${n}`] },
          { name: 'email', values: [`burst${n}@example.com`] },
        ],
        platform: 'fb',
      });
    }
    for (let i = 0; i < leads; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((leadgenId) => postLeadgen(program!.url, { pageId: PAGE, formId: FORM, leadgenId })));
    }
    const count = async (destinationId: string, status: string) =>
      Number(
        (
          await dbh.db
            .selectFrom('deliveries')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('destination_id', '=', destinationId)
            .where('status', '=', status as 'delivered')
            .executeTakeFirstOrThrow()
        ).n,
      );
    for (const d of [hs, sf]) await waitUntil(async () => (await count(d, 'parked')) === leads, 600_000, 'all deliveries parked');

    const upserts = () => hubspot.requests.filter((r) => r.path === '/crm/v3/objects/contacts/batch/upsert').length;
    const sfWrites = () => salesforce.requests.filter((r) => (r.method === 'PATCH' || r.method === 'POST') && r.path.includes('/services/data/')).length;
    const [hsBefore, sfBefore] = [upserts(), sfWrites()];
    const fresh = salesforce.issueTokens();
    // Released together: both destinations get their new credentials, then the clock starts.
    await Promise.all([
      cli(['destinations', 'reauth', hs, '--token', 'pat-burst-good'], env),
      cli(['destinations', 'reauth', sf, '--instance-url', fresh.instanceUrl, '--access-token', fresh.accessToken, '--refresh-token', fresh.refreshToken], env),
    ]);
    const released = Date.now();
    const drained: Record<string, number> = {};
    await Promise.all(
      [
        ['HubSpot', hs],
        ['Salesforce', sf],
      ].map(async ([name, d]) => {
        await waitUntil(async () => (await count(d, 'delivered')) === leads, 600_000, `${name} drained`);
        drained[name] = Date.now() - released;
      }),
    );
    const rows = [
      ['HubSpot', upserts() - hsBefore, drained.HubSpot],
      ['Salesforce', sfWrites() - sfBefore, drained.Salesforce],
    ] as const;
    console.log(`burst of ${leads} leads released together (drain time counts from the end of both reauth commands)`);
    for (const [name, calls, ms] of rows) {
      console.log(
        `  ${name.padEnd(10)} CRM write calls ${String(calls).padStart(4)}  calls/lead ${(calls / leads).toFixed(3)} (target ≤ ${TARGET_CALLS_PER_LEAD})` +
          `  drained in ${ms} ms (target ≤ ${TARGET_DRAIN_MS} ms)`,
      );
    }
  } finally {
    await program?.kill();
    await dbh.close();
    await Promise.all([graph.close(), hubspot.close(), salesforce.close()]);
    await flushPrefix(env.QUEUE_PREFIX);
    await schema.drop();
  }
}

await main();

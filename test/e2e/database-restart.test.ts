// PostgreSQL going away under a running LeadRelay: a server started while its database is down
// waits for it instead of exiting, and a database restart under a running server (connections
// dropped between statements of a transaction) neither kills the process nor loses a lead.
// The database is an embedded PostgreSQL of the test's own, so restarting it disturbs nothing
// else on the machine.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireEmbeddedPostgres, type EmbeddedPostgres } from '../../src/store/embedded-postgres.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { baseEnv, BIN, cli, freePort, postLeadgen, TEST_APP_SECRET, waitUntil } from '../helpers/e2e.js';

const PAGE = '1000000888';
const FORM = '2000000888';
const PAGE_TOKEN = 'EAAB-restart-page-token';

describe('e2e: PostgreSQL restarts under a running LeadRelay', function () {
  this.timeout(180_000);
  let dir: string;
  let pgPort: number;
  let database: EmbeddedPostgres | null = null;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let proc: ChildProcess | null = null;
  let out = '';

  const startDatabase = async () => {
    database = await acquireEmbeddedPostgres({ dataDir: join(dir, 'pg'), role: 'server', port: pgPort });
    return database.url;
  };
  const stopDatabase = async () => {
    await database?.release();
    database = null;
  };
  const isDelivered = (leadgenId: string) => receiver.accepted().some((r) => r.body?.leadgen_id === leadgenId);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'leadrelay-pg-restart-'));
    pgPort = await freePort();
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver();
    graph.addForm({ id: FORM, page_id: PAGE, name: 'Restart', questions: [{ key: 'email', type: 'EMAIL', label: 'Email' }] });
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Restart Bikes');
  });
  after(async () => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    await stopDatabase();
    await graph?.close();
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a server started while PostgreSQL is down waits for it, and a restart under load loses no lead and kills nothing', async () => {
    const url = await startDatabase();
    await stopDatabase();
    const port = await freePort();
    // Queues in PostgreSQL too (REDIS_URL empty), so the restart also drops the queue connections.
    const env = baseEnv({ DATABASE_URL: url, REDIS_URL: '', META_GRAPH_URL: graph.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    proc = spawn(process.execPath, [BIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => proc!.once('exit', (code) => r(code)));

    await waitUntil(async () => /"source":"database".*is failing/.test(out) || proc!.exitCode !== null, 60_000, 'the server to report the database down');
    expect(proc.exitCode, out).to.equal(null);

    await startDatabase();
    const ready = async () =>
      fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.ok)
        .catch(() => false);
    await waitUntil(ready, 90_000, 'the server to become ready once PostgreSQL answers');

    const ws = await cli(['workspaces', 'create', '--name', 'Restart'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    const dest = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', receiver.url], env);
    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', dest], env);

    const before = ['9300000000000000001', '9300000000000000002', '9300000000000000003'];
    for (const id of before) {
      graph.addLead({ id, form_id: FORM, page_id: PAGE, field_data: [{ name: 'email', values: [`${id}@example.com`] }] });
      expect((await postLeadgen(`http://127.0.0.1:${port}`, { pageId: PAGE, formId: FORM, leadgenId: id })).status).to.equal(200);
    }
    // Restart while those leads are in flight: connections drop mid-transaction.
    await stopDatabase();
    await waitUntil(async () => /a database connection failed|is failing/.test(out), 30_000, 'the server to notice the restart');
    await startDatabase();
    await waitUntil(ready, 90_000, 'the server to be ready again');

    const afterRestart = '9300000000000000004';
    graph.addLead({ id: afterRestart, form_id: FORM, page_id: PAGE, field_data: [{ name: 'email', values: ['after@example.com'] }] });
    expect((await postLeadgen(`http://127.0.0.1:${port}`, { pageId: PAGE, formId: FORM, leadgenId: afterRestart })).status).to.equal(200);

    for (const id of [...before, afterRestart]) await waitUntil(async () => isDelivered(id), 90_000, `lead ${id} delivered`);
    expect(proc.exitCode, out).to.equal(null);
    expect(out).to.not.match(/Unhandled 'error' event/);

    proc.kill('SIGTERM');
    expect(await exited).to.equal(0);
  });
});

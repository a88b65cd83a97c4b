// The operator CLI as a person (or a script) uses it: ids on stdout, --help everywhere, and a
// one-line reason with a non-zero exit on bad input. Also `keys rotate`.
import { expect } from 'chai';
import net from 'node:net';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { baseEnv, cli, flushPrefix, runCli, startProgram, TEST_KEYS } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

describe('e2e: operator CLI', function () {
  this.timeout(120_000);
  let schema: TestSchema;
  let env: Record<string, string>;
  let dbh: DbHandle;

  before(async () => {
    schema = await createTestSchema('cli');
    env = baseEnv({ DATABASE_URL: schema.url });
    await cli(['migrate'], env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
  });
  after(async () => {
    await dbh?.close();
    await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('prints help for every command', async () => {
    for (const args of [['--help'], ['workspaces', 'create', '--help'], ['pages', 'add', '--help'], ['destinations', 'add', '--help'], ['routes', 'add', '--help'], ['leads', 'list', '--help'], ['leads', 'replay', '--help'], ['keys', 'rotate', '--help'], ['migrate', '--help']]) {
      const r = await runCli(args, env);
      expect(r.code, args.join(' ')).to.equal(0);
      expect(r.stdout).to.match(/Usage: leadrelay/);
    }
  });

  it('sets up a workspace, page, destination and route, printing ids, and never echoes the token', async () => {
    const ws = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    expect(ws).to.match(/^[0-9a-f-]{36}$/);
    const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', '4242', '--token', 'EAAB-super-secret-page-token'], env);
    expect(r.code).to.equal(0);
    expect(r.stdout + r.stderr).to.not.contain('super-secret');
    const page = await dbh.db.selectFrom('pages').selectAll().where('page_id', '=', '4242').executeTakeFirstOrThrow();
    expect(page.token_envelope).to.match(/^lr1\.k1\./);
    expect(page.token_envelope).to.not.contain('super-secret');
    const dest = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', 'https://crm.example.com/in', '--secret', 'a-long-enough-signing-secret'], env);
    expect(dest).to.match(/^[0-9a-f-]{36}$/);
    const route = await cli(['routes', 'add', '--workspace', ws, '--page-id', '4242', '--destination', dest], env);
    expect(route).to.match(/^[0-9a-f-]{36}$/);
    const list = await cli(['leads', 'list', '--workspace', ws, '--json'], env);
    expect(JSON.parse(list)).to.deep.equal([]);
  });

  const bad: [string, string[], RegExp][] = [
    ['unknown workspace', ['pages', 'add', '--workspace', '00000000-0000-4000-8000-000000000000', '--page-id', '1', '--token', 't'], /workspace .* not found/],
    ['missing required option', ['workspaces', 'create'], /--name/],
    ['unknown destination type', ['destinations', 'add', '--workspace', 'x', '--type', 'fax'], /fax|choices/i],
    ['webhook without url', ['destinations', 'add', '--workspace', 'WS', '--type', 'webhook'], /--url is required/],
    ['non-numeric page id', ['pages', 'add', '--workspace', 'WS', '--page-id', 'my page', '--token', 't'], /page-id must be a numeric/],
    ['bad lead id', ['leads', 'replay', 'not-a-uuid'], /not a lead id/],
    ['bad limit', ['leads', 'list', '--workspace', 'WS', '--limit', '-3'], /--limit must be a positive whole number/],
    ['unknown command', ['frobnicate'], /unknown command/],
  ];
  for (const [what, args, pattern] of bad) {
    it(`bad input (${what}) exits non-zero with a one-line reason`, async () => {
      const ws = await cli(['workspaces', 'create', '--name', 'W'], env);
      const r = await runCli(args.map((a) => (a === 'WS' ? ws : a)), env);
      expect(r.code).to.not.equal(0);
      const firstLine = r.stderr.trim().split('\n')[0];
      expect(firstLine).to.match(pattern);
      expect(r.stderr).to.not.match(/\n\s+at /, 'no stack trace');
    });
  }

  it('exits non-zero, promptly, when it cannot listen (instead of idling on open connections)', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['serve'], { ...env, PORT: String(port), HOST: '127.0.0.1' });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain('EADDRINUSE');
    } finally {
      blocker.close();
    }
  });

  it('names every bad environment variable at once, without echoing values', async () => {
    const r = await runCli(['workspaces', 'list'], { ...env, PORT: 'eighty', META_GRAPH_VERSION: '25', LEADRELAY_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('PORT').and.contain('META_GRAPH_VERSION').and.contain('LEADRELAY_ENCRYPTION_KEYS');
    expect(r.stderr).to.not.contain('c2hvcnQ=');
  });

  it('keys rotate re-encrypts every secret under the new first key; the old key can then go', async () => {
    const ws = await cli(['workspaces', 'create', '--name', 'Rotate'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', '777', '--token', 'EAAB-rotate-me'], env);
    const dest = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', 'https://crm.example.com/x', '--secret', 'another-long-signing-secret'], env);
    const newKey = `k2:${Buffer.alloc(32, 9).toString('base64')}`;
    const both = { ...env, LEADRELAY_ENCRYPTION_KEYS: `${newKey},${TEST_KEYS}` };
    const out = await cli(['keys', 'rotate'], both);
    expect(out).to.match(/re-encrypted under "k2"/);
    const page = await dbh.db.selectFrom('pages').selectAll().where('page_id', '=', '777').executeTakeFirstOrThrow();
    expect(page.token_envelope).to.match(/^lr1\.k2\./);
    const onlyNew = new KeyRing([{ kid: 'k2', key: Buffer.alloc(32, 9) }]);
    expect(onlyNew.decrypt(page.token_envelope, 'page-token:777')).to.equal('EAAB-rotate-me');
    const d = await dbh.db.selectFrom('destinations').selectAll().where('id', '=', dest).executeTakeFirstOrThrow();
    expect(onlyNew.decryptJson(d.credentials_envelope!, `destination:${dest}`)).to.deep.equal({ secret: 'another-long-signing-secret' });
    // With only the old key configured, the page token can no longer be read: a clear error naming the key id.
    const ctxEnv = { ...env, LEADRELAY_ENCRYPTION_KEYS: TEST_KEYS };
    const check = await runCli(['destinations', 'check', dest], ctxEnv);
    expect(check.code).to.not.equal(0);
    expect(check.stderr).to.contain('"k2"');
    expect(check.stderr).to.not.match(/lr1\.k2\./);
  });
});

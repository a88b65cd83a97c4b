// The operator CLI as a person (or a script) uses it: ids on stdout, --help everywhere, and a
// one-line reason with exit 2 on bad input, caught when it is typed: a page token is checked
// with Meta (the loopback fake Graph), a destination URL against the delivery rules. Also
// secrets from a file, stdin or a variable (a flag warns), --json on every list, `leads show`,
// --version and `keys rotate`.
import { expect } from 'chai';
import { sql } from 'kysely';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { projectRoot } from '../../src/config/env.js';
import {
  baseEnv,
  cli,
  flushPrefix,
  freePort,
  postLeadgen,
  runCli,
  startProgram,
  TEST_APP_SECRET,
  TEST_KEYS,
  waitUntil,
  type CliResult,
} from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';

/** Exit 2 and exactly one stderr line matching `pattern`, without a stack trace. */
function expectRefusal(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.stderr).to.equal(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).to.have.length(1);
  expect(lines[0]).to.match(pattern);
}

/** The stderr lines that start with `warning:`. */
const warningsOf = (r: CliResult) => r.stderr.split('\n').filter((l) => l.startsWith('warning:'));

describe('e2e: operator CLI', function () {
  // Generous: a CLI command took 6-18 s on a loaded machine, and some tests run several.
  this.timeout(300_000);
  let schema: TestSchema;
  let env: Record<string, string>;
  let dbh: DbHandle;
  let graph: FakeGraph;

  before(async () => {
    schema = await createTestSchema('cli');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url });
    await cli(['migrate'], env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
  });
  after(async () => {
    await dbh?.close();
    await graph?.close();
    await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('prints usage, exit 0, for --help and for each subcommand listed here', async () => {
    for (const args of [
      ['--help'],
      ['workspaces', 'create', '--help'],
      ['pages', 'add', '--help'],
      ['destinations', 'add', '--help'],
      ['destinations', 'reauth', '--help'],
      ['routes', 'add', '--help'],
      ['leads', 'list', '--help'],
      ['leads', 'show', '--help'],
      ['leads', 'replay', '--help'],
      ['keys', 'rotate', '--help'],
      ['migrate', '--help'],
    ]) {
      const r = await runCli(args, env);
      expect(r.code, args.join(' ')).to.equal(0);
      expect(r.stdout).to.match(/Usage: leadrelay/);
    }
  });

  it('shows the file, stdin and variable forms of every secret in pages add and destinations add/reauth --help', async () => {
    const pagesHelp = (await cli(['pages', 'add', '--help'], env)).replace(/\s+/g, ' ');
    expect(pagesHelp).to.contain('--token-file <path>').and.contain('--token-stdin').and.contain('LEADRELAY_TOKEN');
    expect(pagesHelp).to.contain('Precedence: flag, file, stdin, variable');
    for (const command of ['add', 'reauth']) {
      const help = (await cli(['destinations', command, '--help'], env)).replace(/\s+/g, ' ');
      expect(help, command).to.contain('--secret-file <path>').and.contain('--secret-stdin').and.contain('LEADRELAY_SECRET');
      expect(help, command).to.contain('Precedence: flag, file, stdin, variable');
    }
  });

  it('states the signing secret minimum and the private-address rule in destinations add --help', async () => {
    const help = (await cli(['destinations', 'add', '--help'], env)).replace(/\s+/g, ' ');
    expect(help).to.contain('at least 16 characters');
    expect(help).to.contain('LEADRELAY_ALLOW_PRIVATE_DESTINATIONS=true');
  });

  it('--version and -V print the version from package.json', async () => {
    const { version } = JSON.parse(readFileSync(resolve(projectRoot, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag], env);
      expect(r.code).to.equal(0);
      expect(r.stdout.trim()).to.equal(version);
    }
  });

  it('sets up a workspace, page, destination and route, printing ids, and never echoes the token', async () => {
    const ws = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    expect(ws).to.match(/^[0-9a-f-]{36}$/);
    graph.setPageToken('4242', 'EAAB-super-secret-page-token', 'Acme Bikes');
    const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', '4242', '--token', 'EAAB-super-secret-page-token'], env);
    expect(r.code).to.equal(0);
    expect(r.stdout + r.stderr).to.not.contain('super-secret');
    const page = await dbh.db.selectFrom('pages').selectAll().where('page_id', '=', '4242').executeTakeFirstOrThrow();
    expect(page.token_envelope).to.match(/^lr1\.k1\./);
    expect(page.token_envelope).to.not.contain('super-secret');
    const dest = await cli(
      ['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', 'https://crm.example.com/in', '--secret', 'a-long-enough-signing-secret'],
      env,
    );
    expect(dest).to.match(/^[0-9a-f-]{36}$/);
    const route = await cli(['routes', 'add', '--workspace', ws, '--page-id', '4242', '--destination', dest], env);
    expect(route).to.match(/^[0-9a-f-]{36}$/);
    const list = await cli(['leads', 'list', '--workspace', ws, '--json'], env);
    expect(JSON.parse(list)).to.deep.equal([]);
  });

  // A secret typed as a flag adds a warning line; these give theirs as variables (the extra env).
  const bad: [string, string[], RegExp, Record<string, string>?][] = [
    [
      'unknown workspace',
      ['pages', 'add', '--workspace', '00000000-0000-4000-8000-000000000000', '--page-id', '1'],
      /workspace .* not found/,
      { LEADRELAY_TOKEN: 't' },
    ],
    ['missing required option', ['workspaces', 'create'], /--name/],
    ['unknown destination type', ['destinations', 'add', '--workspace', 'x', '--type', 'fax'], /fax|choices/i],
    ['webhook without url', ['destinations', 'add', '--workspace', 'WS', '--type', 'webhook'], /--url is required/],
    ['non-numeric page id', ['pages', 'add', '--workspace', 'WS', '--page-id', 'my page'], /page-id must be a numeric/, { LEADRELAY_TOKEN: 't' }],
    ['bad lead id', ['leads', 'replay', 'not-a-uuid'], /not a lead id/],
    ['bad limit', ['leads', 'list', '--workspace', 'WS', '--limit', '-3'], /--limit must be a positive whole number/],
    ['unknown command', ['frobnicate'], /unknown command/],
    ['malformed webhook url', ['destinations', 'add', '--workspace', 'WS', '--type', 'webhook', '--url', 'not-a-url'], /^error: --url is not a valid URL: /],
    [
      'short signing secret',
      ['destinations', 'add', '--workspace', 'WS', '--type', 'webhook', '--url', 'https://crm.example.com/in'],
      /^error: .*LEADRELAY_SECRET: signing secret must be at least 16 characters/,
      { LEADRELAY_SECRET: 'short' },
    ],
    ['empty page token', ['pages', 'add', '--workspace', 'WS', '--page-id', '1', '--token', ' '], /--token must not be empty/],
    ['lead id that is not a uuid', ['leads', 'show', 'not-a-uuid'], /not a lead id/],
    ['unknown lead', ['leads', 'show', '00000000-0000-4000-8000-000000000000'], /lead .* not found/],
  ];
  /** One workspace for every bad-input case: each is refused, so none of them changes it. */
  let badInputWorkspace: Promise<string> | undefined;
  for (const [what, args, pattern, extraEnv] of bad) {
    it(`bad input (${what}) exits 2 with a one-line reason, plus at most the --help hint`, async () => {
      badInputWorkspace ??= cli(['workspaces', 'create', '--name', 'W'], env);
      const ws = await badInputWorkspace;
      const r = await runCli(
        args.map((a) => (a === 'WS' ? ws : a)),
        { ...env, ...extraEnv },
      );
      expect(r.code).to.equal(2);
      const [reason, ...rest] = r.stderr.trim().split('\n');
      expect(reason).to.match(pattern);
      // Commander adds this hint under the errors it reports itself (a missing option, a bad choice).
      expect(rest.join('\n'), r.stderr).to.be.oneOf(['', '(add --help for usage)']);
    });
  }

  describe('pages add checks the page token with Meta', () => {
    let ws: string;
    let nextPage = 51_000;
    /** A page id no other test uses, with its own valid Page token on the fake Graph. */
    const newPage = (name?: string) => {
      const pageId = String(nextPage++);
      const token = `EAAB-page-${pageId}-secret`;
      graph.setPageToken(pageId, token, name);
      return { pageId, token };
    };
    const storedPage = async (pageId: string) => dbh.db.selectFrom('pages').selectAll().where('page_id', '=', pageId).executeTakeFirst();

    before(async () => {
      ws = await cli(['workspaces', 'create', '--name', 'Token checks'], env);
    });

    it("stores the page's name from Meta, without warnings, when the token is valid and the app installed", async () => {
      const { pageId, token } = newPage('Acme Bikes Utrecht');
      graph.installApp(pageId);
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId], { ...env, LEADRELAY_TOKEN: token });
      expect(r.code, r.stderr).to.equal(0);
      expect(warningsOf(r)).to.deep.equal([]);
      expect((await storedPage(pageId))?.name).to.equal('Acme Bikes Utrecht');
      const debug = graph.calls.filter((c) => c.path.endsWith('/debug_token') && c.query.input_token === token);
      expect(debug).to.have.length(1);
      expect(debug[0].query.access_token).to.equal(`1234567890|${TEST_APP_SECRET}`);
      expect(debug[0].query.appsecret_proof).to.match(/^[0-9a-f]{64}$/);
    });

    it('--name overrides the name from Meta', async () => {
      const { pageId, token } = newPage('Name on Facebook');
      graph.installApp(pageId);
      await cli(['pages', 'add', '--workspace', ws, '--page-id', pageId, '--name', 'Showroom'], { ...env, LEADRELAY_TOKEN: token });
      expect((await storedPage(pageId))?.name).to.equal('Showroom');
    });

    it("refuses a token Meta cannot parse with exit 2 and Meta's reason, storing nothing", async () => {
      const { pageId } = newPage();
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId], { ...env, LEADRELAY_TOKEN: 'EAAB-not-a-real-token' });
      expectRefusal(r, /^error: the page token is not valid: Invalid OAuth access token - Cannot parse access token \(Graph error 190\)$/);
      expect(r.stdout + r.stderr).to.not.contain('EAAB-not-a-real-token');
      expect(await storedPage(pageId)).to.equal(undefined);
    });

    it('refuses an expired token (190/463) with exit 2', async () => {
      const { pageId, token } = newPage();
      graph.revokeToken(token, 463);
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId], { ...env, LEADRELAY_TOKEN: token });
      expectRefusal(r, /^error: the page token is not valid: .*Session has expired.* \(Graph error 190\/463\)$/);
      expect(await storedPage(pageId)).to.equal(undefined);
    });

    it("refuses another page's Page token, naming both pages", async () => {
      const { pageId } = newPage();
      const other = newPage();
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId], { ...env, LEADRELAY_TOKEN: other.token });
      expectRefusal(r, new RegExp(`^error: the token is the Page token of page ${other.pageId}, not of page ${pageId}$`));
      expect(await storedPage(pageId)).to.equal(undefined);
    });

    it('refuses a user token: it is not a Page token', async () => {
      const { pageId } = newPage();
      graph.setUserToken('EAAB-user-token-secret');
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId], { ...env, LEADRELAY_TOKEN: 'EAAB-user-token-secret' });
      expectRefusal(r, /^error: this is a USER token, not a Page token/);
      expect(r.stderr).to.not.contain('EAAB-user-token-secret');
    });

    it('refuses a token without leads_retrieval, naming the missing permission', async () => {
      const { pageId, token } = newPage();
      graph.setTokenScopes(token, ['pages_manage_metadata', 'pages_show_list', 'pages_read_engagement', 'ads_management']);
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId], { ...env, LEADRELAY_TOKEN: token });
      expectRefusal(r, /^error: the page token lacks the permission leads_retrieval that leads need/);
      expect(await storedPage(pageId)).to.equal(undefined);
    });

    it('accepts a token while the app is not installed on the page, warning how to install it', async () => {
      const { pageId, token } = newPage('Not installed yet');
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId], { ...env, LEADRELAY_TOKEN: token });
      expect(r.code, r.stderr).to.equal(0);
      const [warning, ...more] = warningsOf(r);
      expect(more).to.deep.equal([]);
      expect(warning).to.contain(`not installed on page ${pageId}`);
      expect(warning).to.contain(`POST /v25.0/${pageId}/subscribed_apps?subscribed_fields=leadgen`);
      expect(r.stderr).to.not.contain(token);
      expect((await storedPage(pageId))?.name).to.equal('Not installed yet');
    });

    it('without META_APP_ID and META_APP_SECRET, stores the token unchecked with a warning saying so', async () => {
      const pageId = String(nextPage++);
      const calls = graph.calls.length;
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId], {
        ...env,
        LEADRELAY_TOKEN: 'EAAB-unchecked-secret',
        META_APP_ID: '',
        META_APP_SECRET: '',
      });
      expect(r.code, r.stderr).to.equal(0);
      expect(warningsOf(r)).to.have.length(1);
      expect(warningsOf(r)[0]).to.match(/cannot be checked with Meta because META_APP_ID and META_APP_SECRET are not set/);
      expect(graph.calls.length).to.equal(calls);
      expect(await storedPage(pageId)).to.not.equal(undefined);
    });

    it('--skip-check stores the token without calling Meta, with a warning', async () => {
      const pageId = String(nextPage++);
      const calls = graph.calls.length;
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId, '--skip-check'], { ...env, LEADRELAY_TOKEN: 'EAAB-skipped-secret' });
      expect(r.code, r.stderr).to.equal(0);
      expect(warningsOf(r)).to.have.length(1);
      expect(warningsOf(r)[0]).to.contain('not checked with Meta');
      expect(graph.calls.length).to.equal(calls);
      expect(await storedPage(pageId)).to.not.equal(undefined);
    });

    it('when Meta cannot be reached, stores nothing and exits 1 pointing at --skip-check', async () => {
      const { pageId, token } = newPage();
      const r = await runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId], {
        ...env,
        LEADRELAY_TOKEN: token,
        META_GRAPH_URL: `http://127.0.0.1:${await freePort()}`,
      });
      expect(r.code).to.equal(1);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/^error: could not ask Meta about the page token: .*--skip-check/);
      expect(await storedPage(pageId)).to.equal(undefined);
    });
  });

  describe('destinations add and reauth apply the delivery URL rules', () => {
    let ws: string;
    let strict: Record<string, string>;
    const addWebhook = (url: string, e: Record<string, string>, more: string[] = []) =>
      runCli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', url, ...more], e);

    before(async () => {
      ws = await cli(['workspaces', 'create', '--name', 'URL rules'], env);
      strict = { ...env, LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: 'false' };
    });

    const refused: [string, string, RegExp][] = [
      ['plain http', 'http://crm.example.com/in', /^error: --url refused: the destination URL must use https .*LEADRELAY_ALLOW_PRIVATE_DESTINATIONS=true/],
      ['another scheme', 'ftp://crm.example.com/in', /^error: --url refused: the destination URL must use https, not ftp$/],
      ['a loopback address', 'https://127.0.0.1:8443/in', /^error: --url refused: the host "127.0.0.1" resolves to 127.0.0.1 \(loopback\)/],
      ['a private address', 'https://10.20.30.40/in', /^error: --url refused: the host "10.20.30.40" resolves to 10.20.30.40 \(private\)/],
      ['the link-local metadata address', 'https://169.254.169.254/latest', /\(linkLocal\)/],
      ['an IPv6 loopback', 'https://[::1]/in', /resolves to ::1 \(loopback\)/],
      ['a name that resolves to loopback', 'https://localhost/in', /^error: --url refused: the host "localhost" resolves to .* \(loopback\)/],
      ['a user name and password', 'https://user:pw@crm.example.com/in', /must not contain a user name or password/],
    ];
    for (const [what, url, pattern] of refused) {
      it(`refuses ${what} with exit 2 and one line`, async () => {
        expectRefusal(await addWebhook(url, strict), pattern);
      });
    }

    it('the refusal names the host, never the path or query', async () => {
      const r = await addWebhook('https://10.0.0.7/hooks/zap-secret-path?key=s3cr3t', strict);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.not.contain('zap-secret-path').and.not.contain('s3cr3t');
    });

    it('accepts http and loopback addresses when LEADRELAY_ALLOW_PRIVATE_DESTINATIONS=true', async () => {
      for (const url of ['http://127.0.0.1:9/in', 'https://10.20.30.40/in', 'https://localhost/in']) {
        const r = await addWebhook(url, env);
        expect(r.code, `${url}: ${r.stderr}`).to.equal(0);
        expect(r.stdout.trim()).to.match(/^[0-9a-f-]{36}$/);
      }
    });

    it('accepts a host that does not resolve now, warning that deliveries wait for it', async () => {
      const r = await addWebhook('https://crm.leadrelay.invalid/in', strict);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout.trim()).to.match(/^[0-9a-f-]{36}$/);
      expect(warningsOf(r)).to.have.length(1);
      expect(warningsOf(r)[0]).to.match(/^warning: --url: the host "crm.leadrelay.invalid" could not be resolved/);
    });

    it('reauth of a webhook checks a new --url and the secret, keeps what is left out, and refuses a stored URL the rules now refuse', async () => {
      const dest = (await addWebhook('https://127.0.0.1:9/in', env, ['--secret', 'first-signing-secret-123'])).stdout.trim();
      const row = async () => dbh.db.selectFrom('destinations').selectAll().where('id', '=', dest).executeTakeFirstOrThrow();
      expectRefusal(await runCli(['destinations', 'reauth', dest], env), /^error: give a new --secret and\/or --url for a webhook destination$/);
      expectRefusal(await runCli(['destinations', 'reauth', dest, '--url', 'not a url'], env), /^error: --url is not a valid URL: /);
      expectRefusal(
        await runCli(['destinations', 'reauth', dest], { ...env, LEADRELAY_SECRET: 'too-short' }),
        /LEADRELAY_SECRET: signing secret must be at least 16 characters/,
      );
      // The stored URL is loopback: with private destinations no longer allowed, resuming would fail every delivery.
      expectRefusal(
        await runCli(['destinations', 'reauth', dest], { ...strict, LEADRELAY_SECRET: 'second-signing-secret-456' }),
        /^error: the stored --url \(give a new one with --url\) refused: .*loopback/,
      );
      expectRefusal(await runCli(['destinations', 'reauth', dest, '--url', 'http://crm.example.com/in'], strict), /^error: --url refused: .*https/);
      const before = await row();
      expect(before.config).to.deep.equal({ url: 'https://127.0.0.1:9/in' });

      const moved = await runCli(['destinations', 'reauth', dest, '--url', 'https://127.0.0.2:9/in'], env);
      expect(moved.code, moved.stderr).to.equal(0);
      expect(moved.stdout).to.match(/^URL replaced; resumed 0 parked deliveries/);
      const after = await row();
      expect(after.config).to.deep.equal({ url: 'https://127.0.0.2:9/in' });
      expect(after.credentials_envelope).to.equal(before.credentials_envelope);
    });
  });

  describe('secrets come from a file, stdin or a variable', () => {
    let ws: string;
    let dir: string;
    let nextPage = 71_000;
    const keyRing = new KeyRing([{ kid: 'k1', key: Buffer.alloc(32, 7) }]);
    /** A page id no other test uses, with its own valid Page token on the fake Graph and the app installed. */
    const newPage = () => {
      const pageId = String(nextPage++);
      const token = `EAAB-page-${pageId}-secret`;
      graph.setPageToken(pageId, token, `Page ${pageId}`);
      graph.installApp(pageId);
      return { pageId, token };
    };
    const secretFile = (name: string, content: string) => {
      const path = join(dir, name);
      writeFileSync(path, content, { mode: 0o600 });
      return path;
    };
    const addPage = (pageId: string, more: string[], e = env, input?: string) =>
      runCli(['pages', 'add', '--workspace', ws, '--page-id', pageId, ...more], e, { input });
    /** The page as `pages list` shows it, and its stored token, decrypted. */
    const storedPage = async (pageId: string) => {
      const listed = (JSON.parse(await cli(['pages', 'list', '--workspace', ws, '--json'], env)) as { page_id: string; status: string }[]).find(
        (p) => p.page_id === pageId,
      );
      const row = await dbh.db.selectFrom('pages').select('token_envelope').where('page_id', '=', pageId).executeTakeFirst();
      return { listed, token: row ? keyRing.decrypt(row.token_envelope, `page-token:${pageId}`) : undefined };
    };
    /** Meta was asked about exactly this token (so it reached Graph without a trailing newline). */
    const checkedWithMeta = (token: string) => graph.calls.some((c) => c.path.endsWith('/debug_token') && c.query.input_token === token);

    before(async () => {
      ws = await cli(['workspaces', 'create', '--name', 'Secret input'], env);
      dir = mkdtempSync(join(tmpdir(), 'leadrelay-e2e-secrets-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('pages add --token-file stores the token from the file without its trailing newline, never printing it', async () => {
      const { pageId, token } = newPage();
      const r = await addPage(pageId, ['--token-file', secretFile(`${pageId}.token`, `${token}\n`)]);
      expect(r.code, r.stderr).to.equal(0);
      expect(warningsOf(r)).to.deep.equal([]);
      expect(r.stdout + r.stderr).to.not.contain(token);
      expect(checkedWithMeta(token)).to.equal(true);
      const stored = await storedPage(pageId);
      expect(stored.listed?.status).to.equal('active');
      expect(stored.token).to.equal(token);
    });

    it('pages add --token-stdin stores the token piped in, never printing it', async () => {
      const { pageId, token } = newPage();
      const r = await addPage(pageId, ['--token-stdin'], env, `${token}\n`);
      expect(r.code, r.stderr).to.equal(0);
      expect(warningsOf(r)).to.deep.equal([]);
      expect(r.stdout + r.stderr).to.not.contain(token);
      expect(checkedWithMeta(token)).to.equal(true);
      const stored = await storedPage(pageId);
      expect(stored.listed?.status).to.equal('active');
      expect(stored.token).to.equal(token);
    });

    it('pages add takes the token from LEADRELAY_TOKEN when no flag gives it, never printing it', async () => {
      const { pageId, token } = newPage();
      const r = await addPage(pageId, [], { ...env, LEADRELAY_TOKEN: token });
      expect(r.code, r.stderr).to.equal(0);
      expect(warningsOf(r)).to.deep.equal([]);
      expect(r.stdout + r.stderr).to.not.contain(token);
      const stored = await storedPage(pageId);
      expect(stored.listed?.status).to.equal('active');
      expect(stored.token).to.equal(token);
    });

    it('pages add --token still works, with one warning naming the safer forms and not the token', async () => {
      const { pageId, token } = newPage();
      const r = await addPage(pageId, ['--token', token]);
      expect(r.code, r.stderr).to.equal(0);
      const warnings = warningsOf(r);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.contain('ps').and.contain('--token-file').and.contain('--token-stdin').and.contain('LEADRELAY_TOKEN');
      expect(r.stderr).to.not.contain(token);
      expect((await storedPage(pageId)).token).to.equal(token);
    });

    it('the file beats LEADRELAY_TOKEN', async () => {
      const { pageId, token } = newPage();
      const r = await addPage(pageId, ['--token-file', secretFile(`${pageId}.token`, token)], { ...env, LEADRELAY_TOKEN: 'EAAB-stale-variable-secret' });
      expect(r.code, r.stderr).to.equal(0);
      expect((await storedPage(pageId)).token).to.equal(token);
    });

    it('refuses --token with --token-file in one line naming both, storing nothing and printing neither', async () => {
      const { pageId, token } = newPage();
      const r = await addPage(pageId, ['--token', token, '--token-file', secretFile(`${pageId}.token`, 'EAAB-file-secret\n')]);
      expectRefusal(r, /^error: --token and --token-file both give the page access token: give it once$/);
      expect(r.stdout + r.stderr)
        .to.not.contain(token)
        .and.not.contain('EAAB-file-secret');
      expect((await storedPage(pageId)).listed).to.equal(undefined);
    });

    it('refuses a missing token file, an empty stdin and no token at all, each in one line naming the flag', async () => {
      const { pageId } = newPage();
      const missing = join(dir, 'no-such.token');
      expectRefusal(await addPage(pageId, ['--token-file', missing]), new RegExp(`^error: --token-file: cannot read ${missing} \\(no such file\\)$`));
      expectRefusal(await addPage(pageId, ['--token-stdin'], env, ''), /^error: --token-stdin: standard input was empty$/);
      expectRefusal(await addPage(pageId, []), /^error: the page access token is required: give it with --token-file <path>, --token-stdin or LEADRELAY_TOKEN/);
      expect((await storedPage(pageId)).listed).to.equal(undefined);
    });

    it('destinations add --secret-file stores the signing secret from the file, and reauth --secret-stdin replaces it, never printing either', async () => {
      const first = 'file-signing-secret-0123456789';
      const second = 'stdin-signing-secret-9876543210';
      const add = await runCli(
        [
          'destinations',
          'add',
          '--workspace',
          ws,
          '--type',
          'webhook',
          '--url',
          'https://127.0.0.1:9/in',
          '--secret-file',
          secretFile('signing', `${first}\n`),
        ],
        env,
      );
      expect(add.code, add.stderr).to.equal(0);
      expect(warningsOf(add)).to.deep.equal([]);
      const dest = add.stdout.trim();
      expect(dest).to.match(/^[0-9a-f-]{36}$/);
      const credentials = async () => {
        const row = await dbh.db.selectFrom('destinations').select('credentials_envelope').where('id', '=', dest).executeTakeFirstOrThrow();
        return keyRing.decryptJson(row.credentials_envelope!, `destination:${dest}`);
      };
      expect(await credentials()).to.deep.equal({ secret: first });

      const reauth = await runCli(['destinations', 'reauth', dest, '--secret-stdin'], env, { input: `${second}\n` });
      expect(reauth.code, reauth.stderr).to.equal(0);
      expect(reauth.stdout).to.match(/^signing secret replaced; resumed 0 parked deliveries/);
      expect(await credentials()).to.deep.equal({ secret: second });
      for (const r of [add, reauth])
        expect(r.stdout + r.stderr)
          .to.not.contain(first)
          .and.not.contain(second);
    });

    it('destinations reauth refuses --secret with --secret-stdin in one line, replacing nothing', async () => {
      const add = await runCli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', 'https://127.0.0.1:9/in'], {
        ...env,
        LEADRELAY_SECRET: 'variable-signing-secret-012345',
      });
      expect(add.code, add.stderr).to.equal(0);
      const dest = add.stdout.trim();
      const before = await dbh.db.selectFrom('destinations').select('credentials_envelope').where('id', '=', dest).executeTakeFirstOrThrow();
      const r = await runCli(['destinations', 'reauth', dest, '--secret', 'flag-signing-secret-0123456', '--secret-stdin'], env, {
        input: 'stdin-signing-secret-0123456\n',
      });
      expectRefusal(r, /^error: --secret and --secret-stdin both give the webhook HMAC signing secret: give it once$/);
      expect(r.stderr).to.not.contain('flag-signing-secret').and.not.contain('stdin-signing-secret');
      const after = await dbh.db.selectFrom('destinations').select('credentials_envelope').where('id', '=', dest).executeTakeFirstOrThrow();
      expect(after.credentials_envelope).to.equal(before.credentials_envelope);
    });
  });

  describe('--json on every list, and leads show', () => {
    let ws: string;
    let receiver: FakeReceiver;
    const PAGE = '61000';
    const FORM = '61001';
    const PAGE_TOKEN = 'EAAB-json-page-token-secret';
    const SECRET = 'json-test-signing-secret';

    before(async () => {
      receiver = await startFakeReceiver({ secret: SECRET });
      ws = await cli(['workspaces', 'create', '--name', 'JSON'], env);
      graph.setPageToken(PAGE, PAGE_TOKEN, 'JSON Bikes');
      graph.installApp(PAGE);
      graph.addForm({ id: FORM, page_id: PAGE, name: 'Test ride', questions: [{ key: 'email', type: 'EMAIL', label: 'Email' }] });
      await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    });
    after(async () => {
      await receiver?.close();
    });

    it('workspaces, pages, destinations, routes and leads list print parseable JSON without secrets', async () => {
      const dest = await cli(
        ['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', receiver.url, '--secret', SECRET, '--name', 'Receiver'],
        env,
      );
      const route = await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', dest], env);

      const workspacesOut = await cli(['workspaces', 'list', '--json'], env);
      const workspaces = JSON.parse(workspacesOut) as { id: string; name: string }[];
      expect(workspaces.find((w) => w.id === ws)).to.include({ name: 'JSON' });
      const pagesOut = await cli(['pages', 'list', '--workspace', ws, '--json'], env);
      expect(JSON.parse(pagesOut)).to.deep.equal([
        { ...JSON.parse(pagesOut)[0], workspace_id: ws, page_id: PAGE, name: 'JSON Bikes', status: 'active', status_reason: null },
      ]);
      const destsOut = await cli(['destinations', 'list', '--workspace', ws, '--json'], env);
      const dests = JSON.parse(destsOut) as { id: string; type: string; name: string; status: string }[];
      expect(dests.map((d) => [d.id, d.type, d.name, d.status])).to.deep.equal([[dest, 'webhook', 'Receiver', 'active']]);
      expect(destsOut).to.not.contain(new URL(receiver.url).pathname);
      const routesOut = await cli(['routes', 'list', '--workspace', ws, '--json'], env);
      expect((JSON.parse(routesOut) as { id: string }[]).map((r) => r.id)).to.deep.equal([route]);
      const leadsOut = await cli(['leads', 'list', '--workspace', ws, '--json'], env);
      expect(JSON.parse(leadsOut)).to.deep.equal([]);
      // No list, whatever it holds, shows a secret or an envelope.
      for (const [list, out] of Object.entries({ workspacesOut, pagesOut, destsOut, routesOut, leadsOut })) {
        expect(out, list).to.not.contain(PAGE_TOKEN).and.not.contain(SECRET).and.not.contain('lr1.');
      }
    });

    it("leads show lists every delivery attempt with its time, outcome and reason, never the lead's answers", async () => {
      const leadgenId = '61000000000001';
      graph.addLead({ id: leadgenId, form_id: FORM, field_data: [{ name: 'email', values: ['zoe.private@example.com'] }] });
      receiver.respondWith([{ status: 503, body: '{"message":"receiver warming up"}', headers: { 'content-type': 'application/json' } }]);
      const program = await startProgram('start', env);
      try {
        expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId })).status).to.equal(200);
        const leadId = await waitUntil(
          async () => {
            const list = JSON.parse(await cli(['leads', 'list', '--workspace', ws, '--json'], env)) as {
              id: string;
              leadgen_id: string;
              deliveries: { status: string }[];
            }[];
            const lead = list.find((l) => l.leadgen_id === leadgenId);
            return lead?.deliveries[0]?.status === 'delivered' ? lead.id : undefined;
          },
          120_000,
          'the lead delivered after one retry',
        );

        const shownJson = await cli(['leads', 'show', leadId, '--json'], env);
        const shown = JSON.parse(shownJson) as {
          id: string;
          leadgen_id: string;
          page: { id: string; name: string };
          form: { id: string; name: string };
          answers: string;
          deliveries: {
            status: string;
            destination: { id: string; type: string; name: string };
            attempts: { attempt: number; started_at: string; outcome: string; http_status: number | null; reason: string | null; message: string | null }[];
          }[];
        };
        expect(shown).to.include({ id: leadId, leadgen_id: leadgenId, answers: 'stored' });
        expect(shown.page).to.deep.equal({ id: PAGE, name: 'JSON Bikes' });
        expect(shown.form).to.deep.equal({ id: FORM, name: 'Test ride' });
        expect(shown.deliveries).to.have.length(1);
        const [delivery] = shown.deliveries;
        expect(delivery).to.include({ status: 'delivered' });
        expect(delivery.destination).to.deep.equal({ id: delivery.destination.id, type: 'webhook', name: 'Receiver' });
        expect(delivery.attempts.map((a) => [a.outcome, a.http_status, a.reason])).to.deep.equal([
          ['retry', 503, 'status_code_503'],
          ['delivered', 200, null],
        ]);
        expect(delivery.attempts[0].message).to.contain('receiver warming up');
        for (const a of delivery.attempts) expect(Date.parse(a.started_at)).to.be.a('number').and.not.NaN;
        expect(shownJson).to.not.contain('zoe.private');

        const text = await cli(['leads', 'show', leadId], env);
        expect(text).to.contain(`lead ${leadId}`);
        expect(text).to.match(/#1 {2}\S+ {2}retry {2}HTTP 503 {2}retryable\/status_code_503: .*receiver warming up/);
        expect(text).to.match(/#2 {2}\S+ {2}delivered {2}HTTP 200/);
        expect(text).to.not.contain('zoe.private');
      } finally {
        await program.kill();
      }
    });
  });

  it('exits non-zero by itself when it cannot listen (instead of idling on open connections)', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      // Far more than a start-up takes even on a loaded machine; a process idling on its
      // connections would be killed at this bound and have no exit code of its own.
      const r = await runCli(['serve'], { ...env, PORT: String(port), HOST: '127.0.0.1' }, { timeoutMs: 90_000 });
      expect(r.signal, 'killed at the bound instead of exiting').to.equal(null);
      expect(r.code).to.be.a('number').and.not.equal(0);
      expect(r.stderr).to.contain('EADDRINUSE');
    } finally {
      blocker.close();
    }
  });

  it('list commands never migrate: on a database not set up yet they exit 2 naming the fix and create no table', async () => {
    const fresh = await createTestSchema('cliro');
    try {
      const r = await runCli(['workspaces', 'list'], { ...env, DATABASE_URL: fresh.url });
      expectRefusal(r, /^error: the database is not set up yet \(\d+ migration\(s\) pending\): start LeadRelay once, or run leadrelay migrate$/);
      const { rows } = await sql`select table_name from information_schema.tables where table_schema = ${fresh.schema}`.execute(dbh.db);
      expect(rows).to.deep.equal([]);
    } finally {
      await fresh.drop();
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
    graph.setPageToken('777', 'EAAB-rotate-me');
    await cli(['pages', 'add', '--workspace', ws, '--page-id', '777', '--token', 'EAAB-rotate-me'], env);
    const dest = await cli(
      ['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', 'https://crm.example.com/x', '--secret', 'another-long-signing-secret'],
      env,
    );
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
    // Every envelope in the database, not only the two made here: page tokens, destination
    // credentials and lead answers (the leads of earlier tests, if any).
    const envelopes = [
      ...(await dbh.db.selectFrom('pages').select('token_envelope as e').execute()),
      ...(await dbh.db.selectFrom('destinations').select('credentials_envelope as e').where('credentials_envelope', 'is not', null).execute()),
      ...(await dbh.db.selectFrom('leads').select('answers_envelope as e').where('answers_envelope', 'is not', null).execute()),
    ].map((r) => r.e!);
    expect(envelopes.length).to.be.greaterThan(2);
    expect(
      envelopes.filter((e) => !e.startsWith('lr1.k2.')),
      'envelopes not under k2',
    ).to.deep.equal([]);
    // With only the old key configured, the page token can no longer be read: a clear error naming the key id.
    const ctxEnv = { ...env, LEADRELAY_ENCRYPTION_KEYS: TEST_KEYS };
    const check = await runCli(['destinations', 'check', dest], ctxEnv);
    expect(check.code).to.not.equal(0);
    expect(check.stderr).to.contain('"k2"');
    expect(check.stderr).to.not.match(/lr1\.k2\./);
  });
});

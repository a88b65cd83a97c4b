// End to end through the real binary: an API key's lifecycle (created by the operator CLI and
// shown once, used by `leadrelay api`, listed masked, revoked and refused at once, audited), and
// `leadrelay api` itself: the key from the environment, a file or stdin; the body from a flag,
// a file or stdin; a refusal's problem on stderr with exit code 1.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseEnv, cli, createOwner, removeQueues, runCli, startProgram, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

describe('e2e: API keys and leadrelay api', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dir: string;
  let workspaceId: string;
  let otherId: string;
  /** An admin key made by the operator CLI: its secret and id. */
  let secret: string;
  let keyId: string;
  /** The environment of `leadrelay api` calls with the admin key. */
  let withKey: Record<string, string>;

  before(async () => {
    schema = await createTestSchema('e2e');
    dir = mkdtempSync(join(tmpdir(), 'leadrelay-api-keys-'));
    env = baseEnv({ DATABASE_URL: schema.url });
    workspaceId = await cli(['workspaces', 'create', '--name', 'Keyed'], env);
    otherId = await cli(['workspaces', 'create', '--name', 'Unrelated'], env);
    await createOwner(env);
    program = await startProgram('serve', env);
    const created = await runCli(['api-keys', 'create', '--workspace', workspaceId, '--name', 'ops', '--role', 'admin'], env);
    expect(created.code, created.stderr).to.equal(0);
    secret = created.stdout.trim();
    keyId = /API key ([0-9a-f-]{36})/.exec(created.stderr)![1]!;
    withKey = { ...env, LEADRELAY_API_URL: program.url, LEADRELAY_API_KEY: secret };
  });
  after(async () => {
    await program?.kill();
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('api-keys create prints the secret alone on stdout and says it is shown once', () => {
    expect(secret).to.match(/^lrk_[A-Za-z0-9_-]{43}$/);
    expect(program.output()).to.not.include(secret);
  });

  it('leadrelay api GET prints the JSON answer, with the key from LEADRELAY_API_KEY', async () => {
    const r = await runCli(['api', 'GET', `/workspaces/${workspaceId}`], withKey);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.include({ id: workspaceId, name: 'Keyed', role: 'admin' });
  });

  it('reads the key from --key-file or --key-stdin instead', async () => {
    const file = join(dir, 'key');
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    const noEnvKey = { ...env, LEADRELAY_API_URL: program.url };
    const fromFile = await runCli(['api', 'get', '/workspaces', '--key-file', file], noEnvKey);
    expect(fromFile.code, fromFile.stderr).to.equal(0);
    expect(JSON.parse(fromFile.stdout).items.map((w: { id: string }) => w.id)).to.deep.equal([workspaceId]);
    const fromStdin = await runCli(['api', 'GET', '/workspaces', '--key-stdin'], noEnvKey, { input: `${secret}\n` });
    expect(fromStdin.code, fromStdin.stderr).to.equal(0);
    const none = await runCli(['api', 'GET', '/workspaces'], noEnvKey);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.include('LEADRELAY_API_KEY');
  });

  it('sends a body from --data, --data-file or --data-stdin', async () => {
    const patch = (args: string[], input?: string) => runCli(['api', 'PATCH', `/workspaces/${workspaceId}`, ...args], withKey, { input });
    const a = await patch(['--data', '{"name":"Keyed A"}']);
    expect(a.code, a.stderr).to.equal(0);
    expect(JSON.parse(a.stdout).name).to.equal('Keyed A');
    const file = join(dir, 'body.json');
    writeFileSync(file, '{"name":"Keyed B"}');
    const b = await patch(['--data-file', file]);
    expect(JSON.parse(b.stdout).name).to.equal('Keyed B');
    const c = await patch(['--data-stdin'], '{"name":"Keyed C"}');
    expect(c.code, c.stderr).to.equal(0);
    expect(JSON.parse(c.stdout).name).to.equal('Keyed C');
    const bad = await patch(['--data', '{not json']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('--data');
  });

  it("prints a refusal's title, detail and fields on stderr and exits 1", async () => {
    const invalid = await runCli(['api', 'PATCH', `/workspaces/${workspaceId}`, '--data', '{"lead_retention_days":0}'], withKey);
    expect(invalid.code).to.equal(1);
    expect(invalid.stdout).to.equal('');
    expect(invalid.stderr).to.include('422 Invalid request');
    expect(invalid.stderr).to.include('body.lead_retention_days');
    const elsewhere = await runCli(['api', 'GET', `/workspaces/${otherId}`], withKey);
    expect(elsewhere.code).to.equal(1);
    expect(elsewhere.stderr).to.include('404 Not found');
    expect(elsewhere.stderr).to.not.include('Unrelated');
  });

  it('lists keys masked through the API and the CLI, never the secret', async () => {
    const viaApi = await runCli(['api', 'GET', `/workspaces/${workspaceId}/api-keys`], withKey);
    expect(viaApi.code, viaApi.stderr).to.equal(0);
    const item = JSON.parse(viaApi.stdout).items.find((k: { id: string }) => k.id === keyId);
    expect(item).to.include({ name: 'ops', role: 'admin', last4: `…${secret.slice(-4)}`, revoked_at: null });
    expect(item.last_used_at).to.be.a('string');
    const viaCli = await runCli(['api-keys', 'list', '--workspace', workspaceId], env);
    expect(viaCli.code, viaCli.stderr).to.equal(0);
    expect(viaCli.stdout)
      .to.include(keyId)
      .and.include(`…${secret.slice(-4)}`);
    for (const out of [viaApi.stdout, viaCli.stdout]) expect(out).to.not.include(secret.slice(4, 24));
  });

  it('a key made through the API and revoked through the API is refused at once; the audit log has both', async () => {
    const made = await runCli(['api', 'POST', `/workspaces/${workspaceId}/api-keys`, '--data', '{"name":"temp","role":"viewer"}'], withKey);
    expect(made.code, made.stderr).to.equal(0);
    const temp = JSON.parse(made.stdout) as { id: string; secret: string };
    const asTemp = { ...withKey, LEADRELAY_API_KEY: temp.secret };
    expect((await runCli(['api', 'GET', `/workspaces/${workspaceId}`], asTemp)).code).to.equal(0);
    const revoked = await runCli(['api', 'DELETE', `/workspaces/${workspaceId}/api-keys/${temp.id}`], withKey);
    expect(revoked.code, revoked.stderr).to.equal(0);
    const refused = await runCli(['api', 'GET', `/workspaces/${workspaceId}`], asTemp);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.include('401');

    const audit = await runCli(['api', 'GET', `/workspaces/${workspaceId}/audit?target_id=${temp.id}`], withKey);
    expect(audit.code, audit.stderr).to.equal(0);
    const entries = JSON.parse(audit.stdout).items as { action: string; actor: { type: string; id: string } }[];
    expect(entries.map((e) => e.action)).to.deep.equal(['revokeApiKey', 'createApiKey']);
    for (const e of entries) expect(e.actor).to.include({ type: 'api_key', id: keyId });
    expect(audit.stdout).to.not.include(temp.secret.slice(4, 24));
  });

  it('the operator CLI revokes a key, and both operator actions are in the audit log', async () => {
    const made = await runCli(['api-keys', 'create', '--workspace', workspaceId, '--name', 'cli-made', '--role', 'editor', '--json'], env);
    expect(made.code, made.stderr).to.equal(0);
    const key = JSON.parse(made.stdout) as { id: string; secret: string };
    expect((await runCli(['api-keys', 'revoke', key.id], env)).code).to.equal(0);
    const refused = await runCli(['api', 'GET', '/workspaces'], { ...withKey, LEADRELAY_API_KEY: key.secret });
    expect(refused.code).to.equal(1);
    const audit = JSON.parse(await cli(['api', 'GET', `/workspaces/${workspaceId}/audit?target_id=${key.id}`], withKey));
    expect(audit.items.map((e: { action: string; actor: { type: string } }) => `${e.actor.type}:${e.action}`)).to.deep.equal([
      'operator:revokeApiKey',
      'operator:createApiKey',
    ]);
    const unknown = await runCli(['api-keys', 'revoke', '00000000-0000-4000-8000-000000000000'], env);
    expect(unknown.code).to.equal(2);
  });

  it('refuses an unknown method or a relative path with exit code 2', async () => {
    expect((await runCli(['api', 'FETCH', '/workspaces'], withKey)).code).to.equal(2);
    expect((await runCli(['api', 'GET', 'workspaces'], withKey)).code).to.equal(2);
  });
});

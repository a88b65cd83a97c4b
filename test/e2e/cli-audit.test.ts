// Operator commands that change something leave an audit entry naming the operator, the command
// and the options given, never the options' values (some are secrets).
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { baseEnv, cli } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

describe('e2e: operator commands in the audit log', function () {
  this.timeout(120_000);
  let schema: TestSchema;
  let env: Record<string, string>;
  let dbh: DbHandle;
  let dir: string;

  before(async () => {
    schema = await createTestSchema('cliaudit');
    env = baseEnv({ DATABASE_URL: schema.url });
    await cli(['migrate'], env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    dir = mkdtempSync(join(tmpdir(), 'lr-cli-audit-'));
  });
  after(async () => {
    await dbh?.close();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records a change with the operator, the command and the option names, without a secret', async () => {
    const workspace = (await cli(['workspaces', 'create', '--name', 'Audited'], env)).trim();
    const tokenFile = join(dir, 'token');
    const token = 'EAAG-page-token-that-must-not-be-logged-0001';
    writeFileSync(tokenFile, `${token}\n`);
    await cli(['pages', 'add', '--workspace', workspace, '--page-id', '4242', '--token-file', tokenFile, '--skip-check'], env);
    const rows = await dbh.db.selectFrom('audit_log').selectAll().where('action', '=', 'cli.pages.add').execute();
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ actor_type: 'operator', workspace_id: workspace });
    expect(rows[0]!.actor_label).to.match(/\(CLI\)$/);
    expect(rows[0]!.details).to.deep.equal({ options: ['workspace', 'pageId', 'tokenFile', 'skipCheck'] });
    expect(JSON.stringify(rows)).to.not.include(token);
    const created = await dbh.db.selectFrom('audit_log').select('action').where('action', '=', 'cli.workspaces.create').execute();
    expect(created).to.have.length(1);
  });

  it('writes nothing for a read-only command', async () => {
    const before = await dbh.db.selectFrom('audit_log').select('id').execute();
    await cli(['pages', 'list', '--json'], env);
    await cli(['workspaces', 'create', '--name', 'Marker'], env);
    const after = await dbh.db
      .selectFrom('audit_log')
      .select('action')
      .where('id', 'not in', before.length ? before.map((r) => r.id) : [0])
      .execute();
    expect(after.map((r) => r.action)).to.deep.equal(['cli.workspaces.create']);
  });
});

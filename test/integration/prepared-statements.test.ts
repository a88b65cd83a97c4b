// Repeated statements become named prepared statements on the real PostgreSQL: after their
// third use, only plain data statements, never when turned off, and a prepared `select *` whose
// table changed under it fails once and then runs unnamed.
import { expect } from 'chai';
import { sql } from 'kysely';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { StatementNamer } from '../../src/store/prepared-statements.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

describe('named prepared statements', function () {
  this.timeout(30_000);
  let schema: TestSchema;
  const handles: DbHandle[] = [];

  /** One connection, so every statement of a test runs on the one whose prepared statements are listed. */
  const open = async (preparedStatements?: boolean) => {
    const h = await openDb({ url: schema.url, poolMax: 1, preparedStatements });
    handles.push(h);
    return h;
  };
  /** The connection's prepared statements, listed through a statement that is never named. */
  const preparedOn = async (h: DbHandle) => {
    const { rows } = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements order by name`.execute(h.db);
    return rows;
  };

  before(async () => {
    schema = await createTestSchema('prep');
    const h = await openDb({ url: schema.url, poolMax: 1, preparedStatements: false });
    await sql`create table things (id int primary key, label text)`.execute(h.db);
    await sql`insert into things values (1, 'one'), (2, 'two')`.execute(h.db);
    await h.close();
  });
  after(async () => {
    await Promise.all(handles.map((h) => h.close()));
    await schema?.drop();
  });

  it('names a statement from its third use on, with the same results as unnamed', async () => {
    const h = await open();
    const labelOf = async (id: number) =>
      (await h.db
        .selectFrom('things' as never)
        .select('label' as never)
        .where('id' as never, '=', id as never)
        .execute()) as unknown[];
    expect(await labelOf(1)).to.deep.equal([{ label: 'one' }]);
    expect(await labelOf(2)).to.deep.equal([{ label: 'two' }]);
    expect(
      (await preparedOn(h)).filter((p) => p.statement.includes('"things"')),
      'two uses: unnamed',
    ).to.deep.equal([]);
    expect(await labelOf(1)).to.deep.equal([{ label: 'one' }]);
    expect(await labelOf(2)).to.deep.equal([{ label: 'two' }]);
    const prepared = (await preparedOn(h)).filter((p) => p.statement.includes('"things"'));
    expect(prepared).to.have.length(1);
    expect(prepared[0].name).to.match(/^lr_[0-9a-f]{24}$/);
  });

  it('never names a statement other than a plain data statement', () => {
    const namer = new StatementNamer({ namedAfter: 1 });
    expect(namer.nameFor('begin')).to.equal(undefined);
    expect(namer.nameFor('set local lock_timeout = 1000')).to.equal(undefined);
    expect(namer.nameFor('create index on things (label)')).to.equal(undefined);
    expect(namer.nameFor('  with x as (select 1) select * from x')).to.match(/^lr_/);
    expect(namer.nameFor('UPDATE things SET label = $1')).to.match(/^lr_/);
  });

  it('stops naming new statements at its limit', () => {
    const namer = new StatementNamer({ namedAfter: 1, maxNames: 2 });
    expect(namer.nameFor('select 1')).to.match(/^lr_/);
    expect(namer.nameFor('select 2')).to.match(/^lr_/);
    expect(namer.nameFor('select 3')).to.equal(undefined);
    expect(namer.nameFor('select 1'), 'a named one keeps its name').to.match(/^lr_/);
  });

  it('names nothing when turned off', async () => {
    const h = await open(false);
    for (let i = 0; i < 5; i++)
      await h.db
        .selectFrom('things' as never)
        .selectAll()
        .execute();
    expect(await preparedOn(h)).to.deep.equal([]);
  });

  it('runs a prepared select * again unnamed once its table changed, after failing the call that found it', async () => {
    const h = await open();
    const all = () =>
      h.db
        .selectFrom('things' as never)
        .selectAll()
        .where('id' as never, '=', 1 as never)
        .execute() as Promise<Record<string, unknown>[]>;
    for (let i = 0; i < 3; i++) expect(await all()).to.deep.equal([{ id: 1, label: 'one' }]);
    await sql`alter table things add column colour text`.execute(h.db);
    const failure = await all().then(
      () => null,
      (err: { code?: string; message: string }) => err,
    );
    expect(failure?.code).to.equal('0A000');
    expect(await all()).to.deep.equal([{ id: 1, label: 'one', colour: null }]);
    expect(await all()).to.deep.equal([{ id: 1, label: 'one', colour: null }]);
  });
});

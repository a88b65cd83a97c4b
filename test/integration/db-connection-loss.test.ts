// A PostgreSQL connection that dies while it is checked out (a transaction doing work between
// statements when the server restarts) must fail that transaction, not the process: pg-pool
// only listens for errors on idle connections, so openDb adds a listener to every connection.
import { expect } from 'chai';
import { sql } from 'kysely';
import pg from 'pg';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { waitUntil } from '../helpers/e2e.js';
import { createTestSchema, TEST_DATABASE_URL, type TestSchema } from '../helpers/test-db.js';

describe('database connection lost inside a transaction', function () {
  this.timeout(30_000);
  let schema: TestSchema;
  let dbh: DbHandle;
  const reported: Error[] = [];

  before(async () => {
    schema = await createTestSchema('conn');
    dbh = await openDb({ url: schema.url, poolMax: 2, onConnectionError: (err) => reported.push(err) });
  });
  after(async () => {
    await dbh?.close();
    await schema?.drop();
  });

  it('fails the transaction with the server error and reports it to onConnectionError', async () => {
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    let failure: unknown = null;
    try {
      await dbh.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        // As a server restart does: the backend is terminated while this transaction holds it.
        await admin.query('select pg_terminate_backend($1)', [rows[0].pid]);
        await waitUntil(async () => reported.length > 0, 10_000, 'the dropped connection to be reported');
        await sql`select 1`.execute(trx);
      });
    } catch (err) {
      failure = err;
    } finally {
      await admin.end();
    }
    expect(failure, 'the transaction failed').to.be.instanceOf(Error);
    expect(reported[0].message).to.match(/terminat/i);
    // The pool replaces the connection: the next query works.
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(dbh.db);
    expect(rows[0].one).to.equal(1);
  });
});

// Which failures of Kysely's catalog listing (before any migration runs) are a race with another
// session dropping its own tables or schema in the same database, and so safe to ask again.
import { expect } from 'chai';
import { isCatalogRace } from '../../src/store/migrate.js';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('isCatalogRace', () => {
  it('takes a table, a whole schema, a relation OID or a column gone during the listing as a race', () => {
    expect(isCatalogRace(pgError('42P01', 'relation "it_1.leads" does not exist'))).to.equal(true);
    expect(isCatalogRace(pgError('3F000', 'schema "it_cb57b14b06a3" does not exist'))).to.equal(true);
    expect(isCatalogRace(pgError('XX000', 'could not open relation with OID 16522'))).to.equal(true);
    expect(isCatalogRace(pgError('42703', 'column "result" of relation "key_rotation_runs" does not exist'))).to.equal(true);
  });

  it('takes any other failure as real', () => {
    expect(isCatalogRace(pgError('XX000', 'cache lookup failed for type 1'))).to.equal(false);
    expect(isCatalogRace(pgError('42501', 'permission denied for schema public'))).to.equal(false);
    expect(isCatalogRace(new Error('connect ECONNREFUSED 127.0.0.1:5432'))).to.equal(false);
  });
});

// What the repositories write for text PostgreSQL would refuse: a NUL byte in a text column or a
// \u0000 escape in jsonb. Pure functions, no database.
import { expect } from 'chai';
import { json, storableText, storableValues } from '../../src/store/values.js';

describe('store values: NUL bytes', () => {
  it('storableText turns each NUL into U+FFFD and leaves other text as it is', () => {
    expect(storableText('ok\u0000 then\u0000')).to.equal('ok\uFFFD then\uFFFD');
    expect(storableText('plain')).to.equal('plain');
    expect(storableText(null)).to.equal(null);
    expect(storableText(undefined)).to.equal(undefined);
  });

  it('storableValues changes only string values holding a NUL, in a copy', () => {
    const set = { last_error_message: 'boom\u0000', attempts: 2, status: 'dead' };
    expect(storableValues(set)).to.deep.equal({ last_error_message: 'boom\uFFFD', attempts: 2, status: 'dead' });
    expect(set.last_error_message).to.equal('boom\u0000');
    const clean = { status: 'dead' };
    expect(storableValues(clean)).to.equal(clean);
  });

  it('json writes a NUL (in a value or a key) as U+FFFD, and keeps the text "\\u0000" as text', () => {
    expect(JSON.parse(json({ body: 'a\u0000b', 'k\u0000': 1 }))).to.deep.equal({ body: 'a\uFFFDb', 'k\uFFFD': 1 });
    expect(JSON.parse(json({ literal: '\\u0000', both: '\\\u0000' }))).to.deep.equal({ literal: '\\u0000', both: '\\\uFFFD' });
    expect(json({ a: 1 })).to.equal('{"a":1}');
  });
});

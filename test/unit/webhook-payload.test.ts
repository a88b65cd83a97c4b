// Unit tests for src/meta/webhook-payload.ts: leadgen webhook bodies and big-id-safe JSON.
// Shapes follow https://developers.facebook.com/docs/graph-api/webhooks/getting-started and
// https://developers.facebook.com/documentation/ads-commerce/marketing-api/guides/lead-ads/retrieving
import { expect } from 'chai';
import fc from 'fast-check';
import {
  exceedsJsonDepth,
  MAX_WEBHOOK_JSON_DEPTH,
  parseJsonKeepingBigIds,
  parseLeadgenPayload,
  parseWebhookBody,
  type LeadgenChange,
  type PayloadParseResult,
} from '../../src/meta/webhook-payload.js';

function expectOk(result: PayloadParseResult): { object: string; changes: LeadgenChange[]; ignoredChanges: number } {
  if (!result.ok) throw new Error(`expected ok, got error: ${result.error}`);
  return result;
}

function expectError(result: PayloadParseResult): string {
  if (result.ok) throw new Error(`expected an error, got ${result.changes.length} changes`);
  return result.error;
}

const leadgen = (value: Record<string, unknown>) => ({ field: 'leadgen', value });

describe('meta webhook payload', () => {
  describe('parseLeadgenPayload: valid bodies', () => {
    it('reads both changes of the official two-changes-in-one-entry shape (numeric ids)', () => {
      // The retrieving guide's sample carries bare numbers and two leadgen changes in one entry.
      const body = {
        object: 'page',
        entry: [
          {
            id: 153125381133,
            time: 1438292065,
            changes: [
              leadgen({
                leadgen_id: 123123123123,
                page_id: 123123123,
                form_id: 12312312312,
                adgroup_id: 12312312312,
                ad_id: 12312312312,
                created_time: 1440120384,
              }),
              leadgen({
                leadgen_id: 123123123124,
                page_id: 123123123,
                form_id: 12312312312,
                adgroup_id: 12312312312,
                ad_id: 12312312312,
                created_time: 1440120384,
              }),
            ],
          },
        ],
      };
      const result = expectOk(parseLeadgenPayload(body));
      expect(result.object).to.equal('page');
      expect(result.ignoredChanges).to.equal(0);
      expect(result.changes).to.deep.equal([
        {
          pageId: '123123123',
          leadgenId: '123123123123',
          formId: '12312312312',
          adId: '12312312312',
          adgroupId: '12312312312',
          createdTime: new Date(1440120384 * 1000),
          entryTime: new Date(1438292065 * 1000),
          isDashboardTest: false,
        },
        {
          pageId: '123123123',
          leadgenId: '123123123124',
          formId: '12312312312',
          adId: '12312312312',
          adgroupId: '12312312312',
          createdTime: new Date(1440120384 * 1000),
          entryTime: new Date(1438292065 * 1000),
          isDashboardTest: false,
        },
      ]);
    });

    it('reads every leadgen change of every entry, in order, and counts the others as ignored', () => {
      const body = {
        object: 'page',
        entry: [
          {
            id: '111',
            time: 1767225600,
            changes: [
              leadgen({ leadgen_id: '9001', form_id: '71' }),
              { field: 'feed', value: { item: 'status', verb: 'add' } },
              leadgen({ leadgen_id: '9002', form_id: '72' }),
            ],
          },
          {
            id: '222',
            time: 1767225601,
            changes: [{ field: 'ratings', value: { rating: 5 } }, leadgen({ leadgen_id: '9003', page_id: '222', form_id: '73' })],
          },
        ],
      };
      const result = expectOk(parseLeadgenPayload(body));
      expect(result.changes.map((c) => [c.pageId, c.leadgenId, c.formId])).to.deep.equal([
        ['111', '9001', '71'],
        ['111', '9002', '72'],
        ['222', '9003', '73'],
      ]);
      expect(result.ignoredChanges).to.equal(2);
    });

    it('gives the same result for string and numeric ids', () => {
      const numeric = {
        object: 'page',
        entry: [
          {
            id: 100200300,
            time: 1767225600,
            changes: [leadgen({ leadgen_id: 1234567890, page_id: 100200300, form_id: 555, ad_id: 666, adgroup_id: 777, created_time: 1767225500 })],
          },
        ],
      };
      const strings = {
        object: 'page',
        entry: [
          {
            id: '100200300',
            time: '1767225600',
            changes: [leadgen({ leadgen_id: '1234567890', page_id: '100200300', form_id: '555', ad_id: '666', adgroup_id: '777', created_time: '1767225500' })],
          },
        ],
      };
      const fromNumbers = expectOk(parseLeadgenPayload(numeric)).changes;
      const fromStrings = expectOk(parseLeadgenPayload(strings)).changes;
      expect(fromNumbers).to.deep.equal(fromStrings);
      expect(fromNumbers[0].leadgenId).to.be.a('string').and.equal('1234567890');
      expect(fromNumbers[0].createdTime?.toISOString()).to.equal(new Date(1767225500 * 1000).toISOString());
    });

    it('keeps a 19-digit leadgen id exact when the raw body goes through parseJsonKeepingBigIds', () => {
      const raw =
        '{"object":"page","entry":[{"id":100200300,"time":1767225600,"changes":[{"field":"leadgen","value":{"leadgen_id":1234567890123456789,"page_id":100200300,"form_id":9876543210987654321,"created_time":1767225500}}]}]}';
      const result = expectOk(parseLeadgenPayload(parseJsonKeepingBigIds(raw)));
      expect(result.changes[0].leadgenId).to.equal('1234567890123456789');
      expect(result.changes[0].formId).to.equal('9876543210987654321');

      // Plain JSON.parse has already lost the digits; the parser refuses rather than store a wrong id.
      const lossy = JSON.parse(raw) as { entry: { changes: { value: { leadgen_id: number } }[] }[] };
      expect(String(lossy.entry[0].changes[0].value.leadgen_id)).not.to.equal('1234567890123456789');
      const error = expectError(parseLeadgenPayload(JSON.parse(raw)));
      expect(error).to.include('entry[0].changes[0].value.leadgen_id is a number too large to be exact');
    });

    it('ignores non-leadgen fields entirely, even with values it could not read', () => {
      const body = { object: 'page', entry: [{ id: '1', time: 1, changes: [{ field: 'feed', value: 'whatever' }, { field: 'mention' }] }] };
      const result = expectOk(parseLeadgenPayload(body));
      expect(result.changes).to.deep.equal([]);
      expect(result.ignoredChanges).to.equal(2);
    });

    it('falls back to entry.id when value.page_id is absent, and prefers page_id when both exist', () => {
      const body = {
        object: 'page',
        entry: [{ id: '555', time: 1767225600, changes: [leadgen({ leadgen_id: '1' }), leadgen({ leadgen_id: '2', page_id: '777' })] }],
      };
      expect(expectOk(parseLeadgenPayload(body)).changes.map((c) => c.pageId)).to.deep.equal(['555', '777']);
    });

    it('turns missing ad attribution into nulls (organic and Testing Tool leads)', () => {
      const body = {
        object: 'page',
        entry: [{ id: '555', time: 1767225600, changes: [leadgen({ leadgen_id: '42', page_id: '555', form_id: '9', ad_id: null, adgroup_id: '' })] }],
      };
      const [change] = expectOk(parseLeadgenPayload(body)).changes;
      expect(change.adId).to.equal(null);
      expect(change.adgroupId).to.equal(null);
      expect(change.formId).to.equal('9');
      expect(change.createdTime).to.equal(null);
    });

    it('reads entry.time in seconds or milliseconds as the same instant', () => {
      const make = (time: unknown) => ({ object: 'page', entry: [{ id: '5', time, changes: [leadgen({ leadgen_id: '1' })] }] });
      const seconds = expectOk(parseLeadgenPayload(make(1767225600))).changes[0].entryTime;
      const millis = expectOk(parseLeadgenPayload(make(1767225600123))).changes[0].entryTime;
      expect(seconds?.toISOString()).to.equal('2026-01-01T00:00:00.000Z');
      expect(millis?.toISOString()).to.equal('2026-01-01T00:00:00.123Z');
    });

    it('reads created_time as Unix seconds, and makes unusable times null instead of failing the batch', () => {
      const make = (created_time: unknown) => ({ object: 'page', entry: [{ id: '5', time: 'soon', changes: [leadgen({ leadgen_id: '1', created_time })] }] });
      expect(expectOk(parseLeadgenPayload(make(1767225600))).changes[0].createdTime?.toISOString()).to.equal('2026-01-01T00:00:00.000Z');
      for (const unusable of ['yesterday', -5, 0, {}, true]) {
        const [change] = expectOk(parseLeadgenPayload(make(unusable))).changes;
        expect(change.createdTime, String(unusable)).to.equal(null);
        expect(change.entryTime).to.equal(null);
      }
    });

    it('flags the App Dashboard "Test" payload (leadgen_id 444444444444, entry.id "0")', () => {
      const dashboardTest = {
        object: 'page',
        entry: [
          {
            id: '0',
            time: 1767225600,
            changes: [
              leadgen({
                ad_id: '444444444',
                form_id: '444444444444',
                leadgen_id: '444444444444',
                created_time: 1767225600,
                page_id: '444444444444',
                adgroup_id: '44444444444',
              }),
            ],
          },
        ],
      };
      const [change] = expectOk(parseLeadgenPayload(dashboardTest)).changes;
      expect(change.isDashboardTest).to.equal(true);
      expect(change.leadgenId).to.equal('444444444444');
    });

    it('flags either fake id on its own, and nothing else', () => {
      const make = (entryId: string, leadgenId: string) => ({
        object: 'page',
        entry: [{ id: entryId, time: 1, changes: [leadgen({ leadgen_id: leadgenId, page_id: '100' })] }],
      });
      expect(expectOk(parseLeadgenPayload(make('100', '444444444444'))).changes[0].isDashboardTest).to.equal(true);
      expect(expectOk(parseLeadgenPayload(make('0', '123'))).changes[0].isDashboardTest).to.equal(true);
      expect(expectOk(parseLeadgenPayload(make('100', '123'))).changes[0].isDashboardTest).to.equal(false);
      expect(expectOk(parseLeadgenPayload(make('100', '4444444444440'))).changes[0].isDashboardTest).to.equal(false);
    });

    it('reads a full batch of 1000 changes in one POST', () => {
      const entries = Array.from({ length: 10 }, (_, e) => ({
        id: String(1000 + e),
        time: 1767225600,
        changes: Array.from({ length: 100 }, (_, c) => leadgen({ leadgen_id: String(e * 100 + c + 1), form_id: '7' })),
      }));
      const result = expectOk(parseLeadgenPayload({ object: 'page', entry: entries }));
      expect(result.changes).to.have.length(1000);
      expect(new Set(result.changes.map((c) => c.leadgenId)).size).to.equal(1000);
      expect(result.changes[999]).to.include({ pageId: '1009', leadgenId: '1000' });
    });

    it('accepts an empty entry list and an entry with no changes', () => {
      expect(expectOk(parseLeadgenPayload({ object: 'page', entry: [] })).changes).to.deep.equal([]);
      expect(expectOk(parseLeadgenPayload({ object: 'page', entry: [{ id: '1', time: 1, changes: [] }] })).changes).to.deep.equal([]);
    });

    it('answers ok with no changes for another object type, counting its changes as ignored', () => {
      const body = {
        object: 'instagram',
        entry: [
          {
            id: '17841400000000000',
            time: 1,
            changes: [
              { field: 'comments', value: {} },
              { field: 'mentions', value: {} },
            ],
          },
          { id: '2' },
        ],
      };
      const result = expectOk(parseLeadgenPayload(body));
      expect(result.object).to.equal('instagram');
      expect(result.changes).to.deep.equal([]);
      expect(result.ignoredChanges).to.equal(2);
    });
  });

  describe('parseLeadgenPayload: malformed bodies name the path', () => {
    const cases: [string, unknown, string][] = [
      ['a non-object body', 'hello', 'body must be an object (got string)'],
      ['a null body', null, 'body must be an object (got null)'],
      ['a missing object', { entry: [] }, 'object is missing'],
      ['a non-string object', { object: 5, entry: [] }, 'object must be a string (got number)'],
      ['a missing entry list', { object: 'page' }, 'entry is missing'],
      ['an entry that is not a list', { object: 'page', entry: {} }, 'entry must be an array (got object)'],
      ['an entry that is not an object', { object: 'page', entry: [7] }, 'entry[0] must be an object (got number)'],
      ['an entry without changes', { object: 'page', entry: [{ id: '1', time: 1 }] }, 'entry[0].changes is missing'],
      ['a change without field', { object: 'page', entry: [{ id: '1', changes: [{ value: {} }] }] }, 'entry[0].changes[0].field is missing'],
      [
        'a leadgen value that is not an object',
        { object: 'page', entry: [{ id: '1', changes: [{ field: 'leadgen', value: [] }] }] },
        'entry[0].changes[0].value must be an object (got an array)',
      ],
      [
        'a leadgen change missing leadgen_id in the second entry',
        {
          object: 'page',
          entry: [
            { id: '1', changes: [leadgen({ leadgen_id: '5' })] },
            { id: '2', changes: [leadgen({ page_id: '2' })] },
          ],
        },
        'entry[1].changes[0].value.leadgen_id is missing',
      ],
      [
        'a non-numeric leadgen_id',
        { object: 'page', entry: [{ id: '1', changes: [leadgen({ leadgen_id: '../me?x=1' })] }] },
        'entry[0].changes[0].value.leadgen_id must be a numeric id',
      ],
      [
        'a fractional leadgen_id',
        { object: 'page', entry: [{ id: '1', changes: [leadgen({ leadgen_id: 12.5 })] }] },
        'entry[0].changes[0].value.leadgen_id must be a numeric id',
      ],
      [
        'a boolean form_id',
        { object: 'page', entry: [{ id: '1', changes: [leadgen({ leadgen_id: '5', form_id: true })] }] },
        'entry[0].changes[0].value.form_id must be a numeric id (got boolean)',
      ],
      [
        'no page id anywhere',
        { object: 'page', entry: [{ time: 1, changes: [leadgen({ leadgen_id: '5' })] }] },
        'entry[0].changes[0].value.page_id is missing (and entry.id is missing too)',
      ],
    ];
    for (const [label, body, expected] of cases) {
      it(`reports ${label}`, () => {
        expect(expectError(parseLeadgenPayload(body))).to.include(expected);
      });
    }

    it('explains a body sent without include_values (changed_fields only)', () => {
      const error = expectError(parseLeadgenPayload({ object: 'page', entry: [{ id: '1', time: 1, changed_fields: ['leadgen'] }] }));
      expect(error).to.equal('entry[0].changes is missing (only changed_fields was sent: subscribe the app with include_values=true)');
    });

    it('does not echo the offending values', () => {
      const error = expectError(parseLeadgenPayload({ object: 'page', entry: [{ id: '1', changes: [leadgen({ leadgen_id: 'zoe@example.com' })] }] }));
      expect(error).not.to.include('zoe@example.com');
    });

    it('lists several problems and summarises the rest', () => {
      const changes = Array.from({ length: 8 }, () => leadgen({ page_id: '1' }));
      const error = expectError(parseLeadgenPayload({ object: 'page', entry: [{ id: '1', changes }] }));
      expect(error).to.include('entry[0].changes[0].value.leadgen_id is missing');
      expect(error).to.include('entry[0].changes[4].value.leadgen_id is missing');
      expect(error).not.to.include('changes[5]');
      expect(error).to.match(/and 3 more problems$/);
    });

    it('fails the whole body when one leadgen change is malformed (no partial results)', () => {
      const body = { object: 'page', entry: [{ id: '1', changes: [leadgen({ leadgen_id: '1' }), leadgen({ leadgen_id: 'x' })] }] };
      expect(parseLeadgenPayload(body).ok).to.equal(false);
    });
  });

  describe('parseJsonKeepingBigIds', () => {
    it('turns integers of more than 15 digits into exact strings', () => {
      const parsed = parseJsonKeepingBigIds('{"a":1234567890123456789,"b":[9007199254740993,-12345678901234567],"c":{"d":1234567890123456}}');
      expect(parsed).to.deep.equal({ a: '1234567890123456789', b: ['9007199254740993', '-12345678901234567'], c: { d: '1234567890123456' } });
    });

    it('leaves integers of 15 digits or fewer, fractions and exponents as numbers', () => {
      const parsed = parseJsonKeepingBigIds('{"a":123456789012345,"b":1767225600,"c":1234567890123456.5,"d":12345678901234567e2,"e":-1.5E-7,"f":0}');
      // biome-ignore lint/correctness/noPrecisionLoss: the same literals, as the parser must return them
      expect(parsed).to.deep.equal({ a: 123456789012345, b: 1767225600, c: 1234567890123456.5, d: 12345678901234567e2, e: -1.5e-7, f: 0 });
    });

    it('never changes string contents, including digits and escaped quotes inside strings', () => {
      const raw = String.raw`{"a":"12345678901234567890","b":"say \"12345678901234567890\" now","c":"C:\\","d":12345678901234567890,"e":"\\\"1234567890123456789\\\"","f":"\u0031234567890123456789"}`;
      expect(parseJsonKeepingBigIds(raw)).to.deep.equal({
        a: '12345678901234567890',
        b: 'say "12345678901234567890" now',
        c: 'C:\\',
        d: '12345678901234567890',
        e: '\\"1234567890123456789\\"',
        f: '1234567890123456789',
      });
    });

    it('handles big numbers at the very start, the very end and next to whitespace', () => {
      expect(parseJsonKeepingBigIds('1234567890123456789')).to.equal('1234567890123456789');
      expect(parseJsonKeepingBigIds(' [ 1234567890123456789 ,\n 2 ] ')).to.deep.equal(['1234567890123456789', 2]);
    });

    it('equals JSON.parse for any JSON whose strings hold digits, quotes and backslashes (property)', () => {
      const text = fc.string({ unit: fc.constantFrom('1', '2', '9', '"', '\\', '/', ' ', 'a', 'é', '\n', '-', '.'), maxLength: 40 });
      const smallNumber = fc.integer({ min: -1_000_000, max: 1_000_000 });
      const value = fc.letrec((tie) => ({
        node: fc.oneof(
          { depthSize: 'small' },
          text,
          smallNumber,
          fc.boolean(),
          fc.constant(null),
          fc.array(tie('node'), { maxLength: 4 }),
          fc.dictionary(text, tie('node'), { maxKeys: 4 }),
        ),
      })).node;
      fc.assert(
        fc.property(value, (v) => {
          const raw = JSON.stringify(v);
          expect(parseJsonKeepingBigIds(raw)).to.deep.equal(JSON.parse(raw));
        }),
        { numRuns: 300 },
      );
    });

    it('keeps every digit of any 16-to-25-digit integer id (property)', () => {
      fc.assert(
        fc.property(fc.bigInt({ min: 10n ** 15n, max: 10n ** 25n - 1n }), fc.string({ maxLength: 10 }), (id, note) => {
          const raw = `{"note":${JSON.stringify(note)},"leadgen_id":${id.toString()}}`;
          expect(parseJsonKeepingBigIds(raw)).to.deep.equal({ note, leadgen_id: id.toString() });
        }),
        { numRuns: 200 },
      );
    });

    it('throws SyntaxError on invalid JSON without quoting the input', () => {
      for (const bad of ['{"leadgen_id":1234567890123456789', '{"secret":"zoe@example.com",}', '']) {
        let caught: unknown;
        try {
          parseJsonKeepingBigIds(bad);
        } catch (error) {
          caught = error;
        }
        expect(caught).to.be.instanceOf(SyntaxError);
        expect((caught as Error).message).to.equal('body is not valid JSON');
      }
    });
  });

  describe('exceedsJsonDepth', () => {
    const bytes = (text: string) => Buffer.from(text);
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

    it('counts arrays and objects alike, up to and past the limit', () => {
      expect(exceedsJsonDepth(bytes(nested(3)), 3)).to.equal(false);
      expect(exceedsJsonDepth(bytes(nested(4)), 3)).to.equal(true);
      expect(exceedsJsonDepth(bytes('{"a":[{"b":1}]}'), 3)).to.equal(false);
      expect(exceedsJsonDepth(bytes('{"a":[{"b":{}}]}'), 3)).to.equal(true);
      // Siblings do not add up: depth returns as brackets close.
      expect(exceedsJsonDepth(bytes(`[${Array(50).fill(nested(2)).join(',')}]`), 3)).to.equal(false);
    });

    it('ignores brackets inside strings, escaped quotes included', () => {
      // A string ending in a backslash, and one starting with an escaped quote, both full of brackets.
      const strings = JSON.stringify({ a: '[{'.repeat(20), b: 'x\\', c: `"${'['.repeat(20)}` });
      expect(strings).to.include('"b":"x\\\\"').and.include('"c":"\\"[[');
      expect(exceedsJsonDepth(bytes(strings), 1)).to.equal(false);
      const key = JSON.stringify({ 'k"[[': [[1]] });
      expect(exceedsJsonDepth(bytes(key), 3)).to.equal(false);
      expect(exceedsJsonDepth(bytes(key), 2)).to.equal(true);
    });

    it('scans UTF-8 text byte by byte without misreading multi-byte characters', () => {
      expect(exceedsJsonDepth(bytes('{"name":"Zoë Ångström-Núñez 🚲","v":[1]}'), 2)).to.equal(false);
    });
  });

  describe('parseWebhookBody', () => {
    const body = { object: 'page', entry: [{ id: '1', time: 1, changes: [leadgen({ leadgen_id: '123', page_id: '1' })] }] };

    it('parses a leadgen notification from its raw bytes', () => {
      const result = parseWebhookBody(Buffer.from(JSON.stringify(body)));
      expect(result.ok && result.changes.map((c) => c.leadgenId)).to.deep.equal(['123']);
    });

    it('refuses nesting past the limit before parsing: the bytes after it are never read', () => {
      const raw = Buffer.from(`{"object":"page","entry":${'['.repeat(MAX_WEBHOOK_JSON_DEPTH)} not JSON at all`);
      expect(parseWebhookBody(raw)).to.deep.equal({
        ok: false,
        reason: 'too_deep',
        error: `body nests deeper than ${MAX_WEBHOOK_JSON_DEPTH} levels (a leadgen notification nests 6)`,
      });
    });

    it('names malformed JSON and a bad payload apart', () => {
      expect(parseWebhookBody(Buffer.from('{"object":'))).to.include({ ok: false, reason: 'malformed_json', error: 'body is not valid JSON' });
      expect(parseWebhookBody(Buffer.from('{"object":"page"}'))).to.include({ ok: false, reason: 'bad_payload', error: 'entry is missing' });
    });
  });
});

// The web app's API types (src/web/api/schema.d.ts, committed) against the OpenAPI document the
// operations give now, and the renderer's handling of the JSON Schema keywords zod emits.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { CLIENT_TYPES_FILE, currentClientTypes } from '../../scripts/gen-api.js';
import { typeOf } from '../../scripts/openapi-types.js';

describe('web app API types', () => {
  it('the committed src/web/api/schema.d.ts matches the OpenAPI document (run npm run gen:api after changing an operation)', () => {
    const committed = readFileSync(CLIENT_TYPES_FILE, 'utf8');
    expect(committed === currentClientTypes(), 'src/web/api/schema.d.ts is out of date: run `npm run gen:api` and commit it').to.equal(true);
  });

  it('renders optional and nullable properties, enums, arrays, records and references', () => {
    const t = typeOf({
      type: 'object',
      properties: {
        id: { type: 'string', format: 'uuid' },
        note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        role: { type: 'string', enum: ['owner', 'viewer'] },
        tags: { type: 'array', items: { type: 'string' } },
        user: { $ref: '#/components/schemas/User' },
        details: { type: 'object', propertyNames: { type: 'string' }, additionalProperties: {} },
        'x-y': { type: 'integer' },
      },
      required: ['id', 'note', 'role'],
      additionalProperties: false,
    });
    expect(t).to.equal(
      [
        '{',
        '  id: string;',
        '  note: string | null;',
        '  role: "owner" | "viewer";',
        '  tags?: string[];',
        '  user?: components["schemas"]["User"];',
        '  details?: {',
        '    [key: string]: unknown;',
        '  };',
        '  "x-y"?: number;',
        '}',
      ].join('\n'),
    );
  });

  it('refuses a keyword it cannot type rather than typing it as unknown', () => {
    expect(() => typeOf({ type: 'string', not: { const: 'x' } })).to.throw(/"not"/);
  });
});

// `npm run gen:api`: writes the web app's API types (src/web/api/schema.d.ts) from the OpenAPI
// document the server serves, built from the compiled operations in dist/. Run it after changing
// an operation, and commit the file; test/unit/web-api-types.test.ts fails until then.
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allOperations } from '../src/api/index.js';
import { buildOpenApiDocument } from '../src/api/openapi.js';
import { type OpenApiDocument, renderClientTypes } from './openapi-types.js';

/** src/web/api/schema.d.ts, from dist/scripts. */
export const CLIENT_TYPES_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/web/api/schema.d.ts');

/** The types as the current operations give them (the version does not appear in them). */
export function currentClientTypes(): string {
  return renderClientTypes(buildOpenApiDocument(allOperations(), '0') as unknown as OpenApiDocument);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(CLIENT_TYPES_FILE, currentClientTypes());
  process.stdout.write(`wrote ${CLIENT_TYPES_FILE}\n`);
}

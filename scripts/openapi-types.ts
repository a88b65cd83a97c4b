// Renders the OpenAPI document as the TypeScript types the web app's client (openapi-fetch) reads:
// `paths`, `operations` and `components`, in the shape openapi-typescript gives them. The
// openapi-typescript package itself cannot run here: it drives TypeScript 5's compiler API, and
// this project builds with TypeScript 7, which has none. The document is zod-openapi's output, so
// only the JSON Schema keywords zod emits need rendering; an unknown keyword is refused rather
// than silently typed as `unknown`.

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  description?: string;
  [keyword: string]: unknown;
};

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  description?: string;
  schema?: JsonSchema;
}

interface OperationObject {
  operationId: string;
  summary?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: JsonSchema }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema?: JsonSchema }> }>;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OperationObject>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Keywords that only constrain values (checked by the server), not their TypeScript type. */
const CONSTRAINTS = new Set([
  'description',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'default',
  'propertyNames',
  'examples',
  'title',
  'id',
]);

const TYPE_KEYWORDS = new Set(['$ref', 'type', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', 'properties', 'required', 'additionalProperties', 'items']);

const pad = (depth: number) => '  '.repeat(depth);
const key = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));
const literal = (v: unknown) => JSON.stringify(v);

function docComment(text: string | undefined, depth: number): string {
  if (!text) return '';
  return `${pad(depth)}/** ${text.replace(/\*\//g, '* /').replace(/\s*\n\s*/g, ' ')} */\n`;
}

const union = (parts: string[]) => {
  const unique = [...new Set(parts)];
  return unique.length === 1 ? unique[0]! : unique.map((p) => (p.includes('=>') ? `(${p})` : p)).join(' | ');
};

/** The TypeScript type of one schema, written at `depth` (for the lines of an object type). */
export function typeOf(schema: JsonSchema | undefined, depth = 0): string {
  if (!schema) return 'unknown';
  for (const keyword of Object.keys(schema)) {
    if (!TYPE_KEYWORDS.has(keyword) && !CONSTRAINTS.has(keyword) && !keyword.startsWith('x-'))
      throw new Error(`the JSON Schema keyword "${keyword}" has no TypeScript rendering here (scripts/openapi-types.ts)`);
  }
  if (schema.$ref) {
    const m = /^#\/components\/schemas\/(.+)$/.exec(schema.$ref);
    if (!m) throw new Error(`only references to #/components/schemas are rendered, not ${schema.$ref}`);
    return `components["schemas"][${literal(m[1])}]`;
  }
  if ('const' in schema) return literal(schema.const);
  if (schema.enum) return union(schema.enum.map(literal));
  if (schema.anyOf) return union(schema.anyOf.map((s) => typeOf(s, depth)));
  if (schema.oneOf) return union(schema.oneOf.map((s) => typeOf(s, depth)));
  if (schema.allOf) return schema.allOf.map((s) => typeOf(s, depth)).join(' & ');
  if (Array.isArray(schema.type)) return union(schema.type.map((type) => typeOf({ ...schema, type }, depth)));
  switch (schema.type ?? (schema.properties ? 'object' : undefined)) {
    case 'string':
      return 'string';
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const item = typeOf(schema.items, depth);
      return /^[\w$."[\]]+$/.test(item) ? `${item}[]` : `(${item})[]`;
    }
    case 'object':
      return objectType(schema, depth);
    case undefined:
      return 'unknown';
    default:
      throw new Error(`the JSON Schema type "${schema.type}" has no TypeScript rendering here`);
  }
}

function objectType(schema: JsonSchema, depth: number): string {
  const required = new Set(schema.required ?? []);
  const lines = Object.entries(schema.properties ?? {}).map(
    ([name, prop]) => `${docComment(prop.description, depth + 1)}${pad(depth + 1)}${key(name)}${required.has(name) ? '' : '?'}: ${typeOf(prop, depth + 1)};`,
  );
  const extra = schema.additionalProperties;
  if (extra !== undefined && extra !== false) lines.push(`${pad(depth + 1)}[key: string]: ${extra === true ? 'unknown' : typeOf(extra, depth + 1)};`);
  if (!lines.length) return schema.additionalProperties === false ? 'Record<string, never>' : 'Record<string, unknown>';
  return `{\n${lines.join('\n')}\n${pad(depth)}}`;
}

function parametersType(parameters: Parameter[] | undefined, depth: number): string {
  const lines = (['query', 'header', 'path', 'cookie'] as const).map((where) => {
    const list = (parameters ?? []).filter((p) => p.in === where);
    if (!list.length) return `${pad(depth + 1)}${where}?: never;`;
    const fields = list.map(
      (p) => `${docComment(p.description, depth + 2)}${pad(depth + 2)}${key(p.name)}${p.required ? '' : '?'}: ${typeOf(p.schema, depth + 2)};`,
    );
    const optional = list.every((p) => !p.required) ? '?' : '';
    return `${pad(depth + 1)}${where}${optional}: {\n${fields.join('\n')}\n${pad(depth + 1)}};`;
  });
  return `{\n${lines.join('\n')}\n${pad(depth)}}`;
}

function contentType(content: Record<string, { schema?: JsonSchema }>, depth: number): string {
  const lines = Object.entries(content).map(([media, { schema }]) => `${pad(depth + 1)}${literal(media)}: ${typeOf(schema, depth + 1)};`);
  return `{\n${lines.join('\n')}\n${pad(depth)}}`;
}

function operationType(op: OperationObject, depth: number): string {
  const lines: string[] = [`${pad(depth + 1)}parameters: ${parametersType(op.parameters, depth + 1)};`];
  if (op.requestBody)
    lines.push(
      `${pad(depth + 1)}requestBody${op.requestBody.required ? '' : '?'}: {\n${pad(depth + 2)}content: ${contentType(op.requestBody.content, depth + 2)};\n${pad(depth + 1)}};`,
    );
  else lines.push(`${pad(depth + 1)}requestBody?: never;`);
  const responses = Object.entries(op.responses).map(([status, r]) => {
    const body = r.content ? `content: ${contentType(r.content, depth + 3)};` : 'content?: never;';
    return `${docComment(r.description, depth + 2)}${pad(depth + 2)}${/^\d+$/.test(status) ? status : literal(status)}: {\n${pad(depth + 3)}headers: { [name: string]: unknown };\n${pad(depth + 3)}${body}\n${pad(depth + 2)}};`;
  });
  lines.push(`${pad(depth + 1)}responses: {\n${responses.join('\n')}\n${pad(depth + 1)}};`);
  return `{\n${lines.join('\n')}\n${pad(depth)}}`;
}

/** The whole module: paths, operations and components of the document. */
export function renderClientTypes(doc: OpenApiDocument): string {
  const out: string[] = [
    '// Generated by `npm run gen:api` from the OpenAPI document of src/api (scripts/gen-api.ts): do not edit.',
    '// test/unit/web-api-types.test.ts fails when this file and the document drift apart.',
    '',
    'export interface paths {',
  ];
  const operations: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    const methods = METHODS.filter((m) => item[m]);
    out.push(`  ${literal(path)}: {`);
    for (const m of methods) {
      const op = item[m]!;
      out.push(`${docComment(op.summary, 2)}    ${m}: operations[${literal(op.operationId)}];`);
      operations.push(`${docComment(op.summary, 1)}  ${key(op.operationId)}: ${operationType(op, 1)};`);
    }
    out.push('  };');
  }
  out.push('}', '', 'export interface operations {', ...operations, '}', '', 'export interface components {', '  schemas: {');
  for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
    out.push(`${docComment(schema.description, 2)}    ${key(name)}: ${typeOf(schema, 2)};`);
  }
  out.push('  };', '}', '');
  return out.join('\n');
}

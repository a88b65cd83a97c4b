// The OpenAPI 3.1 document, generated from the operations' own zod schemas by zod-openapi (the
// schemas that validate requests are the ones documented, so the two cannot drift apart). Each
// operation also carries `x-leadrelay-access`: who may call it (the isolation test reads it).
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import type { Operation } from './operation.js';

const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details; errors names each field that was wrong' });

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'malformed request',
  401: 'not signed in, or an unknown API key',
  403: 'signed in, but not allowed (role, MFA policy, CSRF)',
  404: 'not found (or not visible to the caller)',
  409: 'conflicts with the current state',
  415: 'the body is not JSON',
  422: 'a field is invalid; errors names it',
  423: 'the account is locked',
  429: 'rate limited; see Retry-After',
  502: 'Meta or the CRM refused or failed',
  503: 'no owner is set up yet',
};

function operationObject(op: Operation): ZodOpenApiOperationObject {
  const errors = new Set<number>([
    ...(op.access.kind === 'public' ? [] : [401, 403]),
    ...(op.params || op.query || op.body ? [422] : []),
    429,
    ...(op.errors ?? []),
    ...(op.beforeOwner ? [] : [503]),
  ]);
  if (op.access.kind === 'workspace') errors.add(404);
  const responses: ZodOpenApiOperationObject['responses'] = {
    [op.response.status]: {
      description: op.response.description,
      ...(op.response.schema ? { content: { 'application/json': { schema: op.response.schema } } } : {}),
    },
  };
  for (const status of [...errors].sort()) {
    (responses as Record<string, unknown>)[String(status)] = {
      description: ERROR_DESCRIPTIONS[status] ?? 'error',
      content: { 'application/problem+json': { schema: problemSchema } },
    };
  }
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [op.tag],
    security:
      op.access.kind === 'public' ? [] : op.access.kind === 'user' || op.access.kind === 'operator' ? [{ session: [] }] : [{ session: [] }, { apiKey: [] }],
    ...(op.params || op.query ? { requestParams: { ...(op.params ? { path: op.params } : {}), ...(op.query ? { query: op.query } : {}) } } : {}),
    ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: op.body } } } } : {}),
    responses,
    'x-leadrelay-access': op.access,
  };
}

export function buildOpenApiDocument(operations: Operation[], version: string) {
  const paths: ZodOpenApiPathsObject = {};
  for (const op of operations) {
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, ZodOpenApiOperationObject>)[op.method] = operationObject(op);
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'LeadRelay API',
      version,
      description:
        'Everything the CLI does, for the web app and integrators. Authenticate with the session cookie (browser; changes also need the X-CSRF-Token header) or an API key (`Authorization: Bearer lrk_…`). Errors are RFC 9457 problem+json.',
    },
    servers: [{ url: '/api/v1' }],
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'leadrelay_session', description: 'set by POST /auth/sign-in' },
        apiKey: { type: 'http', scheme: 'bearer', description: 'a workspace API key (lrk_…)' },
      },
    },
    paths,
  });
}

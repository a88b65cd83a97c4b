// API keys of a workspace: create one (its secret is in that answer and nowhere else, ever), list
// them (masked to their last four characters), revoke one (401 on its next use).
import { z } from 'zod';
import { findWorkspaceApiKey, listApiKeys, revokeApiKey, viewApiKey } from '../../accounts/api-keys.js';
import { grantIsWithin } from '../../accounts/permissions.js';
import { createApiKey } from '../../accounts/store.js';
import { defineOperation, Reply } from '../operation.js';
import { decodeCursor, pageFrom, pageOf, pageQuery } from '../pagination.js';
import { forbidden, notFound } from '../problem.js';
import { workspaceIdParams } from './workspaces.js';

const KEY_ROLE = z.enum(['admin', 'editor', 'viewer']);

const apiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    role: KEY_ROLE,
    can_read_answers: z.boolean(),
    last4: z.string().meta({ description: 'the last four characters of the key, e.g. "…x9Qa"' }),
    created_by: z.object({ user_id: z.uuid(), email: z.string().nullable() }).nullable().meta({ description: 'null when a key or an operator made it' }),
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime().nullable(),
    revoked_at: z.iso.datetime().nullable(),
  })
  .meta({ id: 'ApiKey' });

const newApiKeySchema = apiKeySchema
  .extend({ secret: z.string().meta({ description: 'the key: shown in this answer only, stored only as a hash' }) })
  .meta({ id: 'NewApiKey' });

const keyParams = workspaceIdParams.extend({ keyId: z.string().meta({ description: 'API key id (uuid)' }) });

const cursorKey = z.object({ at: z.iso.datetime(), id: z.uuid() });

export const apiKeyOperations = [
  defineOperation({
    operationId: 'createApiKey',
    method: 'post',
    path: '/workspaces/{workspaceId}/api-keys',
    summary: 'Create an API key; its secret is in this answer only',
    description: 'A key cannot carry more rights than its creator has in the workspace.',
    tag: 'API keys',
    access: { kind: 'workspace', permission: 'keys.manage' },
    params: workspaceIdParams,
    body: z
      .object({
        name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
        role: KEY_ROLE,
        can_read_answers: z.boolean().optional().meta({ description: 'lets a viewer key read lead answers' }),
      })
      .strict(),
    response: { status: 201, description: 'the new key, with its secret', schema: newApiKeySchema },
    async handler({ app, actor, workspaceId, grant, body, audit }) {
      const wanted = { role: body.role, canReadAnswers: body.can_read_answers ?? false };
      if (!grantIsWithin(wanted, grant!))
        throw forbidden(`a key with role ${body.role}${wanted.canReadAnswers ? ' reading answers' : ''} would have rights your role (${grant!.role}) lacks`);
      const { secret, key } = await createApiKey(app.db, {
        workspaceId,
        name: body.name,
        role: body.role,
        canReadAnswers: wanted.canReadAnswers,
        createdBy: actor!.type === 'user' ? actor!.user.id : null,
      });
      audit.target = { type: 'api_key', id: key.id };
      audit.details = { name: key.name, role: key.role, can_read_answers: key.can_read_answers };
      const row = await findWorkspaceApiKey(app.db, workspaceId, key.id);
      return new Reply(201, { ...viewApiKey(row!), secret });
    },
  }),
  defineOperation({
    operationId: 'listApiKeys',
    method: 'get',
    path: '/workspaces/{workspaceId}/api-keys',
    summary: "The workspace's API keys, newest first (revoked ones too), masked",
    tag: 'API keys',
    access: { kind: 'workspace', permission: 'keys.manage' },
    params: workspaceIdParams,
    query: pageQuery,
    response: { status: 200, description: 'a page of keys', schema: pageOf(apiKeySchema) },
    async handler({ app, workspaceId, query }) {
      const after = decodeCursor(query.cursor, cursorKey);
      const rows = await listApiKeys(app.db, workspaceId, { limit: query.limit + 1, after });
      return pageFrom(rows, query.limit, viewApiKey, (k) => ({ at: new Date(k.created_at).toISOString(), id: k.id }));
    },
  }),
  defineOperation({
    operationId: 'revokeApiKey',
    method: 'delete',
    path: '/workspaces/{workspaceId}/api-keys/{keyId}',
    summary: 'Revoke an API key: every later call with it is refused (401)',
    tag: 'API keys',
    access: { kind: 'workspace', permission: 'keys.manage' },
    params: keyParams,
    response: { status: 200, description: 'the key as revoked', schema: apiKeySchema },
    async handler({ app, workspaceId, params, audit }) {
      const key = await revokeApiKey(app.db, workspaceId, params.keyId);
      if (!key) throw notFound(`API key "${params.keyId}"`);
      audit.target = { type: 'api_key', id: key.id };
      audit.details = { name: key.name };
      return viewApiKey(key);
    },
  }),
];

// Workspaces: the ones the caller may see, creating one (its creator becomes owner), reading and
// changing one.
import { z } from 'zod';
import { listUserWorkspaces, upsertMembership } from '../../accounts/store.js';
import { createWorkspace, findWorkspace, updateWorkspace } from '../../store/repos.js';
import type { Workspace } from '../../store/schema.js';
import { defineOperation, Reply } from '../operation.js';
import { conflict, forbidden, notFound } from '../problem.js';

const ROLE = z.enum(['owner', 'admin', 'editor', 'viewer']);

const workspaceSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    lead_retention_days: z.number().int(),
    require_mfa: z.boolean(),
    created_at: z.iso.datetime(),
    role: ROLE.meta({ description: "the caller's role here" }),
  })
  .meta({ id: 'Workspace' });

export const workspaceIdParams = z.object({ workspaceId: z.string().meta({ description: 'workspace id (uuid)' }) });

const view = (w: Pick<Workspace, 'id' | 'name' | 'lead_retention_days' | 'require_mfa' | 'created_at'>, role: z.infer<typeof ROLE>) => ({
  id: w.id,
  name: w.name,
  lead_retention_days: w.lead_retention_days,
  require_mfa: w.require_mfa,
  created_at: new Date(w.created_at).toISOString(),
  role,
});

const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const retention = z.number().int('must be a whole number of days').min(1, 'must be at least 1 day').max(3650, 'must be at most 3650 days');

export const workspaceOperations = [
  defineOperation({
    operationId: 'listWorkspaces',
    method: 'get',
    path: '/workspaces',
    summary: 'The workspaces the caller belongs to (an API key: its own)',
    tag: 'Workspaces',
    access: { kind: 'authenticated' },
    response: { status: 200, description: 'the workspaces', schema: z.object({ items: z.array(workspaceSchema) }) },
    async handler({ app, actor }) {
      if (actor!.type === 'api_key') {
        const ws = await findWorkspace(app.db, actor!.key.workspace_id);
        return { items: ws ? [view(ws, actor!.key.role)] : [] };
      }
      return { items: (await listUserWorkspaces(app.db, actor!.user.id)).map((w) => view(w, w.role)) };
    },
  }),
  defineOperation({
    operationId: 'createWorkspace',
    method: 'post',
    path: '/workspaces',
    summary: 'Create a workspace; the caller becomes its owner',
    tag: 'Workspaces',
    access: { kind: 'user' },
    body: z.object({ name, lead_retention_days: retention.optional() }),
    response: { status: 201, description: 'the new workspace', schema: workspaceSchema },
    async handler({ app, actor, body, audit }) {
      if (actor!.type !== 'user') throw forbidden('API keys cannot create workspaces');
      const ws = await app.db.transaction().execute(async (trx) => {
        const created = await createWorkspace(trx, body.name, body.lead_retention_days ?? app.config.retention.leadRetentionDays);
        await upsertMembership(trx, { userId: actor!.user.id, workspaceId: created.id, role: 'owner' });
        return created;
      });
      audit.workspaceId = ws.id;
      audit.target = { type: 'workspace', id: ws.id };
      return new Reply(201, view(ws, 'owner'));
    },
  }),
  defineOperation({
    operationId: 'getWorkspace',
    method: 'get',
    path: '/workspaces/{workspaceId}',
    summary: 'One workspace',
    tag: 'Workspaces',
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the workspace', schema: workspaceSchema },
    async handler({ app, workspaceId, grant }) {
      const ws = await findWorkspace(app.db, workspaceId);
      if (!ws) throw notFound(`workspace "${workspaceId}"`);
      return view(ws, grant!.role);
    },
  }),
  defineOperation({
    operationId: 'updateWorkspace',
    method: 'patch',
    path: '/workspaces/{workspaceId}',
    summary: 'Rename a workspace, or change its lead retention or MFA policy',
    tag: 'Workspaces',
    access: { kind: 'workspace', permission: 'workspace.manage' },
    params: workspaceIdParams,
    body: z.object({ name: name.optional(), lead_retention_days: retention.optional(), require_mfa: z.boolean().optional() }).strict(),
    response: { status: 200, description: 'the workspace as changed', schema: workspaceSchema },
    errors: [409],
    async handler({ app, workspaceId, actor, grant, body, audit }) {
      // Turned on by someone without MFA, the policy would shut them out of the workspace at once
      // (an API key has no MFA to lack: it may set it).
      if (body.require_mfa === true && actor!.type === 'user' && !actor!.user.totp_enabled_at)
        throw conflict('enrol MFA first (POST /api/v1/me/mfa/totp): require_mfa would lock you out of this workspace, as you have no MFA yourself');
      const set = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
      audit.details = { changed: Object.keys(set) };
      const ws = Object.keys(set).length ? await updateWorkspace(app.db, workspaceId, set) : await findWorkspace(app.db, workspaceId);
      if (!ws) throw notFound(`workspace "${workspaceId}"`);
      return view(ws, grant!.role);
    },
  }),
];

// Pages: the Facebook pages whose leads a workspace receives. Their tokens go in and never come
// out; a token is checked with Meta before it is stored, as `leadrelay pages add` does.
import { z } from 'zod';
import { LEAD_PAGE_SCOPES } from '../../meta/page-access.js';
import { apiFieldNamer } from '../../services/errors.js';
import { getPage, savePage } from '../../services/pages.js';
import * as repo from '../../store/repos.js';
import type { Page } from '../../store/schema.js';
import { defineOperation } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

export const pageSchema = z
  .object({
    id: z.uuid(),
    page_id: z.string().meta({ description: 'the Facebook page id' }),
    name: z.string().nullable(),
    status: z.string().meta({ description: 'active, or why leads of the page wait (e.g. token_invalid)' }),
    status_reason: z.string().nullable(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'Page' });

export const pageView = (p: Page) => ({
  id: p.id,
  page_id: p.page_id,
  name: p.name,
  status: p.status,
  status_reason: p.status_reason,
  created_at: new Date(p.created_at).toISOString(),
  updated_at: new Date(p.updated_at).toISOString(),
});

const pageParams = workspaceIdParams.extend({ pageId: z.string().max(40).meta({ description: 'the Facebook page id' }) });

export const pageOperations = [
  defineOperation({
    operationId: 'listPages',
    method: 'get',
    path: '/workspaces/{workspaceId}/pages',
    summary: "The workspace's pages (never their tokens)",
    tag: 'Pages',
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the pages', schema: z.object({ items: z.array(pageSchema) }) },
    async handler({ app, workspaceId }) {
      return { items: (await repo.listPages(app.db, workspaceId)).map(pageView) };
    },
  }),
  defineOperation({
    operationId: 'getPage',
    method: 'get',
    path: '/workspaces/{workspaceId}/pages/{pageId}',
    summary: 'One page (never its token)',
    tag: 'Pages',
    access: { kind: 'workspace', permission: 'config.read' },
    params: pageParams,
    response: { status: 200, description: 'the page', schema: pageSchema },
    async handler({ app, workspaceId, params }) {
      return pageView(await getPage(app, workspaceId, params.pageId));
    },
  }),
  defineOperation({
    operationId: 'savePage',
    method: 'post',
    path: '/workspaces/{workspaceId}/pages',
    summary: "Register a page with its access token, or replace a registered page's token",
    description:
      `The token is first checked with Meta: an invalid token, one of another page, or one without the lead permissions (${LEAD_PAGE_SCOPES.join(', ')}) is refused (422 naming body.token); ` +
      'when Meta cannot be asked, nothing is stored (502) unless skip_check is set. Leads of the page that waited for a token are fetched again.',
    tag: 'Pages',
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    body: z.object({
      page_id: z.string().max(40).meta({ description: 'the Facebook page id (digits)' }),
      token: z.string().max(2000).meta({ description: 'the page access token; stored encrypted, never shown again' }),
      name: z.string().max(200).optional().meta({ description: "default: the page's name on Facebook" }),
      skip_check: z.boolean().optional().meta({ description: 'store the token without asking Meta about it' }),
    }),
    response: {
      status: 200,
      description: 'the page as stored',
      schema: z.object({
        page: pageSchema,
        resumed_leads: z.number().int().meta({ description: 'waiting leads of the page fetched again' }),
        warnings: z.array(z.string()),
      }),
    },
    errors: [409, 502],
    async handler({ app, workspaceId, body, audit }) {
      const saved = await savePage(
        app,
        { workspaceId, pageId: body.page_id, token: body.token, name: body.name, skipCheck: body.skip_check },
        apiFieldNamer('body'),
      );
      audit.target = { type: 'page', id: saved.page.page_id };
      audit.details = { skip_check: body.skip_check ?? false };
      return { page: pageView(saved.page), resumed_leads: saved.resumed, warnings: saved.warnings };
    },
  }),
];

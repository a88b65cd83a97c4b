// The health page: pages (token valid, app installed, last lead) and destinations (credentials
// fine, needing re-authorisation, rate limited, failing), from what is stored; `?check=true`
// first asks Meta about every page (debug_token, subscribed_apps) and stores its answer.
import { z } from 'zod';
import { apiFieldNamer } from '../../services/errors.js';
import { describeWorkspaceHealth } from '../../services/health.js';
import { defineOperation } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

const pageHealthSchema = z.object({
  page_id: z.string(),
  name: z.string().nullable(),
  status: z
    .enum(['valid', 'needs_reauth'])
    .meta({ description: 'needs_reauth: a lead fetch found the token dead, or Meta refused it at the last check since it was replaced' }),
  status_reason: z.string().nullable(),
  app_installed: z
    .boolean()
    .nullable()
    .meta({ description: 'whether the app is installed on the page with leadgen, at the last check (null: never checked, or Meta would not say)' }),
  checked_at: z.iso.datetime().nullable(),
  check_outcome: z.enum(['ok', 'refused', 'unavailable']).nullable(),
  check_problem: z.string().nullable().meta({ description: "what the last check found wrong or missing, in Meta's words where it gave them" }),
  last_lead_at: z.iso.datetime().nullable().meta({ description: 'when Meta last sent a lead of the page (the webhook)' }),
});

const destinationHealthSchema = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  status: z
    .enum(['ok', 'needs_reauth', 'rate_limited', 'failing', 'disabled'])
    .meta({ description: 'failing: deliveries went dead in the last 24 hours (replay them with POST …/replay-dead once fixed)' }),
  status_reason: z.string().nullable(),
  rate_limited_until: z.iso.datetime().nullable(),
  last_delivered_at: z.iso.datetime().nullable(),
  dead_last_24h: z.number().int(),
});

export const healthOperations = [
  defineOperation({
    operationId: 'getWorkspaceHealth',
    method: 'get',
    path: '/workspaces/{workspaceId}/health',
    summary: "The workspace's pages and destinations at a glance: what works and what needs doing",
    description:
      'Read from what is stored (cheap to poll). With check=true, Meta is first asked about every page (the token and whether the app is installed); ' +
      'the answer is stored and shown from then on. Without META_APP_ID and META_APP_SECRET, check=true is refused (422 naming query.check).',
    tag: 'Health',
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    query: z.object({
      check: z.enum(['true', 'false']).optional().meta({ description: 'true: ask Meta about every page first' }),
    }),
    response: {
      status: 200,
      description: 'the health of each page and destination',
      schema: z.object({ pages: z.array(pageHealthSchema), destinations: z.array(destinationHealthSchema) }),
    },
    async handler({ app, workspaceId, query }) {
      return describeWorkspaceHealth(app, workspaceId, { check: query.check === 'true', name: apiFieldNamer('query') });
    },
  }),
];

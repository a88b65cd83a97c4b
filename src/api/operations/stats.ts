// Numbers for the health page's chart: leads per day per form and where they are now.
import { z } from 'zod';
import { countLeadsPerDay } from '../../store/lead-log.js';
import { defineOperation } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

export const statsOperations = [
  defineOperation({
    operationId: 'countLeadsPerDay',
    method: 'get',
    path: '/workspaces/{workspaceId}/stats/leads-per-day',
    summary: 'Leads received per UTC day and form over the last days, by where each is now (delivered, failed, pending, parked, unrouted)',
    description: 'Only days and forms with leads are listed; the range is from..to (UTC days, today included).',
    tag: 'Health',
    access: { kind: 'workspace', permission: 'leads.read' },
    params: workspaceIdParams,
    query: z.object({ days: z.coerce.number().int().min(1).max(366).default(30).meta({ description: 'how many UTC days, today included (1-366)' }) }),
    response: {
      status: 200,
      description: 'the counts',
      schema: z.object({
        from: z.string().meta({ description: 'first UTC day, YYYY-MM-DD' }),
        to: z.string().meta({ description: 'last UTC day (today), YYYY-MM-DD' }),
        days: z.number().int(),
        items: z.array(
          z.object({
            date: z.string(),
            form_id: z.string().nullable(),
            form_name: z.string().nullable(),
            total: z.number().int(),
            delivered: z.number().int(),
            failed: z.number().int().meta({ description: 'a delivery is dead' }),
            pending: z.number().int(),
            parked: z.number().int().meta({ description: 'waiting for a destination to be re-authorised' }),
            unrouted: z.number().int(),
          }),
        ),
      }),
    },
    async handler({ app, workspaceId, query }) {
      return countLeadsPerDay(app.db, workspaceId, query.days);
    },
  }),
];

// Health monitors: each monitor's latest finding for the workspace (GET), and a run now (POST):
// page tokens (debug_token), the app's subscription to each page (re-subscribed when it fell off)
// and the app-level webhook subscription, each destination's credentials, dead-letter rates and
// queue age. Problems found raise alerts (…/alerts); what cleared resolves them.
import { z } from 'zod';
import { describeMonitors, runMonitorsNow } from '../../services/monitoring.js';
import { defineOperation } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

const monitorResultSchema = z
  .object({
    monitor: z
      .enum(['page_token', 'page_subscription', 'app_subscription', 'destination_credentials', 'dead_letters', 'queue_age'])
      .meta({ description: 'which check' }),
    subject: z.string().nullable().meta({ description: 'the page id or destination id checked (null: the workspace as a whole)' }),
    subject_name: z.string().nullable(),
    status: z
      .enum(['ok', 'warning', 'problem', 'unavailable', 'skipped'])
      .meta({ description: 'problem: raised an alert; warning: worth a look (e.g. re-subscribed, expires soon); unavailable: could not be checked this time' }),
    summary: z.string(),
    details: z.record(z.string(), z.unknown()).nullable().meta({ description: 'the numbers behind it (rates, ages, expiry, resubscribed_at)' }),
    checked_at: z.iso.datetime(),
  })
  .meta({ id: 'MonitorResult' });

const monitorsSchema = z.object({
  checked_at: z.iso.datetime().nullable().meta({ description: 'when the monitors last ran for the workspace (null: never)' }),
  interval_ms: z.number().int().meta({ description: 'MONITOR_INTERVAL_MS: how often they run by themselves (0: only on demand)' }),
  results: z.array(monitorResultSchema),
});

export const monitorOperations = [
  defineOperation({
    operationId: 'listMonitorResults',
    method: 'get',
    path: '/workspaces/{workspaceId}/monitors',
    summary: "Each health monitor's latest finding for the workspace",
    tag: 'Health',
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the latest findings', schema: monitorsSchema },
    async handler({ app, workspaceId }) {
      return describeMonitors(app, workspaceId);
    },
  }),
  defineOperation({
    operationId: 'runMonitors',
    method: 'post',
    path: '/workspaces/{workspaceId}/monitors/run',
    summary: 'Run every health monitor for the workspace now (asks Meta and the CRMs), and raise or resolve alerts',
    description:
      'The same checks the work role makes every MONITOR_INTERVAL_MS. A page whose app subscription is missing is subscribed again at once. ' +
      'The alerts opened go out through the alert channels within ALERT_DISPATCH_INTERVAL_MS.',
    tag: 'Health',
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    response: {
      status: 200,
      description: 'what the monitors found',
      schema: monitorsSchema.extend({
        alerts_opened: z.number().int().meta({ description: 'alerts this run opened' }),
        alerts_resolved: z.number().int().meta({ description: 'alerts this run resolved' }),
      }),
    },
    async handler({ app, workspaceId, audit }) {
      const r = await runMonitorsNow(app, workspaceId);
      audit.details = {
        problems: r.results.filter((x) => x.status === 'problem').length,
        alerts_opened: r.alerts_opened,
        alerts_resolved: r.alerts_resolved,
      };
      return r;
    },
  }),
];
